using System;
using Aced.Core;
using Aced.Selection;

namespace Aced.Selection.Tests;

/// <summary>Issue 8 item 18: presets work with what they say they need; a super-batch is reusable every step.</summary>
public class SuperBatchReuseTests
{
    [Fact]
    public void IidBaselineSelector_SuperBatchWithoutEmbeddings_DrawsDistinctRows()
    {
        MethodPreset iid = MethodPreset.For(TrainingMethod.IidBaseline);
        Assert.False(iid.NeedsStudentEmbeddings);
        Assert.False(iid.NeedsReferenceEmbeddings);
        MethodSelector selector = iid.CreateSelector(batchSize: 16, seed: 3);
        SuperBatch sizeOnly = SuperBatch.OfSize(80);
        int[] rows = selector.Next(sizeOnly).Contrastive.ToArray();
        Assert.Equal(16, rows.Length);
        Assert.Equal(16, new System.Collections.Generic.HashSet<int>(rows).Count);
        Assert.All(rows, r => Assert.InRange(r, 0, 79));
    }

    [Theory]
    [InlineData(TrainingMethod.IidBaseline)]
    [InlineData(TrainingMethod.SoftmaxKd)]
    [InlineData(TrainingMethod.IAcid)]
    [InlineData(TrainingMethod.HAcid)]
    [InlineData(TrainingMethod.AcedIIDistill)]
    [InlineData(TrainingMethod.AcedAcidDistill)]
    [InlineData(TrainingMethod.BadStudents)]
    [InlineData(TrainingMethod.SelectiveBackprop)]
    [InlineData(TrainingMethod.RhoLoss)]
    [InlineData(TrainingMethod.Jest)]
    public void EveryPreset_SuperBatchWithExactlyWhatItNeeds_Works_AndLessThrows(TrainingMethod method)
    {
        MethodPreset preset = MethodPreset.For(method);
        ModelEmbeddings student = TestData.Model(60, 6, 1, 10f, -10f);
        ModelEmbeddings reference = TestData.Model(60, 8, 2, 10f, -10f);
        SuperBatch exact = (preset.NeedsStudentEmbeddings, preset.NeedsReferenceEmbeddings) switch
        {
            (false, false) => SuperBatch.OfSize(60),
            (true, false) => new SuperBatch(student),
            (false, true) => new SuperBatch(default, reference),
            _ => new SuperBatch(student, reference),
        };

        MethodStep step = preset.CreateSelector(12, 5).Next(exact);
        Assert.Equal(12, step.Contrastive.Count);

        if (preset.NeedsStudentEmbeddings || preset.NeedsReferenceEmbeddings)
        {
            // With nothing, a preset that scores names what is missing.
            var e = Assert.Throws<ArgumentException>(() => preset.CreateSelector(12, 5).Next(SuperBatch.OfSize(60)));
            Assert.Contains("needs", e.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void UpdateStudentLogits_ReusedSuperBatch_SelectsAsAFreshOne()
    {
        ModelEmbeddings student = TestData.Model(50, 6, 11, 10f, -10f);
        ModelEmbeddings reference = TestData.Model(50, 6, 12, 10f, -10f);
        var reused = new SuperBatch(student, reference);
        var options = new ActiveBatchSamplerOptions { BatchSize = 10, Chunks = 2, Seed = 9 };
        int[] before = new ActiveBatchSampler(options).Sample(reused, 0).ToArray();

        LogitParameters trained = LogitParameters.FromLogScale(3.9f, 2.5f);
        reused.UpdateStudentLogits(trained);
        Assert.Equal(trained, reused.Student.Logits);
        Assert.Equal(student.Image.Array, reused.Student.Image.Array);
        var fresh = new SuperBatch(new ModelEmbeddings(student.Image, student.Text, trained), reference);
        SelectionResult a = new ActiveBatchSampler(options).Sample(reused, 0);
        int[] afterReused = a.ToArray();
        float[] scoresReused = a.Scores.ToArray();
        SelectionResult b = new ActiveBatchSampler(options).Sample(fresh, 0);
        Assert.Equal(b.ToArray(), afterReused);
        Assert.Equal(b.Scores.ToArray(), scoresReused);
        Assert.NotEqual(before, afterReused);
    }

    [Fact]
    public void UpdateStudentLogits_SteadyState_AllocatesNothing()
    {
        var batch = new SuperBatch(TestData.Model(20, 4, 1, 10f, -10f));
        LogitParameters p = LogitParameters.FromLogScale(2f, -3f);

        long allocated = SteadyStateAllocation.MinimumBytes(() => batch.UpdateStudentLogits(p), callsPerRound: 100, warmUp: 1, currentThread: true);

        Assert.Equal(0, allocated);
    }

    [Fact]
    public void Update_NewViewsAndSize_ReplacesBothAndRevalidates()
    {
        var batch = new SuperBatch(TestData.Model(20, 4, 1, 10f, -10f), TestData.Model(20, 5, 2, 10f, -10f));
        ModelEmbeddings bigger = TestData.Model(30, 4, 3, 10f, -10f);
        Assert.Equal("reference", Assert.Throws<ArgumentException>(() => batch.Update(bigger, batch.Reference)).ParamName);
        Assert.Equal(20, batch.Count);
        batch.Update(bigger);
        Assert.Equal(30, batch.Count);
        Assert.False(batch.HasReference);
        Assert.Throws<InvalidOperationException>(() => batch.UpdateReferenceLogits(LogitParameters.SigmoidDefault));
        Assert.Throws<InvalidOperationException>(() => SuperBatch.OfSize(5).UpdateStudentLogits(LogitParameters.SigmoidDefault));
        Assert.Equal("logits", Assert.Throws<ArgumentOutOfRangeException>(() => batch.UpdateStudentLogits(default)).ParamName);
        Assert.Equal("count", Assert.Throws<ArgumentOutOfRangeException>(() => SuperBatch.OfSize(0)).ParamName);
    }
}
