using System;
using Aced.Core;

namespace Aced.Selection;

/// <summary>The training methods of the ACED paper's Table 1 and the batch-selection baselines of its Table 6.</summary>
public enum TrainingMethod
{
    /// <summary>IID baseline: contrastive loss on a uniform batch, lambda = 0 (Table 1 and 6).</summary>
    IidBaseline = 0,

    /// <summary>Softmax-KD: one uniform batch for both the contrastive and the distillation loss, lambda &gt; 0 (Table 1 and 6).</summary>
    SoftmaxKd = 1,

    /// <summary>I-ACID: easy-reference joint selection, contrastive loss only (Table 1).</summary>
    IAcid = 2,

    /// <summary>H-ACID: learnability joint selection, contrastive loss only (Table 1; the "ACID" row of Table 6).</summary>
    HAcid = 3,

    /// <summary>ACED-IIDistill: contrastive loss on an H-ACID batch, distillation on a separate uniform batch (effective 2b).</summary>
    AcedIIDistill = 4,

    /// <summary>ACED-ACIDistill: contrastive and distillation loss on the same H-ACID batch (the paper's ACED).</summary>
    AcedAcidDistill = 5,

    /// <summary>
    /// Bad-Students (Table 6; Evans et al. 2024, ActiveCLIP): learnability from small proxies (an online student proxy
    /// and a small reference) with the pair-similarity proxy score, drawn without replacement from
    /// <c>softmax(s)</c> (temperature 1) at a 50% filtering ratio (the super-batch is 2b).
    /// </summary>
    BadStudents = 6,

    /// <summary>
    /// Selective-Backprop (Table 6; Jiang et al. 2019): the student's own loss, no reference, selected
    /// probabilistically by loss percentile to the power beta (<see cref="SamplerKind.LossPercentile"/>, beta = 3);
    /// <see cref="SamplerKind.TopK"/> through <see cref="MethodPreset.WithSelection"/> gives the deterministic variant.
    /// </summary>
    SelectiveBackprop = 7,

    /// <summary>
    /// RHO-loss (Table 6; Mindermann et al. 2022): top-b of the reducible holdout loss, learnability against a
    /// reference model trained on held-out data (not on the training pool); see <see cref="MethodPreset.NeedsHoldoutReference"/>.
    /// </summary>
    RhoLoss = 8,

    /// <summary>JEST (Table 6): learnability joint selection at temperature 1 (JEST's Algorithm 1).</summary>
    Jest = 9,
}

/// <summary>Where a loss's batch comes from in one training step.</summary>
public enum BatchSource
{
    /// <summary>The loss is not computed (lambda = 0 for the distillation batch).</summary>
    None = 0,

    /// <summary>A uniform draw of b examples from the super-batch.</summary>
    Uniform = 1,

    /// <summary>An active selection with the preset's <see cref="MethodPreset.Selection"/> options.</summary>
    Selected = 2,

    /// <summary>The very batch used by the contrastive loss (B_KD = B_CE).</summary>
    SameAsContrastive = 3,
}

/// <summary>
/// One row of Table 1 or Table 6 as a recipe for the unified objective
/// <c>L_full = L_con[B_CE] + lambda * L_dist[B_KD]</c>: which batch each term uses, how it is drawn, lambda,
/// and what the training loop must compute (student embeddings of the whole super-batch, reference
/// embeddings, teacher logits). Use <see cref="CreateSelector"/> to get the per-step draws.
/// </summary>
public sealed class MethodPreset
{
    /// <summary>Default distillation weight for the presets with lambda &gt; 0 (the paper's default softmax-KD weight 2.0; it sweeps 0.5, 1, 2).</summary>
    public const double DefaultLambda = 2.0;

    private MethodPreset(TrainingMethod method, string name, double lambda, BatchSource contrastive, BatchSource distillation, ActiveBatchSamplerOptions? selection, bool usesOnlineProxy)
    {
        Method = method;
        Name = name;
        Lambda = lambda;
        ContrastiveBatch = contrastive;
        DistillationBatch = distillation;
        SelectionTemplate = selection;
        UsesOnlineProxy = usesOnlineProxy;
    }

    /// <summary>The method.</summary>
    public TrainingMethod Method { get; }

    /// <summary>The name used in the paper's tables.</summary>
    public string Name { get; }

    /// <summary>Weight lambda of the distillation loss (0 when there is none).</summary>
    public double Lambda { get; }

    /// <summary>How the contrastive batch B_CE is drawn.</summary>
    public BatchSource ContrastiveBatch { get; }

    /// <summary>How the distillation batch B_KD is drawn (<see cref="BatchSource.None"/> when lambda = 0).</summary>
    public BatchSource DistillationBatch { get; }

    /// <summary>Options of the active selection (a copy), or null when nothing is selected actively.</summary>
    public ActiveBatchSamplerOptions? Selection => SelectionTemplate?.Clone();

    /// <summary>
    /// True when the student-side scores come from a small proxy model trained online beside the student
    /// (Bad-Students), rather than from the student itself.
    /// </summary>
    public bool UsesOnlineProxy { get; }

    /// <summary>True when the selection needs reference embeddings of the whole super-batch.</summary>
    public bool NeedsReferenceEmbeddings => SelectionTemplate is not null && ConditionalScorer.Weights(SelectionTemplate.Scoring).Reference != 0;

    /// <summary>True when the selection needs student (or proxy) embeddings of the whole super-batch.</summary>
    public bool NeedsStudentEmbeddings => SelectionTemplate is not null && ConditionalScorer.Weights(SelectionTemplate.Scoring).Student != 0;

    /// <summary>
    /// True for RHO-loss: its reducible holdout loss needs a reference trained on held-out data (a split disjoint from
    /// the training pool), not the general pretrained reference of ACID; the reference pipeline trains one.
    /// </summary>
    public bool NeedsHoldoutReference => Method == TrainingMethod.RhoLoss;

    /// <summary>True when teacher logits must be computed for the distillation batch.</summary>
    public bool NeedsTeacher => DistillationBatch != BatchSource.None;

    private ActiveBatchSamplerOptions? SelectionTemplate { get; }

    /// <summary>Examples per step that pass through the student's forward and backward: b, or 2b for ACED-IIDistill.</summary>
    public int EffectiveBatchSize(int batchSize)
    {
        Guard.Positive(batchSize);
        return DistillationBatch == BatchSource.Uniform || DistillationBatch == BatchSource.Selected ? 2 * batchSize : batchSize;
    }

    /// <summary>
    /// The super-batch size B to draw for a sub-batch of <paramref name="batchSize"/>: <c>round(b / (1 - f))</c> with
    /// the preset's filtering ratio f (0.8 by default, so B = 5b; 0.5 for Bad-Students, so B = 2b). Presets that select
    /// nothing use the default 0.8 so that every method sees the same data per step.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="batchSize"/> is below 1.</exception>
    public int SuperBatchSize(int batchSize)
    {
        Guard.Positive(batchSize);
        double f = SelectionTemplate?.FilterRatio ?? ActiveBatchSamplerOptions.DefaultFilterRatio;
        return (int)Math.Round(batchSize / (1 - f));
    }

    /// <summary>The preset of <paramref name="method"/> with the paper's defaults (tau = 10, n = 16, f = 0.8, lambda = 2 where used).</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="method"/> is not defined.</exception>
    public static MethodPreset For(TrainingMethod method)
    {
        var hAcid = new ActiveBatchSamplerOptions { Scoring = ScoringMethod.Learnability, Loss = ContrastiveKind.Sigmoid, Sampler = SamplerKind.Joint };
        return method switch
        {
            TrainingMethod.IidBaseline => new(method, "IID-Baseline", 0, BatchSource.Uniform, BatchSource.None, null, false),
            TrainingMethod.SoftmaxKd => new(method, "Softmax-KD", DefaultLambda, BatchSource.Uniform, BatchSource.SameAsContrastive, null, false),
            TrainingMethod.IAcid => new(method, "I-ACID", 0, BatchSource.Selected, BatchSource.None, new ActiveBatchSamplerOptions { Scoring = ScoringMethod.EasyReference, Sampler = SamplerKind.Joint }, false),
            TrainingMethod.HAcid => new(method, "H-ACID", 0, BatchSource.Selected, BatchSource.None, hAcid, false),
            TrainingMethod.AcedIIDistill => new(method, "ACED-IIDistill", DefaultLambda, BatchSource.Selected, BatchSource.Uniform, hAcid, false),
            TrainingMethod.AcedAcidDistill => new(method, "ACED-ACIDistill", DefaultLambda, BatchSource.Selected, BatchSource.SameAsContrastive, hAcid, false),
            TrainingMethod.BadStudents => new(method, "Bad-Students", 0, BatchSource.Selected, BatchSource.None, new ActiveBatchSamplerOptions { Scoring = ScoringMethod.Learnability, PairSimilarityProxy = true, Sampler = SamplerKind.Independent, Temperature = 1, FilterRatio = 0.5 }, true),
            TrainingMethod.SelectiveBackprop => new(method, "Selective-Backprop", 0, BatchSource.Selected, BatchSource.None, new ActiveBatchSamplerOptions { Scoring = ScoringMethod.Hard, Sampler = SamplerKind.LossPercentile }, false),
            TrainingMethod.RhoLoss => new(method, "RHO-loss", 0, BatchSource.Selected, BatchSource.None, new ActiveBatchSamplerOptions { Scoring = ScoringMethod.Learnability, Sampler = SamplerKind.TopK }, false),
            TrainingMethod.Jest => new(method, "JEST", 0, BatchSource.Selected, BatchSource.None, new ActiveBatchSamplerOptions { Scoring = ScoringMethod.Learnability, Sampler = SamplerKind.Joint, Temperature = 1 }, false),
            _ => throw new ArgumentOutOfRangeException(nameof(method), method, "is not a defined TrainingMethod"),
        };
    }

    /// <summary>This preset with another distillation weight (only for presets that distil).</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="lambda"/> is not finite and positive, or the preset does not distil.</exception>
    public MethodPreset WithLambda(double lambda)
    {
        if (!double.IsFinite(lambda) || lambda <= 0)
        {
            Guard.ThrowOutOfRange(nameof(lambda), lambda, "must be finite and positive (the paper sweeps 0.5, 1, 2)");
        }

        if (DistillationBatch == BatchSource.None)
        {
            Guard.ThrowOutOfRange(nameof(lambda), lambda, $"cannot be set for {Name}, which has no distillation loss (lambda = 0 by definition)");
        }

        return new(Method, Name, lambda, ContrastiveBatch, DistillationBatch, SelectionTemplate, UsesOnlineProxy);
    }

    /// <summary>This preset with the active selection's options changed by <paramref name="configure"/> (for example the temperature or the loss).</summary>
    /// <exception cref="InvalidOperationException">The preset selects nothing actively.</exception>
    public MethodPreset WithSelection(Action<ActiveBatchSamplerOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        if (SelectionTemplate is null)
        {
            throw new InvalidOperationException($"{Name} draws its batches uniformly; there is no selection to configure.");
        }

        ActiveBatchSamplerOptions options = SelectionTemplate.Clone();
        configure(options);
        options.Validate();
        return new(Method, Name, Lambda, ContrastiveBatch, DistillationBatch, options, UsesOnlineProxy);
    }

    /// <summary>Creates the per-step selector for sub-batch size <paramref name="batchSize"/> and <paramref name="seed"/>.</summary>
    public MethodSelector CreateSelector(int batchSize, ulong seed = 0) => new(this, batchSize, seed);

    /// <inheritdoc/>
    public override string ToString() => $"{Name} (lambda={Lambda}, B_CE={ContrastiveBatch}, B_KD={DistillationBatch})";
}

/// <summary>
/// Draws the batches of one preset step by step: <see cref="Next"/> returns the indices (into the super-batch)
/// of the contrastive batch and, when the preset distils, of the distillation batch. Reusable and
/// allocation-free in steady state; results are overwritten by the next call. Not thread-safe.
/// </summary>
public sealed class MethodSelector
{
    private readonly ActiveBatchSampler _contrastive;
    private readonly ActiveBatchSampler? _distillation;

    internal MethodSelector(MethodPreset preset, int batchSize, ulong seed)
    {
        Guard.Positive(batchSize);
        Preset = preset;
        ActiveBatchSamplerOptions contrastive = preset.Selection ?? new ActiveBatchSamplerOptions { Sampler = SamplerKind.Uniform };
        contrastive.BatchSize = batchSize;
        contrastive.Seed = seed;
        contrastive.Chunks = Math.Min(contrastive.Chunks, batchSize);
        _contrastive = new ActiveBatchSampler(contrastive);
        if (preset.DistillationBatch == BatchSource.Uniform)
        {
            // An independent stream: seed + 0x9E3779B97F4A7C15 keeps it apart from the contrastive draws.
            _distillation = new ActiveBatchSampler(new ActiveBatchSamplerOptions { Sampler = SamplerKind.Uniform, BatchSize = batchSize, Seed = unchecked(seed + 0x9E3779B97F4A7C15UL) });
        }
    }

    /// <summary>The preset.</summary>
    public MethodPreset Preset { get; }

    /// <summary>Draws the step's batches from <paramref name="superBatch"/>.</summary>
    public MethodStep Next(SuperBatch superBatch)
    {
        SelectionResult contrastive = _contrastive.Sample(superBatch);
        SelectionResult? distillation = null;
        if (_distillation is not null)
        {
            distillation = _distillation.Sample(superBatch);
        }
        else if (Preset.DistillationBatch == BatchSource.SameAsContrastive)
        {
            distillation = contrastive;
        }

        return new MethodStep(contrastive, distillation, Preset.Lambda);
    }
}

/// <summary>The batches of one training step: what to compute the contrastive and the distillation loss on.</summary>
public readonly struct MethodStep
{
    internal MethodStep(SelectionResult contrastive, SelectionResult? distillation, double lambda)
    {
        Contrastive = contrastive;
        Distillation = distillation;
        Lambda = lambda;
    }

    /// <summary>The contrastive batch B_CE.</summary>
    public SelectionResult Contrastive { get; }

    /// <summary>The distillation batch B_KD, or null when lambda = 0.</summary>
    public SelectionResult? Distillation { get; }

    /// <summary>The distillation weight lambda.</summary>
    public double Lambda { get; }

    /// <summary>True when the distillation loss must be computed this step.</summary>
    public bool ComputeDistillation => Distillation is not null && Lambda > 0;
}
