using System;
using System.Collections.Generic;
using System.Diagnostics;
using Aced.Core;
using Aced.Losses;
using Aced.Models;
using Aced.Models.Layers;
using Aced.Models.Training;

namespace Aced.Benchmarks.Models;

/// <summary>
/// The non-GEMM share of one training step, component by component: each of the step's element-wise and attention
/// passes is timed standalone (best of three) at exactly the step's shapes and call counts, with the internal
/// kernels the towers call (<c>RowOps</c>, <c>Attention</c>), plus the optimizer, the loss and the gradient reset on
/// the real model. The products themselves are timed by <see cref="TrainingStepBenchmarks"/>' GEMM profile; what
/// neither accounts for (embeddings, patchify, pooling, copies, the loss's own GEMM share double counted) is printed as
/// the remainder.
/// </summary>
internal static class TrainingStepComponents
{
    private const int Repeats = 3;

    /// <summary>Times every component; returns (name, seconds per step) rows, largest first.</summary>
    public static List<(string Name, double Seconds)> Measure(TwoTowerModel model, TwoTowerConfig config, int batch, Func<float> lossOnly)
    {
        var rows = new List<(string Name, double Seconds)>();
        AddTower(rows, "image", batch, config.Image.Tokens, config.Image.Width, config.Image.MlpWidth, config.Image.Heads, config.Image.Depth, causal: false);
        AddTower(rows, "text", batch, config.Text.ContextLength, config.Text.Width, config.Text.MlpWidth, config.Text.Heads, config.Text.Depth, config.Text.Causal);

        var optimizer = new AdamW(model.Parameters);
        var schedule = new ConstantSchedule(1e-9f);
        rows.Add(("AdamW (clip + update)", Best(() => optimizer.Update(schedule))));
        rows.Add(("ZeroGradients", Best(model.ZeroGradients)));
        rows.Add(("loss (sigmoid, incl. its 3 GEMMs)", Best(() => lossOnly())));
        rows.Sort((x, y) => y.Seconds.CompareTo(x.Seconds));
        return rows;
    }

    private static void AddTower(List<(string Name, double Seconds)> rows, string tower, int batch, int tokens, int d, int mlp, int heads, int depth, bool causal)
    {
        int n = batch * tokens;
        var rng = new CounterRng(11, 0);
        Matrix x = Random(n, d, rng);
        Matrix y = new(n, d);
        Matrix dy = Random(n, d, rng);
        Matrix dx = new(n, d);
        float[] gamma = Filled(d, 1f);
        float[] beta = new float[d];
        float[] mean = new float[n];
        float[] rstd = new float[n];
        float[] dgamma = new float[d];
        float[] dbeta = new float[d];
        RowOps.LayerNormForward(x, gamma, beta, y, mean, rstd);
        int norms = (2 * depth) + 1;

        // Only the first block's LN1 is a separate pass; the other 2 depth norms run inside the residual epilogues
        // (TransformerEncoder.FusedNormEnabled), so they are part of the NN+epilogue rows of the GEMM profile.
        int separateNorms = TransformerEncoder.FusedNormEnabled ? 1 : norms;
        rows.Add(($"{tower} LayerNorm forward, separate passes ({separateNorms} x {n}x{d})", separateNorms * Best(() => RowOps.LayerNormForward(x, gamma, beta, y, mean, rstd))));
        rows.Add(($"{tower} LayerNorm backward ({norms} x {n}x{d})", norms * Best(() => RowOps.LayerNormBackward(x, gamma, mean, rstd, dy, dx, dgamma, dbeta))));

        Matrix hidden = Random(n, mlp, rng);
        Matrix dHidden = Random(n, mlp, rng);
        float[] sums = new float[mlp];
        rows.Add(($"{tower} GELU backward + fc1 bias sums ({depth} x {n}x{mlp})", depth * Best(() => RowOps.GeluBackward(hidden, dHidden, dHidden, sums))));

        Matrix qkv = Random(n, 3 * d, rng);
        float[] qkvSums = new float[3 * d];
        float[] dSums = new float[d];
        rows.Add(($"{tower} bias sums out, fc2 ({2 * depth} x {n}x{d}), qkv ({depth} x {n}x{3 * d})", (2 * depth * Best(() => RowOps.AddColumnSums(dy, dSums))) + (depth * Best(() => RowOps.AddColumnSums(qkv, qkvSums)))));

        float[] probs = new float[batch * heads * tokens * tokens];
        float[] dProbs = new float[probs.Length];
        Matrix dQkv = new(n, 3 * d);
        // The step's qkv layout; with the forward in the projection's epilogue the forward's time is in the qkv
        // NN+epilogue row of the GEMM profile (so it is shown here as 0, not counted twice).
        bool headMajor = Attention.HeadMajorQkv;
        if (headMajor && Attention.ForwardInProjection)
        {
            rows.Add(($"{tower} attention forward: inside the qkv NN+epilogue row ({depth} x {batch}x{heads} heads, T={tokens})", 0));
        }
        else
        {
            rows.Add(($"{tower} attention forward incl. products ({depth} x {batch}x{heads} heads, T={tokens})", depth * Best(() => Attention.Forward(qkv, headMajor, batch, tokens, heads, causal, probs, y))));
        }

        rows.Add(($"{tower} attention backward incl. products ({depth} x)", depth * Best(() => Attention.Backward(qkv, headMajor, batch, tokens, heads, probs, dy, dQkv, dProbs))));
    }

    /// <summary>Best of <see cref="Repeats"/> timed calls after one untimed call.</summary>
    private static double Best(Action action)
    {
        action();
        double best = double.MaxValue;
        for (int r = 0; r < Repeats; r++)
        {
            long t0 = Stopwatch.GetTimestamp();
            action();
            best = Math.Min(best, Stopwatch.GetElapsedTime(t0).TotalSeconds);
        }

        return best;
    }

    private static Matrix Random(int rows, int columns, CounterRng rng)
    {
        var m = new Matrix(rows, columns);
        for (int i = 0; i < m.Data.Length; i++)
        {
            m.Data[i] = rng.NextFloat() - 0.5f;
        }

        return m;
    }

    private static float[] Filled(int length, float value)
    {
        float[] a = new float[length];
        Array.Fill(a, value);
        return a;
    }
}
