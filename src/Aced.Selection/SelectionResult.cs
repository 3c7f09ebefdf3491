using System;

namespace Aced.Selection;

/// <summary>
/// The outcome of one <see cref="ActiveBatchSampler.Sample(SuperBatch)"/>: chosen indices in selection order,
/// the score each had when it was drawn, and diagnostics. Owned by the sampler and overwritten by its next
/// call (no allocation per step); copy with <see cref="ToArray"/> to keep it.
/// </summary>
public sealed class SelectionResult
{
    internal int[] IndexBuffer = Array.Empty<int>();
    internal float[] ScoreBuffer = Array.Empty<float>();
    internal int CountValue;

    /// <summary>Indices into the super-batch, in the order they were selected (chunk by chunk; within a chunk by Gumbel key).</summary>
    public ReadOnlySpan<int> Indices => IndexBuffer.AsSpan(0, CountValue);

    /// <summary>
    /// The score of each chosen example at the moment it was drawn (unnormalised, before the temperature):
    /// the independent score in the first chunk, the conditional score given the earlier chunks afterwards.
    /// </summary>
    public ReadOnlySpan<float> Scores => ScoreBuffer.AsSpan(0, CountValue);

    /// <summary>Number of chosen examples b.</summary>
    public int Count => CountValue;

    /// <summary>Diagnostics of this selection.</summary>
    public SelectionDiagnostics Diagnostics { get; } = new();

    /// <summary>A copy of <see cref="Indices"/>.</summary>
    public int[] ToArray() => Indices.ToArray();
}

/// <summary>
/// Diagnostics of one selection. Chosen/rejected statistics compare the <em>independent</em> scores (the
/// same quantity for every example, unlike the conditional scores at draw time).
/// </summary>
public sealed class SelectionDiagnostics
{
    /// <summary>Step number used to derive the random stream.</summary>
    public long Step { get; internal set; }

    /// <summary>Super-batch size B.</summary>
    public int SuperBatchSize { get; internal set; }

    /// <summary>Sub-batch size b.</summary>
    public int BatchSize { get; internal set; }

    /// <summary>Achieved filtering ratio <c>1 - b/B</c>.</summary>
    public double FilterRatio { get; internal set; }

    /// <summary>Chunks used (1 for the non-joint samplers).</summary>
    public int Chunks { get; internal set; }

    /// <summary>Mean independent score of the chosen examples.</summary>
    public double ChosenMean { get; internal set; }

    /// <summary>Standard deviation of the chosen examples' independent scores.</summary>
    public double ChosenStandardDeviation { get; internal set; }

    /// <summary>Mean independent score of the rejected examples (NaN when none is rejected).</summary>
    public double RejectedMean { get; internal set; }

    /// <summary>Standard deviation of the rejected examples' independent scores (NaN when none is rejected).</summary>
    public double RejectedStandardDeviation { get; internal set; }

    /// <summary>Minimum independent score over the super-batch.</summary>
    public double ScoreMin { get; internal set; }

    /// <summary>Maximum independent score over the super-batch.</summary>
    public double ScoreMax { get; internal set; }

    /// <summary>
    /// Effective sample size <c>1 / sum_x w_x^2</c> of the independent selection distribution
    /// <c>w_x = exp(tau * s_x) / Z</c> over the super-batch: B for uniform weights, 1 when one example dominates.
    /// (B for the uniform sampler; <c>w_x ∝ CDF(s_x)^beta</c> for <see cref="SamplerKind.LossPercentile"/>.)
    /// </summary>
    public double EffectiveSampleSize { get; internal set; }

    /// <summary>Wall-clock seconds spent in the selection (scoring and drawing).</summary>
    public double Seconds { get; internal set; }
}
