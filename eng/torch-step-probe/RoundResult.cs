namespace Aced.TorchStepProbe;

/// <summary>
/// A wall-time and a process-CPU-time figure. CPU time is the robust one on a shared machine (a neighbour taking a
/// core stretches the wall time, not the CPU time) but counts spin-waiting pool threads as work.
/// </summary>
internal readonly record struct Timing(double Wall, double Cpu)
{
    public static Timing operator +(Timing x, Timing y) => new(x.Wall + y.Wall, x.Cpu + y.Cpu);

    public static Timing operator /(Timing x, Timing y) => new(x.Wall / y.Wall, x.Cpu / y.Cpu);

    public static Timing operator /(Timing x, double divisor) => new(x.Wall / divisor, x.Cpu / divisor);

    /// <summary>Rates (<paramref name="flops"/> per second) of seconds per call.</summary>
    public static Timing Rate(double flops, Timing seconds) => new(flops / seconds.Wall, flops / seconds.Cpu);
}

/// <summary>One round: seconds per call of the 1024^3 SGEMMs and of the steps, as rates and ratios.</summary>
internal sealed class RoundResult(Timing[] sgemms, Timing[] steps, double sgemmFlops, double stepFlops)
{
    /// <summary>Seconds per step of each contender.</summary>
    public Timing[] Steps { get; } = steps;

    /// <summary>GFLOP/s of SGEMM <paramref name="y"/>.</summary>
    public Timing Peak(int y) => Timing.Rate(sgemmFlops, sgemms[y]);

    /// <summary>Step <paramref name="s"/>'s model GFLOP/s over SGEMM <paramref name="y"/>'s GFLOP/s.</summary>
    public Timing OverSgemm(int s, int y) => Timing.Rate(stepFlops, Steps[s]) / Peak(y);
}
