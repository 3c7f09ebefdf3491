using System;
using System.Collections.Generic;
using System.Globalization;
using Aced.Core;
using Aced.Losses;
using Aced.Models;
using Aced.Pipeline.Data;

namespace Aced.Pipeline.Training;

/// <summary>What a run trains: a reference/teacher (IID on clean captions or the held-out split) or a student with a method.</summary>
public enum TrainingRole
{
    /// <summary>A student trained on the (noisy) student pool with <see cref="TrainOptions.Method"/>.</summary>
    Student = 0,

    /// <summary>A reference/teacher trained IID on the reference split (or on the held-out split with <see cref="TrainOptions.Holdout"/>).</summary>
    Reference = 1,
}

/// <summary>Where a student's reference/teacher embeddings come from.</summary>
public enum ReferenceMode
{
    /// <summary>Computed once for the whole pool and cached as .npy beside the reference (its cost is one-off).</summary>
    Cached = 0,

    /// <summary>Computed per step for the super-batch by the reference's forward (its cost counted per step, Appendix J).</summary>
    Live = 1,
}

/// <summary>A bad training configuration, found before any training: <see cref="Option"/> names the option to fix.</summary>
public sealed class TrainingConfigurationException : ArgumentException
{
    /// <summary>Creates the error.</summary>
    public TrainingConfigurationException(string option, string message)
        : base($"{option}: {message}")
    {
        Option = option;
    }

    /// <summary>The command-line option (e.g. "--method") the problem concerns.</summary>
    public string Option { get; }
}

/// <summary>
/// Everything a training run needs; serialised to RUN_DIR/config.json so the run can be repeated or resumed.
/// Defaults are small: a 60-step reference and a 6-step student on the shapes data take seconds on a CPU.
/// </summary>
public sealed record TrainOptions
{
    /// <summary>Default student size preset.</summary>
    public const string DefaultStudentSize = "Mu";

    /// <summary>Default reference size preset (larger than the student, as in the paper).</summary>
    public const string DefaultReferenceSize = "Ti";

    /// <summary>Data-set specification: "shapes", "emoji" or "folder:PATH".</summary>
    public string Dataset { get; init; } = "shapes";

    /// <summary>Options of the data set (image size, data seed, noise, split sizes, cache, bad-data policy).</summary>
    public DataOptions Data { get; init; } = new();

    /// <summary>Reference or student.</summary>
    public TrainingRole Role { get; init; } = TrainingRole.Student;

    /// <summary>Method name (student role): see <see cref="TrainingMethods.Names"/>.</summary>
    public string Method { get; init; } = "iid";

    /// <summary>Model size preset (Mu, Ti, S, B); null = <see cref="DefaultStudentSize"/> or <see cref="DefaultReferenceSize"/> by role.</summary>
    public string? Size { get; init; }

    /// <summary>Number of optimizer steps.</summary>
    public int Steps { get; init; } = 6;

    /// <summary>Sub-batch size b (examples trained on per step).</summary>
    public int BatchSize { get; init; } = 64;

    /// <summary>Filter ratio f (super-batch B = b / (1 - f)); null = the method's default (0.8, Bad-Students 0.5).</summary>
    public double? FilterRatio { get; init; }

    /// <summary>Chunks n of the joint sampler; null = the preset's (16, capped at b). Ignored by methods that draw uniformly.</summary>
    public int? Chunks { get; init; }

    /// <summary>Selection temperature tau; null = the preset's (10, JEST 1). Ignored by methods that draw uniformly.</summary>
    public double? Temperature { get; init; }

    /// <summary>Distillation weight lambda; null = the preset's (2 where it distils).</summary>
    public double? Lambda { get; init; }

    /// <summary>Seed of data order and sampling, and of initialisation unless <see cref="InitSeed"/> is set.</summary>
    public ulong Seed { get; init; } = 1;

    /// <summary>
    /// Seed of the model initialisation (and of the Bad-Students proxies); null = <see cref="Seed"/>. StableEval varies
    /// it with <see cref="Seed"/> fixed: same data order, different initialisation.
    /// </summary>
    public ulong? InitSeed { get; init; }

    /// <summary>
    /// Initial logit bias c of the sigmoid loss; null = the batch prior <c>-ln(b - 1)</c> (see <see cref="PriorBias"/>).
    /// SigLIP's c = -10 is the prior of a 32k batch; at b = 64 it makes every pair look negative, and the fastest way
    /// down is to pull all embeddings together (the collapsed plateau at loss b H(1/b)). Ignored by the softmax loss.
    /// </summary>
    public double? InitialBias { get; init; }

    /// <summary>The initialisation seed this run uses.</summary>
    public ulong ResolvedInitSeed => InitSeed ?? Seed;

    /// <summary>
    /// The logit bias at which a pair of unrelated (cosine 0) embeddings has the prior probability 1/b of being the
    /// positive in a sigmoid batch of <paramref name="batchSize"/>: <c>c = ln(1 / (b - 1))</c>.
    /// </summary>
    public static double PriorBias(int batchSize) => -Math.Log(Math.Max(batchSize - 1, 1));

    /// <summary>Peak learning rate (rsqrt schedule, 10% warm-up and cool-down).</summary>
    public double LearningRate { get; init; } = 2e-3;

    /// <summary>Reference/teacher run directories (the first scores the selection; all teach the distillation, Eq. 18).</summary>
    public IReadOnlyList<string> ReferenceDirs { get; init; } = [];

    /// <summary>How several references combine in the distillation loss (Eq. 18 mean of per-teacher losses by default, or the mean of teacher logits).</summary>
    public TeacherEnsemble Ensemble { get; init; } = TeacherEnsemble.MeanOfLosses;

    /// <summary>Reference embeddings: cached once (default) or computed live per step.</summary>
    public ReferenceMode ReferenceMode { get; init; } = ReferenceMode.Cached;

    /// <summary>Reference role only: train on the held-out split (RHO-loss's reference).</summary>
    public bool Holdout { get; init; }

    /// <summary>Save a checkpoint every this many steps (0 = only at the end).</summary>
    public int CheckpointEvery { get; init; } = 50;

    /// <summary>The contrastive loss of the student and of the selection scores (sigmoid by default).</summary>
    public ContrastiveKind Loss { get; init; } = ContrastiveKind.Sigmoid;

    /// <summary>Run directory.</summary>
    public string OutDir { get; init; } = "";

    /// <summary>Continue the run in <see cref="OutDir"/> from its last checkpoint.</summary>
    public bool Resume { get; init; }

    /// <summary>Tokens per caption.</summary>
    public int ContextLength { get; init; } = 24;

    /// <summary>Tokenizer vocabulary size (BPE trained on the training captions).</summary>
    public int VocabularySize { get; init; } = 1024;

    /// <summary>Shared embedding width of both towers.</summary>
    public int EmbeddingDimension { get; init; } = 128;

    /// <summary>Patch side; 0 = a quarter of the image side (a 4 x 4 grid).</summary>
    public int PatchSize { get; init; }

    /// <summary>Size preset of the two Bad-Students proxies (online model and online reference).</summary>
    public string ProxySize { get; init; } = "Mu";

    /// <summary>The size preset this run uses.</summary>
    public string ResolvedSize => Size ?? (Role == TrainingRole.Reference ? DefaultReferenceSize : DefaultStudentSize);

    /// <summary>
    /// Checks every option (without touching the file system); throws one <see cref="TrainingConfigurationException"/>
    /// naming the first problem and its fix.
    /// </summary>
    public void Validate()
    {
        IReadOnlyList<TrainingConfigurationException> problems = Problems();
        if (problems.Count > 0)
        {
            throw problems[0];
        }
    }

    /// <summary>Every problem of this configuration, one per option (empty when valid).</summary>
    public IReadOnlyList<TrainingConfigurationException> Problems()
    {
        var list = new List<TrainingConfigurationException>();
        if (string.IsNullOrWhiteSpace(Dataset))
        {
            list.Add(new("--dataset", "is empty; use shapes, emoji or folder:PATH"));
        }

        if (string.IsNullOrWhiteSpace(OutDir))
        {
            list.Add(new("--out", "is required: the run directory to write"));
        }

        if (Steps < 1)
        {
            list.Add(new("--steps", $"must be at least 1 (was {Steps})"));
        }

        if (BatchSize < 2)
        {
            list.Add(new("--batch-size", $"must be at least 2 (was {BatchSize})"));
        }

        if (FilterRatio is double f && (!double.IsFinite(f) || f < 0 || f >= 1))
        {
            list.Add(new("--filter-ratio", $"must lie in [0, 1) (was {f.ToString(CultureInfo.InvariantCulture)}); the super-batch is b / (1 - f)"));
        }

        if (Chunks is int n && n < 1)
        {
            list.Add(new("--chunks", $"must be at least 1 (was {n})"));
        }

        if (Temperature is double tau && (!double.IsFinite(tau) || tau <= 0))
        {
            list.Add(new("--temperature", $"must be finite and positive (was {tau.ToString(CultureInfo.InvariantCulture)})"));
        }

        if (Lambda is double lambda && (!double.IsFinite(lambda) || lambda <= 0))
        {
            list.Add(new("--lambda", $"must be finite and positive (was {lambda.ToString(CultureInfo.InvariantCulture)})"));
        }

        if (InitialBias is double c && (!double.IsFinite(c) || Math.Abs(c) > 100))
        {
            list.Add(new("--init-bias", $"must be finite and within [-100, 100] (was {c.ToString(CultureInfo.InvariantCulture)})"));
        }

        if (!double.IsFinite(LearningRate) || LearningRate <= 0 || LearningRate > 1)
        {
            list.Add(new("--lr", $"must lie in (0, 1] (was {LearningRate.ToString(CultureInfo.InvariantCulture)})"));
        }

        if (CheckpointEvery < 0)
        {
            list.Add(new("--checkpoint-every", $"must be 0 (only at the end) or positive (was {CheckpointEvery})"));
        }

        if (!IsSize(ResolvedSize))
        {
            list.Add(new("--size", $"unknown size '{ResolvedSize}'; use Mu, Ti, S or B"));
        }

        if (!IsSize(ProxySize))
        {
            list.Add(new("--proxy-size", $"unknown size '{ProxySize}'; use Mu, Ti, S or B"));
        }

        if (ContextLength < 4 || ContextLength > 512)
        {
            list.Add(new("--context-length", $"must lie in [4, 512] (was {ContextLength})"));
        }

        if (VocabularySize < 300 || VocabularySize > 65536)
        {
            list.Add(new("--vocab-size", $"must lie in [300, 65536] (was {VocabularySize}); byte-level BPE needs 259 ids before any merge"));
        }

        if (EmbeddingDimension < 1)
        {
            list.Add(new("--embedding-dim", $"must be positive (was {EmbeddingDimension})"));
        }

        if (PatchSize < 0)
        {
            list.Add(new("--patch-size", $"must be 0 (automatic) or positive (was {PatchSize})"));
        }

        if (Role == TrainingRole.Reference)
        {
            if (ReferenceDirs.Count > 0)
            {
                list.Add(new("--reference", "a reference is trained IID from scratch; drop --reference (or use --method for a student)"));
            }
        }
        else
        {
            if (Holdout)
            {
                list.Add(new("--holdout", "applies to --role reference only (the RHO-loss reference)"));
            }

            if (!TrainingMethods.TryGet(Method, out MethodDefinition? method))
            {
                list.Add(new("--method", $"unknown method '{Method}'; use one of {string.Join(", ", TrainingMethods.Names)}"));
            }
            else
            {
                if (method.NeedsReference && ReferenceDirs.Count == 0)
                {
                    list.Add(new("--reference", $"method {method.Name} needs a reference: train one with `aced train --role reference{(method.NeedsHoldoutReference ? " --holdout" : string.Empty)} --out REF` and pass --reference REF"));
                }

                if (ReferenceMode == ReferenceMode.Live && ReferenceDirs.Count == 0)
                {
                    list.Add(new("--reference-mode", $"live computes a reference's embeddings per step; method {method.Name} has no --reference (drop --reference-mode)"));
                }

                if (!method.NeedsReference && ReferenceDirs.Count > 0)
                {
                    list.Add(new("--reference", $"method {method.Name} uses no reference; drop --reference"));
                }

                if (Lambda is not null && !method.Distils)
                {
                    list.Add(new("--lambda", $"method {method.Name} has no distillation loss (lambda = 0 by definition)"));
                }
            }
        }

        return list;
    }

    private static bool IsSize(string size) => ModelSizes.TryParse(size, out _);
}
