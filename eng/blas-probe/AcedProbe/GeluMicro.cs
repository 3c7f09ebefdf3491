using System;
using System.Diagnostics;
using Aced.Models.Layers;

namespace Aced.BlasProbe;

/// <summary>Scratch: ns per 8-float vector of the GELU forms on L1-resident rows.</summary>
internal static class GeluMicro
{
    public static void Run(int rounds)
    {
        var rng = new Random(1);
        int n = 128;
        int rows = 6;
        float[] p = Interleaved.Fill(rows * n, rng);
        float[] b = Interleaved.Fill(n, rng);
        float[] y = new float[rows * n];
        float[] g = new float[rows * n];
        float[] x2 = Interleaved.Fill(2 * 512, rng);
        float[] dg = Interleaved.Fill(2 * 512, rng);
        float[] dx = new float[2 * 512];
        int reps = 5000;
        for (int r = 0; r < 2; r++)
        {
            float sink = 0;
            double tc = Time(() => sink += Chain()) / 40_000_000;
            Console.WriteLine($"dependent FMA: {tc * 1e9:F3} ns (4 cycles) -> {4 / tc / 1e9:F2} GHz {sink}");
        }

        for (int r = 0; r < rounds; r++)
        {
            double v1 = Time(() => { for (int i = 0; i < reps; i++) { GeluVariants.Full(x2.AsSpan(0, 512), dx.AsSpan(0, 512)); GeluVariants.Full(x2.AsSpan(512), dx.AsSpan(512)); } }) / (reps * 128.0);
            double v2 = Time(() => { for (int i = 0; i < reps; i++) { GeluVariants.NoDiv(x2.AsSpan(0, 512), dx.AsSpan(0, 512)); GeluVariants.NoDiv(x2.AsSpan(512), dx.AsSpan(512)); } }) / (reps * 128.0);
            double v3 = Time(() => { for (int i = 0; i < reps; i++) { GeluVariants.ExpOnly(x2.AsSpan(0, 512), dx.AsSpan(0, 512)); GeluVariants.ExpOnly(x2.AsSpan(512), dx.AsSpan(512)); } }) / (reps * 128.0);
            double v4 = Time(() => { for (int i = 0; i < reps; i++) { GeluVariants.DivOnly(x2.AsSpan(0, 512), dx.AsSpan(0, 512)); GeluVariants.DivOnly(x2.AsSpan(512), dx.AsSpan(512)); } }) / (reps * 128.0);
            double v5 = Time(() => { for (int i = 0; i < reps; i++) { GeluVariants.PolyOnly(x2.AsSpan(0, 512), dx.AsSpan(0, 512)); GeluVariants.PolyOnly(x2.AsSpan(512), dx.AsSpan(512)); } }) / (reps * 128.0);
            Console.WriteLine($"variants ns/vector: full {v1 * 1e9:F2} nodiv {v2 * 1e9:F2} exp {v3 * 1e9:F2} div {v4 * 1e9:F2} poly {v5 * 1e9:F2}");
        }

        for (int r = 0; r < rounds; r++)
        {
            double t1 = Time(() =>
            {
                for (int i = 0; i < reps; i++)
                {
                    for (int row = 0; row < rows; row++)
                    {
                        RowMath.BiasRow(p.AsSpan(row * n, n), b, default, y.AsSpan(row * n, n), g.AsSpan(row * n, n));
                    }
                }
            }) / (reps * rows * n / 8.0);
            RowMath.PipelinedGelu = false;
            double t1off = Time(() =>
            {
                for (int i = 0; i < reps; i++)
                {
                    for (int row = 0; row < rows; row++)
                    {
                        RowMath.BiasRow(p.AsSpan(row * n, n), b, default, y.AsSpan(row * n, n), g.AsSpan(row * n, n));
                    }
                }
            }) / (reps * rows * n / 8.0);
            float[] gOff = (float[])g.Clone();
            RowMath.PipelinedGelu = true;
            for (int row = 0; row < rows; row++)
            {
                RowMath.BiasRow(p.AsSpan(row * n, n), b, default, y.AsSpan(row * n, n), g.AsSpan(row * n, n));
            }

            Console.Write($"same {g.AsSpan().SequenceEqual(gOff)} fwd off {t1off * 1e9:F2} ");
            double t2 = Time(() =>
            {
                for (int i = 0; i < reps; i++)
                {
                    for (int row = 0; row < rows; row++)
                    {
                        RowMath.BiasRow(p.AsSpan(row * n, n), b, default, y.AsSpan(row * n, n), default);
                    }
                }
            }) / (reps * rows * n / 8.0);
            double t3 = Time(() =>
            {
                for (int i = 0; i < reps; i++)
                {
                    RowMath.GeluBackward(x2.AsSpan(0, 512), dg.AsSpan(0, 512), dx.AsSpan(0, 512));
                    RowMath.GeluBackward(x2.AsSpan(512, 512), dg.AsSpan(512, 512), dx.AsSpan(512, 512));
                }
            }) / (reps * 1024 / 8.0);
            RowMath.PipelinedGelu = false;
            double t3off = Time(() =>
            {
                for (int i = 0; i < reps; i++)
                {
                    RowMath.GeluBackward(x2.AsSpan(0, 512), dg.AsSpan(0, 512), dx.AsSpan(0, 512));
                    RowMath.GeluBackward(x2.AsSpan(512, 512), dg.AsSpan(512, 512), dx.AsSpan(512, 512));
                }
            }) / (reps * 1024 / 8.0);
            float[] dxOff = (float[])dx.Clone();
            RowMath.PipelinedGelu = true;
            RowMath.GeluBackward(x2.AsSpan(0, 512), dg.AsSpan(0, 512), dx.AsSpan(0, 512));
            RowMath.GeluBackward(x2.AsSpan(512, 512), dg.AsSpan(512, 512), dx.AsSpan(512, 512));
            Console.Write($"bwd same {dx.AsSpan().SequenceEqual(dxOff)} bwd off {t3off * 1e9:F2} ");
            double t4 = Time(() =>
            {
                for (int i = 0; i < reps; i++)
                {
                    RowMath.Gelu(x2.AsSpan(0, 512), dx.AsSpan(0, 512));
                    RowMath.Gelu(x2.AsSpan(512, 512), dx.AsSpan(512, 512));
                }
            }) / (reps * 1024 / 8.0);
            Console.WriteLine($"ns/vector: bias+gelu {t1 * 1e9:F2}  bias {t2 * 1e9:F2}  gelu-bwd {t3 * 1e9:F2}  gelu {t4 * 1e9:F2}");
        }
    }

    private static float Chain()
    {
        var acc = System.Runtime.Intrinsics.Vector256.Create(1.0001f);
        var mul = System.Runtime.Intrinsics.Vector256.Create(0.9999f);
        for (int i = 0; i < 10_000_000; i++)
        {
            acc = System.Runtime.Intrinsics.Vector256.FusedMultiplyAdd(acc, mul, mul);
            acc = System.Runtime.Intrinsics.Vector256.FusedMultiplyAdd(acc, mul, mul);
            acc = System.Runtime.Intrinsics.Vector256.FusedMultiplyAdd(acc, mul, mul);
            acc = System.Runtime.Intrinsics.Vector256.FusedMultiplyAdd(acc, mul, mul);
        }

        return acc[0];
    }

    private static double Time(Action a)
    {
        double best = double.MaxValue;
        for (int k = 0; k < 3; k++)
        {
            double t0 = DwAb.CpuSeconds(1);
            a();
            best = Math.Min(best, DwAb.CpuSeconds(1) - t0);
        }

        return best;
    }
}
