using System;
using Aced.Core;
using FsCheck;
using FsCheck.Fluent;

namespace Aced.Models.Tests;

public class PropertyTests
{
    [Fact]
    public void Forward_PermutingTheBatch_PermutesTheEmbeddings_AndRowsHaveUnitNorm()
    {
        var model = new TwoTowerModel(TestData.TinyConfig(imagePooling: PoolingKind.MultiheadAttention, textPooling: PoolingKind.LastToken), 41);
        (Matrix images, int[] tokens) = TestTrainer.Pairs(model, 6, 42);
        int e = model.EmbeddingDimension;
        int context = model.TextEncoder.ContextLength;
        (MatrixView zi0, MatrixView zt0) = model.Forward(images, tokens);
        Matrix baseImage = zi0.ToMatrix();
        Matrix baseText = zt0.ToMatrix();
        Prop.ForAll(Gen.Choose(0, int.MaxValue).ToArbitrary(), seed =>
        {
            var rng = new CounterRng((ulong)seed, 3);
            int[] perm = [0, 1, 2, 3, 4, 5];
            for (int i = perm.Length - 1; i > 0; i--)
            {
                int j = rng.NextInt(i + 1);
                (perm[i], perm[j]) = (perm[j], perm[i]);
            }

            var pi = new Matrix(6, images.Columns);
            int[] pt = new int[tokens.Length];
            for (int i = 0; i < 6; i++)
            {
                images.Row(perm[i]).CopyTo(pi.Row(i));
                tokens.AsSpan(perm[i] * context, context).CopyTo(pt.AsSpan(i * context));
            }

            (MatrixView zi, MatrixView zt) = model.Forward(pi, pt);
            for (int i = 0; i < 6; i++)
            {
                double ni = 0, nt = 0;
                for (int k = 0; k < e; k++)
                {
                    if (Math.Abs(zi[i, k] - baseImage[perm[i], k]) > 1e-5f || Math.Abs(zt[i, k] - baseText[perm[i], k]) > 1e-5f)
                    {
                        return false;
                    }

                    ni += zi[i, k] * zi[i, k];
                    nt += zt[i, k] * zt[i, k];
                }

                if (Math.Abs(ni - 1) > 1e-5 || Math.Abs(nt - 1) > 1e-5)
                {
                    return false;
                }
            }

            return true;
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(25));
    }

    [Fact]
    public void Gelu_IsBoundedByReluAndMonotoneForPositiveInputs()
    {
        Prop.ForAll(Gen.Choose(-400000, 400000).Select(i => i / 10000f).ToArbitrary(), x =>
        {
            float[] input = [x, x + 0.01f];
            float[] g = new float[2];
            Layers.RowMath.Gelu(input, g);
            bool bounded = g[0] <= Math.Max(x, 0f) + 1e-6f && g[0] >= Math.Min(x, 0f) - 0.2f;
            bool monotone = x < 0f || g[1] >= g[0];
            return bounded && monotone && float.IsFinite(g[0]);
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(300));
    }
}
