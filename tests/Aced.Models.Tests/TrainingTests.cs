using System;
using Aced.Core;
using Aced.Models.Text;
using Aced.Models.Training;
using FsCheck;
using FsCheck.Fluent;

namespace Aced.Models.Tests;

internal static class TestTrainer
{
    /// <summary>One step: zero grads, forward, test sigmoid loss, backward, AdamW, clamp t. Returns the loss before the update.</summary>
    public static double Step(TwoTowerModel model, AdamW optimizer, ILearningRateSchedule schedule, MatrixView images, int[] tokens)
    {
        model.ZeroGradients();
        (MatrixView zi, MatrixView zt) = model.Forward(images, tokens);
        var dzi = new Matrix(zi.Rows, zi.Columns);
        var dzt = new Matrix(zt.Rows, zt.Columns);
        double loss = TestSigmoidLoss.Compute(zi, zt, model.LogScale.Value[0], model.Bias.Value[0], dzi, dzt, out double dt, out double dc);
        model.Backward(dzi, dzt, (float)dt, (float)dc);
        optimizer.Update(schedule);
        model.ClampLogScale();
        return loss;
    }

    /// <summary>
    /// Trains a fresh model of <paramref name="config"/> for <paramref name="steps"/> steps on <paramref name="count"/>
    /// pairs with the GEMM thread count set to <paramref name="threads"/>, and returns a copy of every parameter.
    /// </summary>
    public static float[][] TrainedParameters(TwoTowerConfig config, ulong modelSeed, int count, ulong pairSeed, ILearningRateSchedule schedule, int steps, int threads)
    {
        int saved = GemmControl.MaxDegreeOfParallelism;
        GemmControl.MaxDegreeOfParallelism = threads;
        try
        {
            var model = new TwoTowerModel(config, modelSeed);
            (Matrix images, int[] tokens) = Pairs(model, count, pairSeed);
            var optimizer = new AdamW(model.Parameters);
            for (int s = 0; s < steps; s++)
            {
                Step(model, optimizer, schedule, images, tokens);
            }

            var values = new float[model.Parameters.Count][];
            for (int i = 0; i < values.Length; i++)
            {
                values[i] = (float[])model.Parameters[i].Value.Clone();
            }

            return values;
        }
        finally
        {
            GemmControl.MaxDegreeOfParallelism = saved;
        }
    }

    /// <summary>
    /// Asserts that 2 training steps of <paramref name="config"/> (6 pairs) give the same parameters with a path switched
    /// off at 2 threads and switched on at 1, 2 and 3 threads; <paramref name="set"/> switches the path (it is left on).
    /// </summary>
    public static void AssertSwitchIsBitIdenticalForAnyThreadCount(TwoTowerConfig config, Action<bool> set) =>
        AssertSwitchIsBitIdenticalForAnyThreadCount(config, set, 6);

    /// <summary>
    /// <see cref="AssertSwitchIsBitIdenticalForAnyThreadCount(TwoTowerConfig, Action{bool})"/> on <paramref name="count"/>
    /// pairs (enough pairs make the dense layers' backward run concurrently, see <see cref="Layers.Linear.ConcurrentBackwardFlops"/>).
    /// </summary>
    public static void AssertSwitchIsBitIdenticalForAnyThreadCount(TwoTowerConfig config, Action<bool> set, int count)
    {
        float[][] Train(bool on, int threads)
        {
            try
            {
                set(on);
                return TrainedParameters(config, 61, count, 62, new ConstantSchedule(1e-3f), 2, threads);
            }
            finally
            {
                set(true);
            }
        }

        float[][] off = Train(false, 2);
        foreach (int threads in new[] { 1, 2, 3 })
        {
            float[][] on = Train(true, threads);
            for (int i = 0; i < off.Length; i++)
            {
                Assert.Equal(off[i], on[i]);
            }
        }
    }

    public static (Matrix Images, int[] Tokens) Pairs(TwoTowerModel model, int count, ulong seed)
    {
        Matrix images = TestData.RandomMatrix(count, model.ImageEncoder.InputLength, seed);
        WordTokenizer tokenizer = WordTokenizer.Train(TestData.Captions, model.TextEncoder.VocabularySize);
        string[] captions = new string[count];
        for (int i = 0; i < count; i++)
        {
            captions[i] = TestData.Captions[i % TestData.Captions.Length];
        }

        return (images, tokenizer.EncodeBatch(captions, model.TextEncoder.ContextLength));
    }
}

[Collection(GemmProviderCollection.Name)]
public class TrainingTests
{
    [Fact]
    public void TinyModel_OverfitsEightPairs_LossBelowPointZeroFive()
    {
        var model = new TwoTowerModel(TestData.TinyConfig(context: 8), 21);
        (Matrix images, int[] tokens) = TestTrainer.Pairs(model, 8, 22);
        var optimizer = new AdamW(model.Parameters);
        var schedule = new ConstantSchedule(1e-2f);
        double first = TestTrainer.Step(model, optimizer, schedule, images, tokens);
        double last = first;
        for (int step = 1; step < 300; step++)
        {
            last = TestTrainer.Step(model, optimizer, schedule, images, tokens);
        }

        Assert.True(first > 1.0, $"initial loss {first}");
        Assert.True(last < 0.05, $"loss after 300 steps is {last} (started at {first}); the model failed to overfit 8 pairs");
    }

    [Fact]
    public void Training_IsBitIdenticalForAnyThreadCount()
    {
        var config = TestData.TinyConfig(imagePooling: PoolingKind.MultiheadAttention) with
        {
            Image = TestData.TinyConfig().Image with { ImageSize = 16, Pooling = PoolingKind.MultiheadAttention },
        };
        float[][] Run(int threads) => TestTrainer.TrainedParameters(config, 31, 40, 32, new RsqrtSchedule(1e-3f, 10), 3, threads);

        float[][] one = Run(1);
        float[][] two = Run(2);
        float[][] three = Run(3);
        for (int i = 0; i < one.Length; i++)
        {
            Assert.Equal(one[i], two[i]);
            Assert.Equal(one[i], three[i]);
        }
    }

    [Fact]
    public void Training_FusedAttentionAndFusedNorms_AreBitIdenticalToSeparatePasses()
    {
        // Depth 2 so that a block's fc2 epilogue normalises the next block's input and the last one the final norm.
        var config = new TwoTowerConfig
        {
            Image = new VisionTransformerConfig { ImageSize = 16, Channels = 3, PatchSize = 4, Width = 64, Depth = 2, Heads = 2, MlpWidth = 128, EmbeddingDimension = 32, Pooling = PoolingKind.GlobalAverage },
            Text = new TextTransformerConfig { VocabularySize = 64, ContextLength = 12, Width = 64, Depth = 2, Heads = 2, MlpWidth = 128, EmbeddingDimension = 32, Pooling = PoolingKind.FirstToken, Causal = true },
        };
        float[][] Run(bool fused)
        {
            bool savedAttention = Layers.Attention.FusedEnabled;
            bool savedNorm = Layers.TransformerEncoder.FusedNormEnabled;
            try
            {
                Layers.Attention.FusedEnabled = fused;
                Layers.TransformerEncoder.FusedNormEnabled = fused;
                return TestTrainer.TrainedParameters(config, 51, 10, 52, new ConstantSchedule(1e-3f), 3, 2);
            }
            finally
            {
                Layers.Attention.FusedEnabled = savedAttention;
                Layers.TransformerEncoder.FusedNormEnabled = savedNorm;
            }
        }

        float[][] separate = Run(false);
        float[][] fused = Run(true);
        for (int i = 0; i < separate.Length; i++)
        {
            Assert.Equal(separate[i], fused[i]);
        }
    }

    [Fact]
    public void Training_ReferenceWidths_IsBitIdenticalForAnyThreadCount()
    {
        // Reference widths (128, MLP 512, T = 64 / 32, causal text) at batch 12: the backward products are above
        // Linear.ConcurrentBackwardFlops (concurrent dW / dx items) and the attention runs in several example groups.
        var config = new TwoTowerConfig
        {
            Image = new VisionTransformerConfig { ImageSize = 32, Channels = 3, PatchSize = 4, Width = 128, Depth = 1, Heads = 4, MlpWidth = 512, EmbeddingDimension = 64, Pooling = PoolingKind.GlobalAverage },
            Text = new TextTransformerConfig { VocabularySize = 64, ContextLength = 32, Width = 128, Depth = 1, Heads = 4, MlpWidth = 512, EmbeddingDimension = 64, Pooling = PoolingKind.FirstToken, Causal = true },
        };
        Assert.True(2.0 * 12 * 64 * 128 * 512 >= Layers.Linear.ConcurrentBackwardFlops);

        float[][] Run(int threads) => TestTrainer.TrainedParameters(config, 41, 12, 42, new ConstantSchedule(1e-3f), 2, threads);

        float[][] one = Run(1);
        float[][] two = Run(2);
        float[][] three = Run(3);
        for (int i = 0; i < one.Length; i++)
        {
            Assert.Equal(one[i], two[i]);
            Assert.Equal(one[i], three[i]);
        }
    }

    [Fact]
    public void AdamW_MatchesDoubleReference_WithDecayOnlyOnWeights()
    {
        var w = new Parameter("w", [3], ParameterKind.Weight);
        var b = new Parameter("b", [2], ParameterKind.Bias);
        float[] w0 = [0.5f, -1f, 2f];
        float[] b0 = [0.25f, -0.75f];
        w0.CopyTo(w.Value, 0);
        b0.CopyTo(b.Value, 0);
        var options = new AdamWOptions { WeightDecay = 0.1f, MaxGradientNorm = 0f };
        var optimizer = new AdamW([w, b], options);
        var schedule = new CosineSchedule(0.01f, 5, 0.2);
        double[] pw = [0.5, -1, 2];
        double[] pb = [0.25, -0.75];
        double[] mw = new double[3], vw = new double[3], mb = new double[2], vb = new double[2];
        for (int k = 1; k <= 4; k++)
        {
            for (int i = 0; i < 3; i++)
            {
                w.Gradient[i] = (float)(pw[i] * k) + 0.1f;
            }

            for (int i = 0; i < 2; i++)
            {
                b.Gradient[i] = (float)(pb[i] - k);
            }

            double s = schedule.Multiplier(k - 1);
            double lr = 0.01 * s;
            Reference(pw, w.Gradient, mw, vw, k, lr, 0.1 * s);
            Reference(pb, b.Gradient, mb, vb, k, lr, 0);
            float used = optimizer.Update(schedule);
            Assert.Equal(lr, used, 6);
            for (int i = 0; i < 3; i++)
            {
                TestData.Close(pw[i], w.Value[i], 1e-5, 1e-6, $"w[{i}] step {k}");
            }

            for (int i = 0; i < 2; i++)
            {
                TestData.Close(pb[i], b.Value[i], 1e-5, 1e-6, $"b[{i}] step {k}");
            }
        }

        Assert.Equal(4, optimizer.Step);

        static void Reference(double[] p, float[] g, double[] m, double[] v, int k, double lr, double wd)
        {
            for (int i = 0; i < p.Length; i++)
            {
                m[i] = (0.9 * m[i]) + (0.1 * g[i]);
                v[i] = (0.95 * v[i]) + (0.05 * g[i] * g[i]);
                double mh = m[i] / (1 - Math.Pow(0.9, k));
                double vh = v[i] / (1 - Math.Pow(0.95, k));
                p[i] -= (lr * mh / (Math.Sqrt(vh) + 1e-8)) + (wd * p[i]);
            }
        }
    }

    [Fact]
    public void ClipGlobalNorm_ScalesToMaxNorm_AndLeavesSmallGradients()
    {
        var a = new Parameter("a", [2], ParameterKind.Weight);
        var b = new Parameter("b", [1], ParameterKind.Bias);
        a.Gradient[0] = 3;
        a.Gradient[1] = 0;
        b.Gradient[0] = 4;
        double norm = GradientClipping.ClipGlobalNorm([a, b], 1f);
        Assert.Equal(5, norm, 10);
        Assert.Equal(0.6f, a.Gradient[0], 6);
        Assert.Equal(0.8f, b.Gradient[0], 6);
        norm = GradientClipping.ClipGlobalNorm([a, b], 1f);
        Assert.Equal(1, norm, 5);
        Assert.Equal(0.6f, a.Gradient[0], 6);
    }

    [Fact]
    public void AdamW_NaNGradient_ThrowsAndInvalidOptionsAreRejected()
    {
        var w = new Parameter("w", [2], ParameterKind.Weight);
        w.Gradient[1] = float.NaN;
        var optimizer = new AdamW([w]);
        Assert.Throws<InvalidOperationException>(() => optimizer.Update(new ConstantSchedule(1e-3f)));
        Assert.Throws<ArgumentOutOfRangeException>(() => new AdamW([w], new AdamWOptions { Beta2 = 1f }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new ConstantSchedule(0f));
        Assert.Throws<ArgumentOutOfRangeException>(() => new RsqrtSchedule(1e-3f, 10, 0.6, 0.6));
    }

    [Fact]
    public void RsqrtSchedule_WarmsUpDecaysAndCoolsDownToZero()
    {
        var s = new RsqrtSchedule(1e-3f, 100);
        Assert.Equal(10, s.WarmupSteps);
        Assert.Equal(10, s.CooldownSteps);
        Assert.Equal(0.1f, s.Multiplier(0), 6);
        Assert.Equal(1f, s.Multiplier(9), 6);
        Assert.Equal(1f, s.Multiplier(10), 6);
        Assert.Equal((float)(1 / Math.Sqrt(1 + (40 / 10.0))), s.Multiplier(50), 6);
        Assert.Equal((float)(0.1 / Math.Sqrt(1 + (89 / 10.0))), s.Multiplier(99), 6);
        Assert.Equal(0f, s.Multiplier(100));
        var c = new CosineSchedule(1f, 20, 0.1);
        Assert.Equal(0.5f, c.Multiplier(0), 6);
        Assert.Equal(1f, c.Multiplier(2), 6);
        Assert.Equal(0.5f, c.Multiplier(11), 6);
        Assert.Equal(0f, c.Multiplier(20), 6);
        Assert.Equal(1f, new ConstantSchedule(2f).Multiplier(12345));
    }

    [Fact]
    public void Schedules_MultiplierInUnitInterval_AndNonIncreasingAfterWarmup()
    {
        Prop.ForAll(Gen.Choose(1, 500).ToArbitrary(), total =>
        {
            ILearningRateSchedule[] schedules = [new RsqrtSchedule(1f, total), new CosineSchedule(1f, total)];
            foreach (ILearningRateSchedule sched in schedules)
            {
                long warm = sched is RsqrtSchedule r ? r.WarmupSteps : ((CosineSchedule)sched).WarmupSteps;
                float previous = float.PositiveInfinity;
                for (long step = 0; step <= total; step++)
                {
                    float m = sched.Multiplier(step);
                    if (!(m >= 0f && m <= 1f))
                    {
                        return false;
                    }

                    if (step >= warm)
                    {
                        if (m > previous + 1e-7f)
                        {
                            return false;
                        }

                        previous = m;
                    }
                }
            }

            return true;
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(60));
    }
}
