using System;
using Aced.Selection;

namespace Aced.Selection.Tests;

public class ReuseTests
{
    [Theory]
    [InlineData(SelectionLoss.Sigmoid, SamplerKind.Joint)]
    [InlineData(SelectionLoss.Softmax, SamplerKind.Joint)]
    [InlineData(SelectionLoss.PairSimilarity, SamplerKind.Joint)]
    [InlineData(SelectionLoss.Sigmoid, SamplerKind.Independent)]
    [InlineData(SelectionLoss.Softmax, SamplerKind.TopK)]
    public void Sample_AfterLargerThenSmallerBatches_EqualsFreshSampler(SelectionLoss loss, SamplerKind sampler)
    {
        // One instance sees a large super-batch (B = 61, d = 9, b = 12), then smaller ones with other d and b:
        // grown workspaces must carry no stale state (members, log-sum-exps, positive logits) into later calls.
        var options = new ActiveBatchSamplerOptions { FilterRatio = 0.8, Chunks = 3, Loss = loss, Sampler = sampler, Seed = 11 };
        var reused = new ActiveBatchSampler(options);
        SuperBatch large = TestData.Batch(61, 9, 5, loss);
        SuperBatch small = TestData.Batch(23, 4, 6, loss);
        SuperBatch middle = TestData.Batch(40, 7, 7, loss);
        reused.Sample(large, 3);
        int[] smallReused = reused.Sample(small, 4).ToArray();
        reused.Sample(large, 5);
        int[] middleReused = reused.Sample(middle, 6).ToArray();
        float[] middleScores = reused.Sample(middle, 6).Scores.ToArray();

        Assert.Equal(new ActiveBatchSampler(options).Sample(small, 4).ToArray(), smallReused);
        SelectionResult fresh = new ActiveBatchSampler(options).Sample(middle, 6);
        Assert.Equal(fresh.ToArray(), middleReused);
        Assert.Equal(fresh.Scores.ToArray(), middleScores);
    }
}
