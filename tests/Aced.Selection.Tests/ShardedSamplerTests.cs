using System;
using System.Collections.Generic;
using System.Threading;
using Aced.Core;
using Aced.Selection;
using Aced.Selection.Distributed;

namespace Aced.Selection.Tests;

public class ShardedSamplerTests
{
    private const int Count = 203;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    private static readonly (ContrastiveKind Loss, bool Proxy)[] Losses = { (ContrastiveKind.Sigmoid, false), (ContrastiveKind.Softmax, false), (ContrastiveKind.Sigmoid, true) };

    public static IEnumerable<object[]> Ranks()
    {
        yield return new object[] { 1 };
        yield return new object[] { 2 };
        yield return new object[] { 3 };
        yield return new object[] { 5 };
    }

    [Theory]
    [MemberData(nameof(Ranks))]
    public void Sample_JointEveryScoringLossAndNormalization_SameIndicesAsSingleProcess(int ranks)
    {
        foreach ((ContrastiveKind loss, bool proxy) in Losses)
        {
            SuperBatch batch = TestData.Batch(Count, 12, 5, loss);
            foreach (ScoringMethod scoring in new[] { ScoringMethod.Learnability, ScoringMethod.EasyReference, ScoringMethod.Hard, ScoringMethod.Easy })
            {
                foreach (bool greedy in new[] { false, true })
                {
                    foreach (ScoreNormalization normalization in new[] { ScoreNormalization.Sum, ScoreNormalization.PerTermMean })
                    {
                        var options = new ActiveBatchSamplerOptions
                        {
                            BatchSize = 41,
                            Chunks = 4,
                            Scoring = scoring,
                            Loss = loss,
                            PairSimilarityProxy = proxy,
                            Greedy = greedy,
                            Normalization = normalization,
                            Temperature = normalization == ScoreNormalization.Sum ? 1 : 30,
                            Seed = 17,
                        };
                        AssertSameAsSingleProcess(batch, options, ranks, step: 3, $"{loss} proxy={proxy} {scoring} greedy={greedy} {normalization}");
                    }
                }
            }
        }
    }

    [Theory]
    [MemberData(nameof(Ranks))]
    public void Sample_IndependentTopKUniformAndPercentile_SameIndicesAsSingleProcess(int ranks)
    {
        foreach ((ContrastiveKind loss, bool proxy) in Losses)
        {
            SuperBatch batch = TestData.Batch(Count, 10, 9, loss);
            foreach (SamplerKind sampler in new[] { SamplerKind.Independent, SamplerKind.TopK, SamplerKind.Uniform, SamplerKind.LossPercentile })
            {
                foreach (ScoringMethod scoring in new[] { ScoringMethod.Learnability, ScoringMethod.Hard })
                {
                    var options = new ActiveBatchSamplerOptions { FilterRatio = 0.75, Sampler = sampler, Scoring = scoring, Loss = loss, PairSimilarityProxy = proxy, Temperature = 2, Seed = 4 };
                    AssertSameAsSingleProcess(batch, options, ranks, step: 11, $"{loss} proxy={proxy} {sampler} {scoring}");
                }
            }
        }
    }

    [Fact]
    public void Sample_DefaultOptionsLargerBatch_SameIndicesAsSingleProcessOverSteps()
    {
        // Default options (joint, 16 chunks, learnability, sigmoid, tau 10) over more than one Gumbel block per rank.
        SuperBatch batch = TestData.Batch(1100, 24, 21, ContrastiveKind.Sigmoid);
        var options = new ActiveBatchSamplerOptions { Seed = 99 };
        for (long step = 0; step < 2; step++)
        {
            AssertSameAsSingleProcess(batch, options, 3, step, $"step {step}");
        }
    }

    [Fact]
    public void Sample_SoftmaxFewerMembersThanRanks_SameIndicesAsSingleProcess()
    {
        // One member per chunk and five ranks: most ranks have an empty slice of the members' log-sum-exps.
        SuperBatch batch = TestData.Batch(47, 8, 13, ContrastiveKind.Softmax);
        var options = new ActiveBatchSamplerOptions { BatchSize = 6, Chunks = 6, Loss = ContrastiveKind.Softmax, Temperature = 3, Seed = 8 };
        AssertSameAsSingleProcess(batch, options, 5, 0, "softmax b = 6, n = 6");
    }

    [Fact]
    public void Sample_AllScoresTied_BreaksTiesTowardsTheLowerGlobalIndexLikeSingleProcess()
    {
        // Identical rows: every score ties, so greedy and top-k must pick 0..b-1 across the rank boundaries.
        var image = new Matrix(40, 4);
        var text = new Matrix(40, 4);
        for (int i = 0; i < 40; i++)
        {
            image[i, 0] = 1;
            text[i, 0] = 1;
        }

        var batch = new SuperBatch(new ModelEmbeddings(image, text, new LogitParameters(10, -10)));
        foreach (SamplerKind sampler in new[] { SamplerKind.Joint, SamplerKind.TopK })
        {
            var options = new ActiveBatchSamplerOptions { BatchSize = 12, Chunks = 3, Greedy = true, Sampler = sampler, Scoring = ScoringMethod.Hard };
            AssertSameAsSingleProcess(batch, options, 3, 0, $"ties {sampler}");
        }
    }

    [Fact]
    public void Sample_Diagnostics_MatchSingleProcessAndCountBytes()
    {
        SuperBatch batch = TestData.Batch(Count, 12, 5, ContrastiveKind.Sigmoid);
        var options = new ActiveBatchSamplerOptions { BatchSize = 40, Chunks = 4, Seed = 2 };
        SelectionResult expected = new ActiveBatchSampler(options).Sample(batch, 0);
        (SelectionResult[] results, ShardStatistics[] stats) = RunSharded(batch, options, 3, 0);
        SelectionDiagnostics e = expected.Diagnostics;
        for (int r = 0; r < 3; r++)
        {
            SelectionDiagnostics d = results[r].Diagnostics;
            Assert.Equal(e.SuperBatchSize, d.SuperBatchSize);
            Assert.Equal(e.BatchSize, d.BatchSize);
            Assert.Equal(e.ChosenMean, d.ChosenMean, 9);
            Assert.Equal(e.RejectedMean, d.RejectedMean, 9);
            Assert.Equal(e.ChosenStandardDeviation, d.ChosenStandardDeviation, 9);
            Assert.Equal(e.ScoreMin, d.ScoreMin);
            Assert.Equal(e.ScoreMax, d.ScoreMax);
            Assert.Equal(e.EffectiveSampleSize, d.EffectiveSampleSize, 6);
            Assert.Equal(4, stats[r].Chunks);
            Assert.Equal(Count, stats[r].SuperBatchSize);

            // Member rows: 3 chunks of 10 members shared, each row 2 x 12 (student) + 2 x 14 (reference) floats.
            Assert.True(stats[r].BytesReceived > 0);
        }

        long rowBytes = 3 * 10 * ((2 * 12) + (2 * 14)) * sizeof(float);
        long sentRows = 0;
        for (int r = 0; r < 3; r++)
        {
            sentRows += stats[r].BytesSent;
        }

        Assert.True(sentRows >= rowBytes, $"the ranks sent {sentRows} bytes in all, less than the {rowBytes} bytes of the shared member rows");
        Assert.Equal(0, stats[0].Offset);
        Assert.Equal(stats[0].Count, stats[1].Offset);
        Assert.Equal(Count, stats[2].Offset + stats[2].Count);
    }

    [Fact]
    public void Sample_RanksWithDifferentSeeds_ThrowsOnEveryRankNamingSeed()
    {
        SuperBatch batch = TestData.Batch(60, 8, 3, ContrastiveKind.Sigmoid);
        Exception?[] errors = RunExpectingErrors(batch, 3, r => new ActiveBatchSamplerOptions { BatchSize = 10, Chunks = 2, Seed = r == 2 ? 8UL : 7UL }, null);
        foreach (Exception? e in errors)
        {
            ArgumentException a = Assert.IsType<ArgumentException>(e);
            Assert.Contains("rank 2 has Seed", a.Message);
        }
    }

    [Fact]
    public void Sample_RanksWithDifferentOptionsOrDimensions_ThrowsOnEveryRank()
    {
        SuperBatch batch = TestData.Batch(60, 8, 3, ContrastiveKind.Sigmoid);
        Exception?[] errors = RunExpectingErrors(batch, 2, r => new ActiveBatchSamplerOptions { BatchSize = 10, Chunks = r == 0 ? 2 : 5 }, null);
        Assert.All(errors, e => Assert.Contains("rank 1 has Chunks = 5 but rank 0 has 2", e!.Message));

        SuperBatch other = TestData.Batch(60, 9, 3, ContrastiveKind.Sigmoid);
        errors = RunExpectingErrors(batch, 2, r => new ActiveBatchSamplerOptions { BatchSize = 10, Chunks = 2 }, r => r == 1 ? Shard(other, 30, 30) : Shard(batch, 0, 30));
        Assert.All(errors, e => Assert.Contains("rank 1 has student dimension = 9 but rank 0 has 8", e!.Message));
    }

    [Fact]
    public void Sample_RankWithNoCandidates_ThrowsOnEveryRankNamingIt()
    {
        SuperBatch batch = TestData.Batch(60, 8, 3, ContrastiveKind.Sigmoid);
        Exception?[] errors = RunExpectingErrors(batch, 3, r => new ActiveBatchSamplerOptions { BatchSize = 10, Chunks = 2 }, r => r == 1 ? null : Shard(batch, r * 20, 20));
        Assert.All(errors, e => Assert.Contains("rank(s) 1 of 3 have no candidates", e!.Message));
    }

    [Fact]
    public void Sample_NonFiniteEmbeddingOnOneRank_OriginalErrorThereCollectiveErrorElsewhere()
    {
        SuperBatch batch = TestData.Batch(60, 8, 3, ContrastiveKind.Sigmoid);
        SuperBatch bad = Shard(batch, 20, 20);
        bad.Student.Image[4, 2] = float.NaN;
        Exception?[] errors = RunExpectingErrors(batch, 3, r => new ActiveBatchSamplerOptions { BatchSize = 10, Chunks = 2 }, r => r == 1 ? bad : Shard(batch, r * 20, 20));
        Assert.IsType<ArgumentException>(errors[1]);
        Assert.Contains("row 4", errors[1]!.Message);
        foreach (int r in new[] { 0, 2 })
        {
            CollectiveException c = Assert.IsType<CollectiveException>(errors[r]);
            Assert.Contains("rank 1 of 3 failed", c.Message);
            Assert.Contains("row 4", c.Message);
        }
    }

    [Fact]
    public void Sample_RankThatDies_OthersTimeOutNamingIt()
    {
        SuperBatch batch = TestData.Batch(60, 8, 3, ContrastiveKind.Sigmoid);
        // Long enough that rank 1 always arrives before rank 0 gives up, even on a loaded 2-core runner where its first
        // selection is still being compiled (a 1 s limit could name ranks 1 and 2); only rank 2 may be missing.
        InProcessCollectives[] group = InProcessCollectives.Create(3, TimeSpan.FromSeconds(5));
        var errors = new Exception?[3];
        var threads = new Thread[3];
        for (int r = 0; r < 3; r++)
        {
            int rank = r;
            threads[r] = new Thread(() =>
            {
                try
                {
                    if (rank == 2)
                    {
                        throw new InvalidOperationException("rank 2 crashed before selecting");
                    }

                    new ShardedBatchSampler(new ActiveBatchSamplerOptions { BatchSize = 10, Chunks = 2 }, group[rank]).Sample(Shard(batch, rank * 20, 20), 0);
                }
                catch (Exception e)
                {
                    errors[rank] = e;
                }
            });
            threads[r].Start();
        }

        foreach (Thread t in threads)
        {
            Assert.True(t.Join(TimeSpan.FromSeconds(30)), "a rank hung");
        }

        for (int r = 0; r < 2; r++)
        {
            CollectiveException c = Assert.IsType<CollectiveException>(errors[r]);
            Assert.Contains("rank(s) 2 did not arrive", c.Message);
        }
    }

    [Fact]
    public void AllGatherVariable_AndBroadcast_DeliverEveryBlockInRankOrder()
    {
        InProcessCollectives[] group = InProcessCollectives.Create(3, Timeout);
        var results = new float[3][];
        var broadcast = new double[3][];
        RunRanks(3, r =>
        {
            int[] counts = { 1, 0, 2 };
            float[] local = new float[counts[r]];
            for (int i = 0; i < local.Length; i++)
            {
                local[i] = (10 * r) + i;
            }

            results[r] = new float[3];
            group[r].AllGatherVariable<float>(local, counts, results[r]);
            broadcast[r] = new double[] { r, r };
            group[r].Broadcast<double>(broadcast[r], 2);
        });
        for (int r = 0; r < 3; r++)
        {
            Assert.Equal(new float[] { 0, 20, 21 }, results[r]);
            Assert.Equal(new double[] { 2, 2 }, broadcast[r]);
        }
    }

    [Fact]
    public void Collectives_RanksCallDifferentOperations_ThrowDivergedOnEveryRank()
    {
        InProcessCollectives[] group = InProcessCollectives.Create(2, Timeout);
        var errors = new Exception?[2];
        RunRanks(2, r =>
        {
            try
            {
                if (r == 0)
                {
                    group[r].AllReduce(new double[2], ReduceOperation.Sum);
                }
                else
                {
                    group[r].AllGather<int>(new int[2], new int[4]);
                }
            }
            catch (CollectiveException e)
            {
                errors[r] = e;
            }
        });
        Assert.All(errors, e => Assert.Contains("diverged", e!.Message));
    }

    [Fact]
    public void PositionedRng_MatchesSequentialDoubles()
    {
        var sequential = new CounterRng(5, 9);
        for (int i = 0; i < 11; i++)
        {
            double expected = sequential.NextDouble();
            Assert.Equal(expected, ShardedBatchSampler.PositionedRng(5, 9, i).NextDouble());
        }
    }

    [Theory]
    [InlineData(0L)]
    [InlineData(4096L)]
    public void Sample_SoftmaxLogitCacheBudget_HonouredOnEveryRank(long budget)
    {
        SuperBatch batch = TestData.Batch(Count, 12, 5, ContrastiveKind.Softmax);
        var options = new ActiveBatchSamplerOptions { BatchSize = 41, Chunks = 4, Loss = ContrastiveKind.Softmax, Seed = 3, SoftmaxLogitCacheBytes = budget };
        var single = new ActiveBatchSampler(options);
        int[] expected = single.Sample(batch, 1).ToArray();
        InProcessCollectives[] group = InProcessCollectives.Create(2, Timeout);
        var cached = new int[2];
        var results = new int[2][];
        RunRanks(2, r =>
        {
            (int start, int count) = Range(batch.Count, 2, r);
            var sampler = new ShardedBatchSampler(options, group[r]);
            results[r] = sampler.Sample(Shard(batch, start, count), 1).ToArray();
            cached[r] = sampler.Scorer.CachedRows;
        });
        for (int r = 0; r < 2; r++)
        {
            Assert.Equal(expected, results[r]);
            // Each cached row holds at most 2 directions x 2 models x 41 member logits (4 bytes each).
            Assert.True((long)cached[r] * 4 * 41 <= budget, $"rank {r} cached {cached[r]} rows over a budget of {budget} bytes");
        }
    }

    private static void AssertSameAsSingleProcess(SuperBatch batch, ActiveBatchSamplerOptions options, int ranks, long step, string label)
    {
        SelectionResult expected = new ActiveBatchSampler(options).Sample(batch, step);
        int[] expectedIndices = expected.ToArray();
        float[] expectedScores = expected.Scores.ToArray();
        (SelectionResult[] results, _) = RunSharded(batch, options, ranks, step);
        for (int r = 0; r < ranks; r++)
        {
            Assert.True(expectedIndices.AsSpan().SequenceEqual(results[r].Indices), $"{label}, W = {ranks}, rank {r}: indices [{string.Join(",", results[r].ToArray())}] differ from the single-process [{string.Join(",", expectedIndices)}]");
            for (int i = 0; i < expectedScores.Length; i++)
            {
                Assert.True(expectedScores[i].Equals(results[r].Scores[i]), $"{label}, W = {ranks}, rank {r}: score {i} is {results[r].Scores[i]}, single-process {expectedScores[i]}");
            }
        }
    }

    private static (SelectionResult[] Results, ShardStatistics[] Statistics) RunSharded(SuperBatch batch, ActiveBatchSamplerOptions options, int ranks, long step)
    {
        InProcessCollectives[] group = InProcessCollectives.Create(ranks, Timeout);
        var results = new SelectionResult[ranks];
        var stats = new ShardStatistics[ranks];
        RunRanks(ranks, r =>
        {
            (int start, int count) = Range(batch.Count, ranks, r);
            var sampler = new ShardedBatchSampler(options, group[r]);
            results[r] = sampler.Sample(Shard(batch, start, count), step);
            stats[r] = sampler.Statistics;
        });
        return (results, stats);
    }

    private static Exception?[] RunExpectingErrors(SuperBatch batch, int ranks, Func<int, ActiveBatchSamplerOptions> options, Func<int, SuperBatch?>? shard)
    {
        InProcessCollectives[] group = InProcessCollectives.Create(ranks, Timeout);
        var errors = new Exception?[ranks];
        RunRanks(ranks, r =>
        {
            (int start, int count) = Range(batch.Count, ranks, r);
            try
            {
                new ShardedBatchSampler(options(r), group[r]).Sample(shard is null ? Shard(batch, start, count) : shard(r), 0);
            }
            catch (Exception e)
            {
                errors[r] = e;
            }
        });
        Assert.All(errors, e => Assert.NotNull(e));
        return errors;
    }

    /// <summary>Uneven contiguous ranges: rank r gets about (r + 1) parts of the super-batch.</summary>
    private static (int Start, int Count) Range(int total, int ranks, int rank)
    {
        int parts = ranks * (ranks + 1) / 2;
        int start = (int)((long)total * (rank * (rank + 1) / 2) / parts);
        int end = (int)((long)total * ((rank + 1) * (rank + 2) / 2) / parts);
        return (start, end - start);
    }

    /// <summary>A copy of rows [start, start + count) into arrays of their own, as a rank would hold them.</summary>
    private static SuperBatch Shard(SuperBatch batch, int start, int count)
    {
        ModelEmbeddings Copy(ModelEmbeddings m) => m.IsEmpty ? default : new ModelEmbeddings(m.Image.RowRange(start, count).ToMatrix(), m.Text.RowRange(start, count).ToMatrix(), m.Logits);
        return new SuperBatch(Copy(batch.Student), Copy(batch.Reference));
    }

    private static void RunRanks(int ranks, Action<int> body)
    {
        var threads = new Thread[ranks];
        var errors = new Exception?[ranks];
        for (int r = 0; r < ranks; r++)
        {
            int rank = r;
            threads[r] = new Thread(() =>
            {
                try
                {
                    body(rank);
                }
                catch (Exception e)
                {
                    errors[rank] = e;
                }
            });
            threads[r].Start();
        }

        foreach (Thread t in threads)
        {
            Assert.True(t.Join(TimeSpan.FromSeconds(60)), "a rank hung");
        }

        foreach (Exception? e in errors)
        {
            if (e is not null)
            {
                throw new InvalidOperationException("a rank failed: " + e.Message, e);
            }
        }
    }
}
