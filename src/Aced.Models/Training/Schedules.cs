using System;
using Aced.Core;

namespace Aced.Models.Training;

/// <summary>A learning-rate schedule: <c>lr(step) = PeakLearningRate * Multiplier(step)</c>, step 0-based.</summary>
public interface ILearningRateSchedule
{
    /// <summary>Peak (base) learning rate.</summary>
    float PeakLearningRate { get; }

    /// <summary>Multiplier in [0, 1] at 0-based <paramref name="step"/>.</summary>
    float Multiplier(long step);
}

/// <summary>Constant learning rate (multiplier 1 at every step).</summary>
public sealed class ConstantSchedule : ILearningRateSchedule
{
    /// <summary>Creates the schedule.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Non-positive or non-finite learning rate.</exception>
    public ConstantSchedule(float peakLearningRate)
    {
        PeakLearningRate = ScheduleGuard.Rate(peakLearningRate);
    }

    /// <inheritdoc/>
    public float PeakLearningRate { get; }

    /// <inheritdoc/>
    public float Multiplier(long step) => 1f;
}

/// <summary>
/// Reciprocal-square-root schedule with linear warm-up and linear cool-down (big_vision "rsqrt", Zhai et al. 2022;
/// the paper's default): with W warm-up steps, C cool-down steps out of N total and timescale <c>tau</c> (default W),
/// <c>m(s) = min(1, (s+1)/W) * r(s) * min(1, (N-s)/C)</c> where <c>r(s) = 1/sqrt(1 + (s-W)/tau)</c> for <c>s &gt;= W</c>
/// and 1 before. Warm-up and cool-down default to 10% of N each.
/// </summary>
public sealed class RsqrtSchedule : ILearningRateSchedule
{
    /// <summary>Creates the schedule.</summary>
    /// <param name="peakLearningRate">Peak learning rate (paper: 1e-3).</param>
    /// <param name="totalSteps">Total number of steps N.</param>
    /// <param name="warmupFraction">Warm-up share of N (0.1).</param>
    /// <param name="cooldownFraction">Cool-down share of N (0.1).</param>
    /// <param name="timescale">Decay timescale in steps; 0 means the warm-up length (at least 1).</param>
    /// <exception cref="ArgumentOutOfRangeException">Invalid rate, step count or fractions (each in [0, 1], sum at most 1).</exception>
    public RsqrtSchedule(float peakLearningRate, long totalSteps, double warmupFraction = 0.1, double cooldownFraction = 0.1, long timescale = 0)
    {
        PeakLearningRate = ScheduleGuard.Rate(peakLearningRate);
        (TotalSteps, WarmupSteps, CooldownSteps) = ScheduleGuard.Steps(totalSteps, warmupFraction, cooldownFraction);
        Timescale = timescale > 0 ? timescale : Math.Max(1, WarmupSteps);
    }

    /// <inheritdoc/>
    public float PeakLearningRate { get; }

    /// <summary>Total steps N.</summary>
    public long TotalSteps { get; }

    /// <summary>Warm-up steps W.</summary>
    public long WarmupSteps { get; }

    /// <summary>Cool-down steps C.</summary>
    public long CooldownSteps { get; }

    /// <summary>Decay timescale tau.</summary>
    public long Timescale { get; }

    /// <inheritdoc/>
    public float Multiplier(long step)
    {
        double m = step >= WarmupSteps ? 1.0 / Math.Sqrt(1.0 + ((double)(step - WarmupSteps) / Timescale)) : 1.0;
        return (float)(m * ScheduleGuard.Ramps(step, TotalSteps, WarmupSteps, CooldownSteps));
    }
}

/// <summary>
/// Cosine decay with linear warm-up: <c>m(s) = (s+1)/W</c> for <c>s &lt; W</c>, then
/// <c>0.5 (1 + cos(pi (s-W)/(N-W)))</c>, reaching 0 at step N.
/// </summary>
public sealed class CosineSchedule : ILearningRateSchedule
{
    /// <summary>Creates the schedule.</summary>
    /// <param name="peakLearningRate">Peak learning rate.</param>
    /// <param name="totalSteps">Total number of steps N.</param>
    /// <param name="warmupFraction">Warm-up share of N (0.1).</param>
    /// <exception cref="ArgumentOutOfRangeException">Invalid rate, step count or fraction.</exception>
    public CosineSchedule(float peakLearningRate, long totalSteps, double warmupFraction = 0.1)
    {
        PeakLearningRate = ScheduleGuard.Rate(peakLearningRate);
        (TotalSteps, WarmupSteps, _) = ScheduleGuard.Steps(totalSteps, warmupFraction, 0);
    }

    /// <inheritdoc/>
    public float PeakLearningRate { get; }

    /// <summary>Total steps N.</summary>
    public long TotalSteps { get; }

    /// <summary>Warm-up steps W.</summary>
    public long WarmupSteps { get; }

    /// <inheritdoc/>
    public float Multiplier(long step)
    {
        if (step < WarmupSteps)
        {
            return (float)((step + 1.0) / WarmupSteps);
        }

        double progress = Math.Clamp((double)(step - WarmupSteps) / Math.Max(1, TotalSteps - WarmupSteps), 0.0, 1.0);
        return (float)(0.5 * (1.0 + Math.Cos(Math.PI * progress)));
    }
}

internal static class ScheduleGuard
{
    public static float Rate(float rate)
    {
        if (!(rate > 0f) || !float.IsFinite(rate))
        {
            Guard.ThrowOutOfRange("peakLearningRate", rate, "must be positive and finite");
        }

        return rate;
    }

    public static (long Total, long Warmup, long Cooldown) Steps(long total, double warmup, double cooldown)
    {
        if (total <= 0)
        {
            Guard.ThrowOutOfRange("totalSteps", total, "must be greater than zero");
        }

        if (!(warmup >= 0 && warmup <= 1) || !(cooldown >= 0 && cooldown <= 1) || warmup + cooldown > 1)
        {
            Guard.ThrowOutOfRange("warmupFraction", $"{warmup} + {cooldown}", "and cooldownFraction must each lie in [0, 1] and sum to at most 1");
        }

        return (total, (long)Math.Round(warmup * total), (long)Math.Round(cooldown * total));
    }

    /// <summary>Linear warm-up (s+1)/W before W, linear cool-down (N-s)/C in the last C steps, clamped to [0, 1].</summary>
    public static double Ramps(long step, long total, long warmup, long cooldown)
    {
        double w = warmup > 0 ? Math.Min(1.0, (step + 1.0) / warmup) : 1.0;
        double c = cooldown > 0 ? Math.Clamp((double)(total - step) / cooldown, 0.0, 1.0) : 1.0;
        return w * c;
    }
}
