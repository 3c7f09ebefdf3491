using System;
using System.Threading;
using System.Threading.Tasks;

namespace Aced.Core.Tests;

/// <summary>Tests of <see cref="ParallelPartition"/>; they change GemmControl.MaxDegreeOfParallelism, so they run alone.</summary>
[Collection(GemmGlobalStateCollection.Name)]
public sealed class ParallelPartitionTests
{
    private readonly struct CountBody : IPartitionBody
    {
        private readonly int[] _counts;

        public CountBody(int[] counts) => _counts = counts;

        public void Execute(int partition) => Interlocked.Increment(ref _counts[partition]);
    }

    /// <summary>Each partition sums a transcendental series over its own slice into its own slot.</summary>
    private readonly struct SeriesBody : IPartitionBody
    {
        private readonly float[] _values;
        private readonly double[] _partials;
        private readonly int _chunk;

        public SeriesBody(float[] values, double[] partials, int chunk)
        {
            _values = values;
            _partials = partials;
            _chunk = chunk;
        }

        public void Execute(int partition)
        {
            int start = partition * _chunk;
            int end = Math.Min(start + _chunk, _values.Length);
            float sum = 0f;
            for (int i = start; i < end; i++)
            {
                sum += StableMath.Softplus(_values[i]) * MathF.Sin(i);
            }

            _partials[partition] = sum;
        }
    }

    private readonly struct NestedBody : IPartitionBody
    {
        private readonly int[][] _inner;

        public NestedBody(int[][] inner) => _inner = inner;

        public void Execute(int partition) => ParallelPartition.Run(_inner[partition].Length, new CountBody(_inner[partition]));
    }

    private readonly struct ThrowingBody : IPartitionBody
    {
        private readonly int _bad;
        private readonly int[] _counts;

        public ThrowingBody(int bad, int[] counts)
        {
            _bad = bad;
            _counts = counts;
        }

        public void Execute(int partition)
        {
            Interlocked.Increment(ref _counts[partition]);
            if (partition == _bad)
            {
                throw new InvalidOperationException($"partition {partition} failed");
            }
        }
    }

    private sealed class ClassBody : IPartitionBody
    {
        public int[] Counts { get; } = new int[41];

        public void Execute(int partition) => Interlocked.Increment(ref Counts[partition]);
    }

    private static void WithDegree(int degree, Action action)
    {
        int old = GemmControl.MaxDegreeOfParallelism;
        try
        {
            GemmControl.MaxDegreeOfParallelism = degree;
            action();
        }
        finally
        {
            GemmControl.MaxDegreeOfParallelism = old;
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(8)]
    public void Run_AnyPartitionCount_RunsEveryPartitionExactlyOnce(int degree)
    {
        WithDegree(degree, () =>
        {
            foreach (int count in new[] { 0, 1, 2, 3, 7, 64, 257 })
            {
                int[] counts = new int[count];
                for (int repeat = 0; repeat < 5; repeat++)
                {
                    ParallelPartition.Run(count, new CountBody(counts));
                }

                for (int p = 0; p < count; p++)
                {
                    Assert.Equal(5, counts[p]);
                }
            }

            var classBody = new ClassBody();
            ParallelPartition.Run(classBody.Counts.Length, classBody);
            Assert.All(classBody.Counts, c => Assert.Equal(1, c));
        });
    }

    [Fact]
    public void Run_OneTwoThreeThreads_BitIdenticalResults()
    {
        var rng = new CounterRng(21, 0);
        float[] values = new float[10_007];
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = (rng.NextFloat() - 0.5f) * 40f;
        }

        const int chunk = 97;
        int partitions = (values.Length + chunk - 1) / chunk;
        double[][] results = new double[3][];
        for (int degree = 1; degree <= 3; degree++)
        {
            double[] partials = new double[partitions];
            WithDegree(degree, () => ParallelPartition.Run(partitions, new SeriesBody(values, partials, chunk)));
            results[degree - 1] = partials;
        }

        Assert.Equal(results[0], results[1]);
        Assert.Equal(results[0], results[2]);
        Assert.Contains(results[0], v => v != 0);
    }

    [Fact]
    public void Run_NestedCalls_RunSeriallyAndCompleteEveryInnerPartition()
    {
        WithDegree(3, () =>
        {
            int[][] inner = new int[9][];
            for (int i = 0; i < inner.Length; i++)
            {
                inner[i] = new int[i + 5];
            }

            ParallelPartition.Run(inner.Length, new NestedBody(inner));
            foreach (int[] counts in inner)
            {
                Assert.All(counts, c => Assert.Equal(1, c));
            }
        });
    }

    [Fact]
    public void Run_ConcurrentCallersAndGemm_EveryCallCompletes()
    {
        WithDegree(3, () =>
        {
            const int callers = 4;
            const int rounds = 200;
            int[][] counts = new int[callers][];
            Task[] tasks = new Task[callers + 1];
            for (int t = 0; t < callers; t++)
            {
                int[] mine = counts[t] = new int[33];
                tasks[t] = Task.Run(() =>
                {
                    for (int r = 0; r < rounds; r++)
                    {
                        ParallelPartition.Run(mine.Length, new CountBody(mine));
                    }
                });
            }

            // A GEMM competing for the same worker pool.
            tasks[callers] = Task.Run(() =>
            {
                var a = new Matrix(64, 64);
                var c = new Matrix(64, 64);
                a.Data.AsSpan().Fill(0.5f);
                for (int r = 0; r < 20; r++)
                {
                    Gemm.Multiply(Transpose.None, Transpose.Transposed, 1f, a.View, a.View, 0f, c.View);
                }

                Assert.Equal(16f, c[3, 5]);
            });
            Assert.True(Task.WaitAll(tasks, TimeSpan.FromSeconds(60)), "concurrent calls did not finish");
            foreach (int[] mine in counts)
            {
                Assert.All(mine, c => Assert.Equal(rounds, c));
            }
        });
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public void Run_BodyThrows_ExceptionPropagatesAndPoolStaysUsable(int degree)
    {
        WithDegree(degree, () =>
        {
            int[] counts = new int[50];
            var ex = Assert.Throws<InvalidOperationException>(() => ParallelPartition.Run(counts.Length, new ThrowingBody(17, counts)));
            Assert.Equal("partition 17 failed", ex.Message);
            Assert.Contains(nameof(ThrowingBody), ex.StackTrace);
            Assert.All(counts, c => Assert.InRange(c, 0, 1));

            int[] after = new int[50];
            ParallelPartition.Run(after.Length, new CountBody(after));
            Assert.All(after, c => Assert.Equal(1, c));
        });
    }

    [Fact]
    public void Run_InvalidArguments_Throw()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => ParallelPartition.Run(-1, new CountBody(new int[1])));
        Assert.Throws<ArgumentNullException>(() => ParallelPartition.Run<ClassBody>(3, null!));
    }

    [Fact]
    public void Run_SteadyState_AllocatesNothing()
    {
        WithDegree(2, () =>
        {
            float[] values = new float[4099];
            values.AsSpan().Fill(0.25f);
            double[] partials = new double[43];
            var body = new SeriesBody(values, partials, 100);
            long allocated = SteadyStateAllocation.MinimumBytes(() => ParallelPartition.Run(partials.Length, body), callsPerRound: 50);

            Assert.Equal(0, allocated);
        });
    }

    /// <summary>Partition 0 waits (bounded) until another partition has started on a different thread.</summary>
    private readonly struct MeetBody : IPartitionBody
    {
        private readonly int[] _threads;
        private readonly ManualResetEventSlim _met;

        public MeetBody(int[] threads, ManualResetEventSlim met)
        {
            _threads = threads;
            _met = met;
        }

        public void Execute(int partition)
        {
            _threads[partition] = Environment.CurrentManagedThreadId;
            if (partition == 0)
            {
                _met.Wait(TimeSpan.FromSeconds(30));
            }
            else if (Environment.CurrentManagedThreadId != _threads[0])
            {
                _met.Set();
            }
        }
    }

    private sealed class SerialOnlyProvider : IGemmProvider
    {
        public string Name => "serial test provider";

        public void Sgemm(Transpose transA, Transpose transB, int m, int n, int k, float alpha, ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc) =>
            ManagedGemmProvider.Instance.Sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    }

    [Fact]
    public void Run_NonManagedGemmProvider_StillRunsOnSeveralThreads()
    {
        IGemmProvider old = GemmControl.Provider;
        try
        {
            GemmControl.Provider = new SerialOnlyProvider();
            WithDegree(2, () =>
            {
                int[] threads = new int[2];
                using var met = new ManualResetEventSlim(false);
                ParallelPartition.Run(2, new MeetBody(threads, met));
                Assert.True(met.IsSet, "with degree 2 a pool worker should run a partition while the caller holds partition 0");
                Assert.NotEqual(threads[0], threads[1]);
            });
        }
        finally
        {
            GemmControl.Provider = old;
        }
    }

    [Fact]
    public void MaxDegreeOfParallelism_AcedControlAndGemmControl_AreOneSetting()
    {
        int old = AcedControl.MaxDegreeOfParallelism;
        try
        {
            AcedControl.MaxDegreeOfParallelism = 3;
            Assert.Equal(3, GemmControl.MaxDegreeOfParallelism);
            GemmControl.MaxDegreeOfParallelism = 1;
            Assert.Equal(1, AcedControl.MaxDegreeOfParallelism);
            Assert.Throws<ArgumentOutOfRangeException>(() => AcedControl.MaxDegreeOfParallelism = 0);
            Assert.Equal(1, AcedControl.MaxDegreeOfParallelism);
            Assert.Contains("MaxDegreeOfParallelism=1", AcedControl.Describe());
        }
        finally
        {
            AcedControl.MaxDegreeOfParallelism = old;
        }
    }
}
