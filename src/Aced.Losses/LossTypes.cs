using System;
using Aced.Core;

namespace Aced.Losses;

/// <summary>
/// Where to write the gradients of a loss with respect to the (normalised) image and text embeddings.
/// Either view may be empty (default) when that gradient is not needed. With <see cref="Accumulate"/>
/// the views receive <c>+= Weight * dL/dz</c>, otherwise they are overwritten with <c>Weight * dL/dz</c>;
/// this is how <see cref="CombinedObjective"/> sums several terms without extra buffers.
/// </summary>
public readonly struct EmbeddingGradients
{
    /// <summary>Creates a gradient destination.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="weight"/> is not finite.</exception>
    public EmbeddingGradients(MatrixView image, MatrixView text, float weight = 1f, bool accumulate = false)
    {
        Guard.Finite(weight);
        Image = image;
        Text = text;
        _weight = weight;
        _hasWeight = true;
        Accumulate = accumulate;
    }

    /// <summary>No embedding gradients (forward only; the scalar gradients are still returned).</summary>
    public static EmbeddingGradients None => default;

    /// <summary>Destination of <c>dL/dimg</c> (b x d), or an empty view.</summary>
    public MatrixView Image { get; }

    /// <summary>Destination of <c>dL/dtxt</c> (b x d), or an empty view.</summary>
    public MatrixView Text { get; }

    private readonly float _weight;
    private readonly bool _hasWeight;

    /// <summary>Factor applied to the written embedding gradients (the returned scalars are not scaled); 1 for the default value.</summary>
    public float Weight => _hasWeight ? _weight : 1f;

    /// <summary>True to add into the destinations instead of overwriting them.</summary>
    public bool Accumulate { get; }

    internal bool WantsImage => !Image.IsEmpty;

    internal bool WantsText => !Text.IsEmpty;
}

/// <summary>
/// The value of a contrastive loss and its gradients with respect to the logit parameters.
/// </summary>
public readonly struct LossResult
{
    /// <summary>Creates a result.</summary>
    public LossResult(double loss, double scaleGradient, double logScaleGradient, double biasGradient)
    {
        Loss = loss;
        ScaleGradient = scaleGradient;
        LogScaleGradient = logScaleGradient;
        BiasGradient = biasGradient;
    }

    /// <summary>The batch loss.</summary>
    public double Loss { get; }

    /// <summary><c>dL/da</c>, with <c>a</c> the scale.</summary>
    public double ScaleGradient { get; }

    /// <summary><c>dL/dt = a * dL/da</c>, with <c>t = log a</c> the learnable log-scale.</summary>
    public double LogScaleGradient { get; }

    /// <summary><c>dL/dc</c>, with <c>c</c> the bias.</summary>
    public double BiasGradient { get; }

    /// <summary>The three scalar gradients as one value, ready for <c>TwoTowerModel.Backward(imageGradient, textGradient, logitGradients)</c>.</summary>
    public LogitGradients LogitGradients => new(ScaleGradient, LogScaleGradient, BiasGradient);

    /// <inheritdoc/>
    public override string ToString() => $"loss={Loss}, dL/da={ScaleGradient}, dL/dt={LogScaleGradient}, dL/dc={BiasGradient}";
}

/// <summary>
/// The value of a logit-distillation loss (a cross-entropy against the teacher), the teacher's entropy
/// (so <c>KL = Loss - TeacherEntropy</c>), and the gradients with respect to the student's logit parameters.
/// </summary>
public readonly struct DistillationResult
{
    /// <summary>Creates a result.</summary>
    public DistillationResult(double loss, double teacherEntropy, double scaleGradient, double logScaleGradient, double biasGradient)
    {
        Loss = loss;
        TeacherEntropy = teacherEntropy;
        ScaleGradient = scaleGradient;
        LogScaleGradient = logScaleGradient;
        BiasGradient = biasGradient;
    }

    /// <summary>The distillation loss: a cross-entropy between teacher and student distributions.</summary>
    public double Loss { get; }

    /// <summary>The same average of the teacher's own entropies (the loss when student == teacher).</summary>
    public double TeacherEntropy { get; }

    /// <summary><c>Loss - TeacherEntropy</c>: the KL divergence from teacher to student (non-negative up to rounding).</summary>
    public double KlDivergence => Loss - TeacherEntropy;

    /// <summary><c>dL/da_s</c> for the student's scale.</summary>
    public double ScaleGradient { get; }

    /// <summary><c>dL/dt_s = a_s * dL/da_s</c>.</summary>
    public double LogScaleGradient { get; }

    /// <summary><c>dL/dc_s</c> for the student's bias.</summary>
    public double BiasGradient { get; }

    /// <summary>The student's three scalar gradients as one value, ready for <c>TwoTowerModel.Backward(imageGradient, textGradient, logitGradients)</c>.</summary>
    public LogitGradients LogitGradients => new(ScaleGradient, LogScaleGradient, BiasGradient);

    /// <inheritdoc/>
    public override string ToString() => $"loss={Loss}, teacherEntropy={TeacherEntropy}, dL/da={ScaleGradient}, dL/dc={BiasGradient}";
}

/// <summary>The cached or live embeddings of one teacher (or reference) model and its logit parameters.</summary>
public readonly struct TeacherEmbeddings
{
    /// <summary>Creates a teacher description.</summary>
    public TeacherEmbeddings(MatrixView image, MatrixView text, LogitParameters logits)
    {
        Image = image;
        Text = text;
        Logits = logits;
    }

    /// <summary>Teacher image embeddings (b x d_t).</summary>
    public MatrixView Image { get; }

    /// <summary>Teacher text embeddings (b x d_t).</summary>
    public MatrixView Text { get; }

    /// <summary>Teacher scale and bias.</summary>
    public LogitParameters Logits { get; }
}

/// <summary>
/// Memory policy of the b x b work of a pairwise loss. By default the whole b x b similarity matrix
/// is held once (plus one teacher matrix for distillation) when it fits in <see cref="MaxWorkspaceElements"/>;
/// otherwise the rows are processed in chunks of <c>r</c> rows so that only r x b floats are live.
/// </summary>
public sealed class LossWorkspaceOptions
{
    private long _maxWorkspaceElements = 1L << 26;
    private int _rowChunkSize;

    /// <summary>Largest number of floats the b x b buffers may use together (default 2^26 = 256 MiB).</summary>
    /// <exception cref="ArgumentOutOfRangeException">Set below 1.</exception>
    public long MaxWorkspaceElements
    {
        get => _maxWorkspaceElements;
        set
        {
            if (value < 1)
            {
                Guard.ThrowOutOfRange(nameof(MaxWorkspaceElements), value, "must be at least 1");
            }

            _maxWorkspaceElements = value;
        }
    }

    /// <summary>Rows per chunk; 0 (default) chooses from <see cref="MaxWorkspaceElements"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Set below 0.</exception>
    public int RowChunkSize
    {
        get => _rowChunkSize;
        set
        {
            Guard.NonNegative(value);
            _rowChunkSize = value;
        }
    }

    internal int ChunkRows(int b, int buffers)
    {
        if (_rowChunkSize > 0)
        {
            return Math.Min(_rowChunkSize, b);
        }

        long full = (long)buffers * b * b;
        if (full <= _maxWorkspaceElements)
        {
            return b;
        }

        long rows = _maxWorkspaceElements / ((long)buffers * b);
        return (int)Math.Clamp(rows, 1, b);
    }
}
