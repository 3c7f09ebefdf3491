using Aced.Core;
using System;
using System.Linq;
using Aced.Selection;

namespace Aced.Selection.Tests;

public class PresetTests
{
    [Theory]
    [InlineData(TrainingMethod.IidBaseline, 0.0, BatchSource.Uniform, BatchSource.None, 1)]
    [InlineData(TrainingMethod.SoftmaxKd, 2.0, BatchSource.Uniform, BatchSource.SameAsContrastive, 1)]
    [InlineData(TrainingMethod.IAcid, 0.0, BatchSource.Selected, BatchSource.None, 1)]
    [InlineData(TrainingMethod.HAcid, 0.0, BatchSource.Selected, BatchSource.None, 1)]
    [InlineData(TrainingMethod.AcedIIDistill, 2.0, BatchSource.Selected, BatchSource.Uniform, 2)]
    [InlineData(TrainingMethod.AcedAcidDistill, 2.0, BatchSource.Selected, BatchSource.SameAsContrastive, 1)]
    public void For_Table1Rows_MatchPaper(TrainingMethod method, double lambda, BatchSource ce, BatchSource kd, int batchMultiple)
    {
        MethodPreset preset = MethodPreset.For(method);
        Assert.Equal(lambda, preset.Lambda);
        Assert.Equal(ce, preset.ContrastiveBatch);
        Assert.Equal(kd, preset.DistillationBatch);
        Assert.Equal(batchMultiple * 512, preset.EffectiveBatchSize(512));
        Assert.Equal(kd != BatchSource.None, preset.NeedsTeacher);
    }

    [Fact]
    public void For_SelectionRows_UseTheRightScoringAndSampler()
    {
        Assert.Equal(ScoringMethod.EasyReference, MethodPreset.For(TrainingMethod.IAcid).Selection!.Scoring);
        foreach (TrainingMethod m in new[] { TrainingMethod.HAcid, TrainingMethod.AcedIIDistill, TrainingMethod.AcedAcidDistill })
        {
            ActiveBatchSamplerOptions o = MethodPreset.For(m).Selection!;
            Assert.Equal((ScoringMethod.Learnability, SamplerKind.Joint, 10.0, 16, 0.8), (o.Scoring, o.Sampler, o.Temperature, o.Chunks, o.FilterRatio));
        }

        ActiveBatchSamplerOptions bad = MethodPreset.For(TrainingMethod.BadStudents).Selection!;
        Assert.Equal((ScoringMethod.Learnability, true, SamplerKind.Independent), (bad.Scoring, bad.PairSimilarityProxy, bad.Sampler));
        Assert.True(MethodPreset.For(TrainingMethod.BadStudents).UsesOnlineProxy);
        Assert.Equal((ScoringMethod.Hard, SamplerKind.LossPercentile), (MethodPreset.For(TrainingMethod.SelectiveBackprop).Selection!.Scoring, MethodPreset.For(TrainingMethod.SelectiveBackprop).Selection!.Sampler));
        Assert.False(MethodPreset.For(TrainingMethod.SelectiveBackprop).NeedsReferenceEmbeddings);
        Assert.Equal((ScoringMethod.Learnability, SamplerKind.TopK), (MethodPreset.For(TrainingMethod.RhoLoss).Selection!.Scoring, MethodPreset.For(TrainingMethod.RhoLoss).Selection!.Sampler));
        Assert.Equal(1.0, MethodPreset.For(TrainingMethod.Jest).Selection!.Temperature);
        Assert.Null(MethodPreset.For(TrainingMethod.IidBaseline).Selection);
        Assert.False(MethodPreset.For(TrainingMethod.IAcid).NeedsStudentEmbeddings);
        Assert.True(MethodPreset.For(TrainingMethod.HAcid).NeedsStudentEmbeddings && MethodPreset.For(TrainingMethod.HAcid).NeedsReferenceEmbeddings);
    }

    [Fact]
    public void Selector_EveryMethod_DrawsValidBatches()
    {
        SuperBatch batch = TestData.Batch(200, 8, 3, ContrastiveKind.Sigmoid);
        foreach (TrainingMethod method in Enum.GetValues<TrainingMethod>())
        {
            MethodSelector selector = MethodPreset.For(method).CreateSelector(40, 5);
            MethodStep step = selector.Next(batch);
            int[] ce = step.Contrastive.ToArray();
            Assert.Equal(40, ce.Distinct().Count());
            MethodPreset preset = MethodPreset.For(method);
            Assert.Equal(preset.DistillationBatch != BatchSource.None, step.ComputeDistillation);
            if (preset.DistillationBatch == BatchSource.SameAsContrastive)
            {
                Assert.Equal(ce, step.Distillation!.ToArray());
            }
            else if (preset.DistillationBatch == BatchSource.Uniform)
            {
                Assert.NotEqual(ce, step.Distillation!.ToArray());
            }
        }
    }

    [Fact]
    public void WithLambda_And_WithSelection_ValidateAndApply()
    {
        Assert.Equal(0.5, MethodPreset.For(TrainingMethod.AcedAcidDistill).WithLambda(0.5).Lambda);
        Assert.Throws<ArgumentOutOfRangeException>(() => MethodPreset.For(TrainingMethod.HAcid).WithLambda(1));
        Assert.Throws<ArgumentOutOfRangeException>(() => MethodPreset.For(TrainingMethod.SoftmaxKd).WithLambda(0));
        Assert.Equal(ContrastiveKind.Softmax, MethodPreset.For(TrainingMethod.HAcid).WithSelection(o => o.Loss = ContrastiveKind.Softmax).Selection!.Loss);
        Assert.Throws<InvalidOperationException>(() => MethodPreset.For(TrainingMethod.IidBaseline).WithSelection(o => o.Temperature = 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => MethodPreset.For(TrainingMethod.HAcid).WithSelection(o => o.Temperature = -1));
    }
}
