using System;
using Aced.Core;
using Aced.Models.Training;

namespace Aced.Models.Tests;

public class AllocationTests
{
    [Theory]
    [InlineData(PoolingKind.GlobalAverage)]
    [InlineData(PoolingKind.MultiheadAttention)]
    public void TrainingStep_SteadyState_AllocatesNothingOnTheCallingThread(PoolingKind pooling)
    {
        var config = TestData.TinyConfig(imagePooling: pooling, textPooling: PoolingKind.LastToken);
        var model = new TwoTowerModel(config with { Image = config.Image with { ImageSize = 16 } }, 3);
        (Matrix images, int[] tokens) = TestTrainer.Pairs(model, 37, 4);
        var optimizer = new AdamW(model.Parameters);
        var schedule = new RsqrtSchedule(1e-3f, 100);
        Matrix dzi = TestData.RandomMatrix(37, model.EmbeddingDimension, 5, 0.01f);
        Matrix dzt = TestData.RandomMatrix(37, model.EmbeddingDimension, 6, 0.01f);
        var evalOut = new Matrix(37, model.EmbeddingDimension);
        void Step()
        {
            model.ZeroGradients();
            model.Forward(images, tokens);
            model.Backward(dzi, dzt, 0.01f, -0.01f);
            optimizer.Update(schedule);
            model.ClampLogScale();
            model.EncodeImages(images, evalOut, 37);
        }

        // The smallest count over up to 10 rounds of 3 steps: an allocation in the step shows in every round, while a
        // one-time lazy growth of the calling thread's workspace (the first time the pool leaves it some kind of work
        // item, which depends on timing: 24 B seen in CI on 2026-12-01 after 2 warm-up steps) shows in one round only.
        long smallest = SteadyStateAllocation.MinimumBytes(Step, callsPerRound: 3, warmUp: 2, rounds: 10, currentThread: true);

        Assert.True(smallest == 0, $"{smallest} bytes allocated in every round of 3 steady-state steps");
    }
}
