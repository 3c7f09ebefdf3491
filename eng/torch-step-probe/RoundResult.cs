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

/// <summary>A step's model GFLOP/s as fractions of the three SGEMMs' GFLOP/s of the same round.</summary>
internal readonly record struct StepRatios(Timing OverAced, Timing OverOpenBlas, Timing OverOwn)
{
    public string Describe() =>
        $"over Aced's SGEMM {OverAced.Wall:F3} (CPU {OverAced.Cpu:F3}), over OpenBLAS's {OverOpenBlas.Wall:F3} (CPU {OverOpenBlas.Cpu:F3})";
}

/// <summary>
/// One round: seconds per call of the three 1024^3 SGEMMs and of the two steps, turned into rates and ratios.
/// </summary>
internal sealed class RoundResult
{
    public RoundResult(Timing acedSgemm, Timing openBlasSgemm, Timing torchSgemm, Timing acedStep, Timing torchStep, double sgemmFlops, double stepFlops)
    {
        AcedPeak = Timing.Rate(sgemmFlops, acedSgemm);
        OpenBlasPeak = Timing.Rate(sgemmFlops, openBlasSgemm);
        TorchPeak = Timing.Rate(sgemmFlops, torchSgemm);
        AcedStep = acedStep;
        TorchStep = torchStep;
        Timing acedRate = Timing.Rate(stepFlops, acedStep);
        Timing torchRate = Timing.Rate(stepFlops, torchStep);
        Aced = new StepRatios(acedRate / AcedPeak, acedRate / OpenBlasPeak, acedRate / AcedPeak);
        Torch = new StepRatios(torchRate / AcedPeak, torchRate / OpenBlasPeak, torchRate / TorchPeak);
        TimeRatio = torchStep / acedStep;
    }

    public Timing AcedPeak { get; }

    public Timing OpenBlasPeak { get; }

    public Timing TorchPeak { get; }

    public Timing AcedStep { get; }

    public Timing TorchStep { get; }

    public StepRatios Aced { get; }

    public StepRatios Torch { get; }

    /// <summary>libtorch's step time over Aced's.</summary>
    public Timing TimeRatio { get; }
}
