using System;
using Aced.Core;
using Aced.Selection;

namespace Aced.Selection.Tests;

/// <summary>Keeps the README's quickstart true: the same calls, on small random embeddings.</summary>
public sealed class ReadmeQuickstartTests
{
    private static Matrix RandomUnitRows(int rows, int dim, ulong stream)
    {
        var m = new Matrix(rows, dim);
        var rng = new CounterRng(7, stream);
        for (int i = 0; i < m.Data.Length; i++)
        {
            m.Data[i] = rng.NextNormal();
        }

        StableMath.L2NormalizeRows(m, m, new float[rows]);
        return m;
    }

    [Fact]
    public void Quickstart_SelectsDistinctRowsOfTheSuperBatch()
    {
        Matrix studentImage = RandomUnitRows(320, 16, 1), studentText = RandomUnitRows(320, 16, 2);
        Matrix referenceImage = RandomUnitRows(320, 24, 3), referenceText = RandomUnitRows(320, 24, 4);
        LogitParameters studentLogits = LogitParameters.FromLogScale(2.302585f, -10f); // e.g. model.Logits of a live student

        var sampler = new ActiveBatchSampler(new ActiveBatchSamplerOptions { BatchSize = 64, Seed = 42 });
        var superBatch = new SuperBatch(
            new ModelEmbeddings(studentImage, studentText, studentLogits),
            new ModelEmbeddings(referenceImage, referenceText, LogitParameters.Initial(ContrastiveKind.Sigmoid)));

        SelectionResult chosen = sampler.Sample(superBatch);
        int[] rows = chosen.Indices.ToArray();

        Assert.Equal(64, rows.Length);
        Assert.Equal(64, new System.Collections.Generic.HashSet<int>(rows).Count);
        Assert.All(rows, r => Assert.InRange(r, 0, 319));
        Assert.Equal(TrainingMethod.AcedAcidDistill, MethodPreset.For(TrainingMethod.AcedAcidDistill).Method);
    }
}
