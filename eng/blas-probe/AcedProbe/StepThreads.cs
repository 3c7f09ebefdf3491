using System;
using System.Diagnostics;
using Aced.Core;
using Aced.Losses;
using Aced.Models;
using Aced.Models.Training;

namespace Aced.BlasProbe;

/// <summary>
/// Same-process comparison of the training step (the benchmark's reference configuration) at 1 and at 2 threads,
/// alternating, each against the 1024^3 SGEMM at the same thread count measured in the same round: is the gap to the
/// SGEMM peak idle threads (the 2-thread step's CPU time well above the 1-thread step's) or per-thread kernel
/// efficiency (the 1-thread step itself far from the 1-thread SGEMM)? Usage: AcedProbe step-threads [batch] [rounds].
/// </summary>
internal static class StepThreads
{
    public static void Run(int batch, int rounds)
    {
        var config = new TwoTowerConfig
        {
            Image = new VisionTransformerConfig { ImageSize = 32, Channels = 3, PatchSize = 4, Width = 128, Depth = 4, Heads = 4, MlpWidth = 512, EmbeddingDimension = 128, Pooling = PoolingKind.GlobalAverage },
            Text = new TextTransformerConfig { VocabularySize = 4096, ContextLength = 32, Width = 128, Depth = 4, Heads = 4, MlpWidth = 512, EmbeddingDimension = 128, Pooling = PoolingKind.FirstToken },
        };
        var model = new TwoTowerModel(config, 1);
        var optimizer = new AdamW(model.Parameters);
        var schedule = new ConstantSchedule(1e-4f);
        var loss = new SigmoidContrastiveLoss();
        var imageGradient = new Matrix(batch, model.EmbeddingDimension);
        var textGradient = new Matrix(batch, model.EmbeddingDimension);
        var rng = new CounterRng(2, 0);
        var images = new Matrix(batch, model.ImageEncoder.InputLength);
        for (int i = 0; i < images.Data.Length; i++)
        {
            images.Data[i] = rng.NextFloat();
        }

        var tokens = new int[batch * 32];
        for (int e = 0; e < batch; e++)
        {
            int length = 4 + rng.NextInt(28);
            tokens[e * 32] = 1;
            for (int j = 1; j < length; j++)
            {
                tokens[(e * 32) + j] = 3 + rng.NextInt(4093);
            }

            tokens[(e * 32) + length] = 2;
        }

        var a = new Matrix(1024, 1024);
        var b = new Matrix(1024, 1024);
        var c = new Matrix(1024, 1024);
        a.Span.Fill(0.5f);
        b.Span.Fill(0.25f);

        void Step()
        {
            model.ZeroGradients();
            (MatrixView zi, MatrixView zt) = model.Forward(images, tokens);
            LossResult result = loss.Compute(zi, zt, LogitParameters.FromLogScale(model.LogScale.Value[0], model.Bias.Value[0]), new EmbeddingGradients(imageGradient, textGradient));
            model.Backward(imageGradient, textGradient, (float)result.LogScaleGradient, (float)result.BiasGradient);
            optimizer.Update(schedule);
            model.ClampLogScale();
        }

        void Sgemm() => Gemm.Multiply(a, b, c);

        double stepFlops = 3.0 * batch * (config.Image.ForwardFlops() + config.Text.ForwardFlops());
        const double SgemmFlops = 2.0 * 1024 * 1024 * 1024;
        int original = AcedControl.MaxDegreeOfParallelism;
        for (int warm = 0; warm < 6; warm++)
        {
            AcedControl.MaxDegreeOfParallelism = 1 + (warm % 2);
            Step();
            Sgemm();
        }

        Console.WriteLine($"step-threads: batch {batch}, {stepFlops / 1e9:F2} GFLOP/step; {DateTime.UtcNow:HH:mm:ss} UTC, load {Load()}; {AcedControl.Describe()}");
        for (int round = 0; round < rounds; round++)
        {
            foreach (int threads in new[] { 1, 2 })
            {
                AcedControl.MaxDegreeOfParallelism = threads;
                (double sgemmWall, _) = Time(Sgemm, 5);
                (double wall, double cpu) = Time(Step, 3);
                double peak = SgemmFlops / sgemmWall;
                Console.WriteLine(
                    $"round {round} threads {threads}: step {wall * 1e3,6:F0} ms wall, {cpu * 1e3,6:F0} ms CPU ({cpu / wall:F2} threads busy) | " +
                    $"SGEMM {peak / 1e9,6:F1} GFLOP/s | step {stepFlops / wall / 1e9,5:F1} GFLOP/s = {stepFlops / wall / peak:F3} of it");
            }
        }

        AcedControl.MaxDegreeOfParallelism = original;
        Console.WriteLine($"end {DateTime.UtcNow:HH:mm:ss} UTC, load {Load()}");
    }

    /// <summary>Mean wall and process CPU seconds per call over <paramref name="calls"/> calls.</summary>
    private static (double Wall, double Cpu) Time(Action call, int calls)
    {
        using Process process = Process.GetCurrentProcess();
        TimeSpan cpu0 = process.TotalProcessorTime;
        long start = Stopwatch.GetTimestamp();
        for (int i = 0; i < calls; i++)
        {
            call();
        }

        double wall = Stopwatch.GetElapsedTime(start).TotalSeconds / calls;
        process.Refresh();
        return (wall, (process.TotalProcessorTime - cpu0).TotalSeconds / calls);
    }

    private static string Load()
    {
        try
        {
            return System.IO.File.ReadAllText("/proc/loadavg").Split(' ')[0];
        }
        catch (System.IO.IOException)
        {
            return "?";
        }
    }
}
