using System;
using System.Diagnostics;
using Aced.Core;
using Aced.Models.Layers;
using Xunit.Abstractions;

namespace Aced.Models.Tests;

public class TmpProfile(ITestOutputHelper output)
{
    [Fact]
    public void Profile()
    {
        int batch = 64, t = 64, d = 128, m = 512, heads = 4;
        int n = batch * t;
        Matrix x = TestData.RandomMatrix(n, d, 1);
        Matrix y = new(n, d);
        Matrix h = TestData.RandomMatrix(n, m, 2);
        Matrix g = new(n, m);
        float[] gamma = TestData.Random(d, 3), beta = TestData.Random(d, 4), mean = new float[n], rstd = new float[n];
        Matrix qkv = TestData.RandomMatrix(n, 3 * d, 5);
        float[] probs = new float[batch * heads * t * t];
        float[] dprobs = new float[probs.Length];
        Matrix att = new(n, d);
        Matrix dqkv = new(n, 3 * d);
        void Time(string name, Action a)
        {
            a();
            double best = double.MaxValue;
            for (int i = 0; i < 15; i++) { var sw = Stopwatch.StartNew(); a(); best = Math.Min(best, sw.Elapsed.TotalMilliseconds); }
            output.WriteLine($"{name}: {best:F2} ms");
        }

        Time("ln fwd", () => RowOps.LayerNormForward(x, gamma, beta, y, mean, rstd));
        Time("ln bwd", () => RowOps.LayerNormBackward(x, gamma, mean, rstd, y, att, new float[d], new float[d]));
        Time("gelu fwd", () => RowOps.GeluForward(h, g));
        Time("gelu bwd", () => RowOps.GeluBackward(h, g, g));
        Time("bias", () => RowOps.AddBias(x, beta, y));
        Time("attn fwd", () => Attention.Forward(qkv, batch, t, heads, false, probs, att));
        Time("attn bwd", () => Attention.Backward(qkv, batch, t, heads, probs, att, dqkv, dprobs));
        Time("gemm qkv", () => Gemm.Multiply(Transpose.None, Transpose.None, 1f, x, TestData.RandomMatrix(d, 3 * d, 9), 0f, qkv));
    }
}
