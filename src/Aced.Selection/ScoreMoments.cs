using System;

namespace Aced.Selection;

/// <summary>
/// The sums behind <see cref="SelectionDiagnostics"/>: moments of the independent scores of the chosen and the
/// rejected candidates, their range, and the importance weights of the effective sample size. One
/// implementation for the single-process and the sharded sampler (which reduces the sums over ranks).
/// </summary>
internal struct ScoreMoments
{
    public double SumChosen;
    public double SumChosenSquares;
    public double SumRejected;
    public double SumRejectedSquares;
    public double Min;
    public double Max;
    public double SumWeights;
    public double SumWeightSquares;

    /// <summary>Moments and range of <paramref name="scores"/> split by <paramref name="isMember"/> (weights not yet summed).</summary>
    public static ScoreMoments Of(ReadOnlySpan<double> scores, ReadOnlySpan<bool> isMember)
    {
        var m = new ScoreMoments { Min = double.PositiveInfinity, Max = double.NegativeInfinity };
        for (int x = 0; x < scores.Length; x++)
        {
            double v = scores[x];
            m.Min = Math.Min(m.Min, v);
            m.Max = Math.Max(m.Max, v);
            if (isMember[x])
            {
                m.SumChosen += v;
                m.SumChosenSquares += v * v;
            }
            else
            {
                m.SumRejected += v;
                m.SumRejectedSquares += v * v;
            }
        }

        return m;
    }

    /// <summary>
    /// Adds the weights of the effective sample size <c>(sum w)^2 / sum w^2</c>: <c>w = exp(tau * (s - Max))</c>,
    /// or with <paramref name="percentile"/> the loss-percentile weights <c>exp(logits)</c>. Call after <see cref="Max"/> is final.
    /// </summary>
    public void AddWeights(ReadOnlySpan<double> scores, ReadOnlySpan<float> logits, bool percentile, double tau)
    {
        for (int x = 0; x < scores.Length; x++)
        {
            double w = percentile ? Math.Exp(logits[x]) : Math.Exp(tau * (scores[x] - Max));
            SumWeights += w;
            SumWeightSquares += w * w;
        }
    }

    /// <summary>Writes the step header (sizes, ratio, chunks) of the diagnostics.</summary>
    public static void FillHeader(SelectionDiagnostics d, long step, int total, int b, int chunks)
    {
        d.Step = step;
        d.SuperBatchSize = total;
        d.BatchSize = b;
        d.FilterRatio = 1 - ((double)b / total);
        d.Chunks = chunks;
    }

    /// <summary>Diagnostics of a selection that computed no scores (uniform draws): NaN moments, ESS = B.</summary>
    public static void FillUnscored(SelectionDiagnostics d, int total)
    {
        d.ChosenMean = d.ChosenStandardDeviation = d.RejectedMean = d.RejectedStandardDeviation = d.ScoreMin = d.ScoreMax = double.NaN;
        d.EffectiveSampleSize = total;
    }

    /// <summary>Writes means, standard deviations, range and effective sample size for b chosen of <paramref name="total"/>.</summary>
    public readonly void Fill(SelectionDiagnostics d, int total, int b)
    {
        int rejected = total - b;
        d.ChosenMean = SumChosen / b;
        d.ChosenStandardDeviation = Math.Sqrt(Math.Max(0, (SumChosenSquares / b) - (d.ChosenMean * d.ChosenMean)));
        d.RejectedMean = rejected == 0 ? double.NaN : SumRejected / rejected;
        d.RejectedStandardDeviation = rejected == 0 ? double.NaN : Math.Sqrt(Math.Max(0, (SumRejectedSquares / rejected) - (d.RejectedMean * d.RejectedMean)));
        d.ScoreMin = Min;
        d.ScoreMax = Max;
        d.EffectiveSampleSize = SumWeights * SumWeights / SumWeightSquares;
    }
}
