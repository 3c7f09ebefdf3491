using Aced.Core;
using System;
using Aced.Selection;

namespace Aced.Selection.Tests;

public class ReuseTests
{
    [Theory]
    [InlineData(ContrastiveKind.Sigmoid, false, SamplerKind.Joint)]
    [InlineData(ContrastiveKind.Softmax, false, SamplerKind.Joint)]
    [InlineData(ContrastiveKind.Sigmoid, true, SamplerKind.Joint)]
    [InlineData(ContrastiveKind.Sigmoid, false, SamplerKind.Independent)]
    [InlineData(ContrastiveKind.Softmax, false, SamplerKind.TopK)]
    public void Sample_AfterLargerThenSmallerBatches_EqualsFreshSampler(ContrastiveKind loss, bool pairSimilarity, SamplerKind sampler)
    {
        // One instance sees a large super-batch (B = 61, d = 9, b = 12), then smaller ones with other d and b:
        // grown workspaces must carry no stale state (members, log-sum-exps, positive logits) into later calls.
        var options = new ActiveBatchSamplerOptions { FilterRatio = 0.8, Chunks = 3, Loss = loss, PairSimilarityProxy = pairSimilarity, Sampler = sampler, Seed = 11 };
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
