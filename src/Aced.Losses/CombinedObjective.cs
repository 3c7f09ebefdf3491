using System;
using Aced.Core;
using Aced.Losses.Internal;

namespace Aced.Losses;

/// <summary>Weights of the terms of Eq. 17.</summary>
public sealed class CombinedObjectiveOptions
{
    private float _softmaxDistillationWeight;
    private float _sigmoidDistillationWeight;
    private float _featureMatchingWeight;

    private ContrastiveKind? _contrastive = ContrastiveKind.Sigmoid;
    private TeacherEnsemble _ensemble;

    /// <summary>The contrastive term <c>L_con</c> (default <see cref="ContrastiveKind.Sigmoid"/>); null for none (distillation only).</summary>
    /// <exception cref="ArgumentOutOfRangeException">Not null and not a defined <see cref="ContrastiveKind"/>.</exception>
    public ContrastiveKind? Contrastive
    {
        get => _contrastive;
        set
        {
            if (value is ContrastiveKind kind && !Enum.IsDefined(kind))
            {
                Guard.ThrowOutOfRange(nameof(Contrastive), kind, "is not a defined ContrastiveKind (Sigmoid, Softmax, or null for no contrastive term)");
            }

            _contrastive = value;
        }
    }

    /// <summary>
    /// How the logit-based distillation terms combine several teachers (default <see cref="TeacherEnsemble.MeanOfLosses"/>,
    /// Eq. 18; <see cref="TeacherEnsemble.MeanOfLogits"/> distils from the averaged teacher logits). Feature matching
    /// always averages its per-teacher values.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Set to an undefined value.</exception>
    public TeacherEnsemble Ensemble { get => _ensemble; set => _ensemble = TeacherLogits.Checked(value); }

    /// <summary><c>lambda_smax</c> (default 0).</summary>
    /// <exception cref="ArgumentOutOfRangeException">Negative or not finite.</exception>
    public float SoftmaxDistillationWeight { get => _softmaxDistillationWeight; set => _softmaxDistillationWeight = Checked(value); }

    /// <summary><c>lambda_sig</c> (default 0).</summary>
    /// <exception cref="ArgumentOutOfRangeException">Negative or not finite.</exception>
    public float SigmoidDistillationWeight { get => _sigmoidDistillationWeight; set => _sigmoidDistillationWeight = Checked(value); }

    /// <summary><c>lambda_fm</c> (default 0).</summary>
    /// <exception cref="ArgumentOutOfRangeException">Negative or not finite.</exception>
    public float FeatureMatchingWeight { get => _featureMatchingWeight; set => _featureMatchingWeight = Checked(value); }

    private static float Checked(float value, [System.Runtime.CompilerServices.CallerMemberName] string? name = null)
    {
        if (!(value >= 0f) || !float.IsFinite(value))
        {
            Guard.ThrowOutOfRange(name, value, "must be a finite weight >= 0");
        }

        return value;
    }
}

/// <summary>The value of each term of a <see cref="CombinedObjective"/> and the total's scalar gradients.</summary>
public readonly struct CombinedResult
{
    /// <summary>Creates a result.</summary>
    public CombinedResult(double total, double contrastive, double softmaxDistillation, double sigmoidDistillation, double featureMatching, double scaleGradient, double logScaleGradient, double biasGradient)
    {
        Total = total;
        Contrastive = contrastive;
        SoftmaxDistillation = softmaxDistillation;
        SigmoidDistillation = sigmoidDistillation;
        FeatureMatching = featureMatching;
        ScaleGradient = scaleGradient;
        LogScaleGradient = logScaleGradient;
        BiasGradient = biasGradient;
    }

    /// <summary><c>L_con + lambda_smax L_smax + lambda_sig L_sig + lambda_fm L_fm</c>.</summary>
    public double Total { get; }

    /// <summary>The (unweighted) contrastive term.</summary>
    public double Contrastive { get; }

    /// <summary>The (unweighted) softmax-KD term (0 when its weight is 0).</summary>
    public double SoftmaxDistillation { get; }

    /// <summary>The (unweighted) sigmoid-KD term (0 when its weight is 0).</summary>
    public double SigmoidDistillation { get; }

    /// <summary>The (unweighted) feature-matching term (0 when its weight is 0).</summary>
    public double FeatureMatching { get; }

    /// <summary><c>dTotal/da</c> for the student's scale.</summary>
    public double ScaleGradient { get; }

    /// <summary><c>dTotal/dt = a dTotal/da</c>.</summary>
    public double LogScaleGradient { get; }

    /// <summary><c>dTotal/dc</c> for the student's bias.</summary>
    public double BiasGradient { get; }

    /// <summary>The three scalar gradients of the total as one value, ready for <c>TwoTowerModel.Backward(imageGradient, textGradient, logitGradients)</c>.</summary>
    public LogitGradients LogitGradients => new(ScaleGradient, LogScaleGradient, BiasGradient);
}

/// <summary>
/// The student objective of Eq. 17 with teacher ensembles (Eq. 18):
/// <code>
/// L = L_con + lambda_smax L_smax-dist + lambda_sig L_sig-dist + lambda_fm L_fm-dist
/// </code>
/// The student's single <c>(a, c)</c> enters every logit-based term (the softmax terms ignore <c>c</c>).
/// With K teachers, each distillation term is the average of its K per-teacher values (or, with
/// <see cref="CombinedObjectiveOptions.Ensemble"/> = <see cref="TeacherEnsemble.MeanOfLogits"/>, the logit-based terms
/// distil from the averaged teacher logits). Terms with weight 0 are
/// skipped. Embedding gradients of all terms are summed into the caller's views without extra b x d buffers.
/// Reusable across batches of any size; not thread-safe (one instance per thread).
/// </summary>
public sealed class CombinedObjective
{
    private readonly SigmoidContrastiveLoss _sigmoid;
    private readonly SoftmaxContrastiveLoss _softmax;
    private readonly SoftmaxDistillationLoss _softmaxKd;
    private readonly SigmoidDistillationLoss _sigmoidKd;
    private readonly FeatureMatchingLoss _featureMatching = new();

    /// <summary>Creates the objective.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="options"/> is null.</exception>
    public CombinedObjective(CombinedObjectiveOptions options, LossWorkspaceOptions? workspace = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        Options = options;
        _sigmoid = new SigmoidContrastiveLoss(workspace);
        _softmax = new SoftmaxContrastiveLoss(workspace);
        _softmaxKd = new SoftmaxDistillationLoss(workspace);
        _sigmoidKd = new SigmoidDistillationLoss(workspace);
    }

    /// <summary>The term weights (read at every call).</summary>
    public CombinedObjectiveOptions Options { get; }

    /// <summary>Computes every weighted term and the summed gradients.</summary>
    /// <param name="image">Student image embeddings, b x d_s.</param>
    /// <param name="text">Student text embeddings, b x d_s.</param>
    /// <param name="logits">Student scale and bias.</param>
    /// <param name="teachers">Teachers for the distillation terms (may be empty when every distillation weight is 0).</param>
    /// <param name="projection">Feature-matching head d_s x d_t, or empty for the identity.</param>
    /// <param name="gradients">Where to write (or add, with Accumulate) <c>Weight * dL/dz</c>.</param>
    /// <param name="projectionGradient">Receives <c>gradients.Weight * dL/dP</c> (added when <c>gradients.Accumulate</c>), or empty.</param>
    /// <exception cref="ArgumentException">As the individual terms; also when a distillation weight is positive but <paramref name="teachers"/> is empty.</exception>
    public CombinedResult Compute(MatrixView image, MatrixView text, LogitParameters logits, ReadOnlySpan<TeacherEmbeddings> teachers, MatrixView projection = default, EmbeddingGradients gradients = default, MatrixView projectionGradient = default)
    {
        bool first = !gradients.Accumulate;
        double total = 0, con = 0, smax = 0, sig = 0, fm = 0, da = 0, dc = 0;
        if (Options.Contrastive is ContrastiveKind kind)
        {
            LossResult r = kind == ContrastiveKind.Sigmoid
                ? _sigmoid.Compute(image, text, logits, Part(gradients, 1f, first))
                : _softmax.Compute(image, text, logits, Part(gradients, 1f, first));
            first = false;
            con = r.Loss;
            total += con;
            da += r.ScaleGradient;
            dc += r.BiasGradient;
        }

        if (Options.SoftmaxDistillationWeight > 0f)
        {
            float w = Options.SoftmaxDistillationWeight;
            _softmaxKd.Ensemble = Options.Ensemble;
            DistillationResult r = _softmaxKd.Compute(image, text, logits, teachers, Part(gradients, w, first));
            first = false;
            smax = r.Loss;
            total += w * smax;
            da += w * r.ScaleGradient;
            dc += w * r.BiasGradient;
        }

        if (Options.SigmoidDistillationWeight > 0f)
        {
            float w = Options.SigmoidDistillationWeight;
            _sigmoidKd.Ensemble = Options.Ensemble;
            DistillationResult r = _sigmoidKd.Compute(image, text, logits, teachers, Part(gradients, w, first));
            first = false;
            sig = r.Loss;
            total += w * sig;
            da += w * r.ScaleGradient;
            dc += w * r.BiasGradient;
        }

        if (Options.FeatureMatchingWeight > 0f)
        {
            if (teachers.IsEmpty)
            {
                Guard.ThrowArgument(nameof(teachers), "is empty but FeatureMatchingWeight > 0; pass the teacher embeddings");
            }

            float w = Options.FeatureMatchingWeight / teachers.Length;
            bool firstProjection = !gradients.Accumulate;
            for (int k = 0; k < teachers.Length; k++)
            {
                double value = _featureMatching.Compute(image, text, teachers[k].Image, teachers[k].Text, projection, Part(gradients, w, first), projectionGradient, default, !firstProjection);
                first = false;
                firstProjection = false;
                fm += value / teachers.Length;
            }

            total += Options.FeatureMatchingWeight * fm;
        }

        if (first)
        {
            // No term was active: the objective is identically 0, and so are its gradients.
            Clear(gradients.Image);
            Clear(gradients.Text);
        }

        if (Options.FeatureMatchingWeight == 0f && !projectionGradient.IsEmpty && !gradients.Accumulate)
        {
            Clear(projectionGradient);
        }

        return new CombinedResult(total, con, smax, sig, fm, da, logits.Scale * da, dc);
    }

    private static void Clear(MatrixView view)
    {
        for (int i = 0; i < view.Rows; i++)
        {
            view.Row(i).Clear();
        }
    }

    private static EmbeddingGradients Part(EmbeddingGradients gradients, float weight, bool first) =>
        new(gradients.Image, gradients.Text, gradients.Weight * weight, !first);
}
