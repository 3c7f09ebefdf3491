using System;
using System.Threading;
using System.Threading.Tasks;
using Aced.Core;
using Aced.Selection;

namespace Aced.Selection.Tests;

/// <summary>One sampler used from two threads at once must fail loudly, never return a silently wrong selection.</summary>
public class ConcurrencyTests
{
    [Fact]
    public async Task Sample_WhileAnotherThreadIsInsideSample_ThrowsInvalidOperation()
    {
        // Thread A stops inside Sample (after taking the sampler) until the main thread has tried to use it too.
        var sampler = new ActiveBatchSampler(new ActiveBatchSamplerOptions { BatchSize = 8, Chunks = 2, Seed = 3 });
        SuperBatch batch = TestData.Batch(40, 6, 1, ContrastiveKind.Sigmoid);
        int[] expected = new ActiveBatchSampler(new ActiveBatchSamplerOptions { BatchSize = 8, Chunks = 2, Seed = 3 }).Sample(batch, 0).ToArray();
        using var entered = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        sampler.InsideSampleHook = () =>
        {
            entered.Set();
            Assert.True(release.Wait(TimeSpan.FromSeconds(30)));
        };

        Task<int[]> first = Task.Run(() => sampler.Sample(batch, 0).ToArray());
        Assert.True(entered.Wait(TimeSpan.FromSeconds(30)));
        sampler.InsideSampleHook = null;
        InvalidOperationException ex = Assert.Throws<InvalidOperationException>(() => sampler.Sample(batch, 1));
        Assert.Contains("thread", ex.Message);
        Assert.Throws<InvalidOperationException>(() => sampler.Sample(batch));
        Assert.Equal(0, sampler.Step);
        release.Set();

        // The first call completes correctly, and the sampler is usable again afterwards.
        Assert.Equal(expected, await first);
        Assert.Equal(expected, sampler.Sample(batch, 0).ToArray());
    }

    [Fact]
    public void Sample_AfterACallThatThrew_IsUsableAgain()
    {
        var sampler = new ActiveBatchSampler(new ActiveBatchSamplerOptions { BatchSize = 8, Chunks = 2, Seed = 3 });
        SuperBatch small = TestData.Batch(4, 6, 1, ContrastiveKind.Sigmoid);
        Assert.Throws<ArgumentOutOfRangeException>(() => sampler.Sample(small, 0));
        SuperBatch batch = TestData.Batch(40, 6, 1, ContrastiveKind.Sigmoid);
        Assert.Equal(8, sampler.Sample(batch, 0).Count);
    }
}
