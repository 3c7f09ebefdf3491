using System;
using Aced.Core;
using Aced.Selection;

namespace Aced.Selection.Tests;

/// <summary>The finite check that guards every selection (fused into the positive-pair pass, else per row): non-finite embeddings are reported by model and row.</summary>
public sealed class FiniteCheckTests
{
    [Theory]
    [InlineData(0, 0)]
    [InlineData(37, 19)]
    [InlineData(99, 70)]
    public void Sample_NonFiniteInStridedOrContiguousEmbeddings_ThrowsNamingModelAndRow(int row, int column)
    {
        const int count = 100, dim = 71;
        foreach (int pad in new[] { 0, 3 })
        {
            // Padding holds NaN: it is outside the views and must not be reported.
            var data = new float[4][];
            var views = new MatrixView[4];
            for (int v = 0; v < 4; v++)
            {
                data[v] = new float[count * (dim + pad)];
                data[v].AsSpan().Fill(float.NaN);
                views[v] = new MatrixView(data[v], 0, count, dim, dim + pad);
                var rng = new CounterRng((ulong)(v + 1));
                for (int i = 0; i < count; i++)
                {
                    for (int j = 0; j < dim; j++)
                    {
                        views[v][i, j] = rng.NextNormal() / 8;
                    }

                    float norm = System.Numerics.Tensors.TensorPrimitives.Norm(views[v].Row(i));
                    System.Numerics.Tensors.TensorPrimitives.Divide(views[v].Row(i), norm, views[v].Row(i));
                }
            }

            var batch = new SuperBatch(new ModelEmbeddings(views[0], views[1], LogitParameters.SigmoidDefault), new ModelEmbeddings(views[2], views[3], LogitParameters.SigmoidDefault));
            var sampler = new ActiveBatchSampler(new ActiveBatchSamplerOptions { BatchSize = 8, Chunks = 2 });
            Assert.Equal(8, sampler.Sample(batch).Count);

            views[1][row, column] = float.PositiveInfinity;
            var ex = Assert.Throws<ArgumentException>(() => sampler.Sample(batch));
            Assert.Equal("superBatch.Student", ex.ParamName);
            Assert.Contains($"text embedding row {row} ", ex.Message, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData(SamplerKind.Joint, ScoringMethod.EasyReference, false)] // student present but unscored
    [InlineData(SamplerKind.Joint, ScoringMethod.Hard, true)] // reference present but unscored
    [InlineData(SamplerKind.Uniform, ScoringMethod.Learnability, false)]
    [InlineData(SamplerKind.Independent, ScoringMethod.Learnability, true)]
    public void Sample_NonFiniteInAnyPresentModel_ThrowsWhetherOrNotItIsScored(SamplerKind sampler, ScoringMethod scoring, bool inReference)
    {
        SuperBatch batch = TestData.Batch(40, 12, 4, ContrastiveKind.Sigmoid);
        var options = new ActiveBatchSamplerOptions { BatchSize = 6, Chunks = 3, Sampler = sampler, Scoring = scoring };
        Assert.Equal(6, new ActiveBatchSampler(options).Sample(batch).Count);
        ModelEmbeddings model = inReference ? batch.Reference : batch.Student;

        // NaN in the image row against an all-zero text row: the positive-pair dot product is still NaN (0 * NaN).
        for (int j = 0; j < 12; j++)
        {
            model.Text[21, j] = 0f;
        }

        model.Image[21, 5] = float.NaN;
        var ex = Assert.Throws<ArgumentException>(() => new ActiveBatchSampler(options).Sample(batch));
        Assert.Equal(inReference ? "superBatch.Reference" : "superBatch.Student", ex.ParamName);
        Assert.Contains("image embedding row 21 ", ex.Message, StringComparison.Ordinal);
    }
}
