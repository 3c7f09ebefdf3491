using System;
using System.Threading;

namespace Aced.Core.Tests;

/// <summary>
/// Tests of the worker pool's polling before blocking (<see cref="AcedControl.WorkerSpinMicroseconds"/>): it may
/// change only the scheduling, never which items run or the results. They change global settings, so they run alone.
/// </summary>
[Collection(GemmGlobalStateCollection.Name)]
public sealed class WorkerPoolSpinTests
{
    /// <summary>Counts each finished run of a partition and writes a per-partition value that depends only on the partition.</summary>
    private readonly struct RecordBody : IPartitionBody
    {
        private readonly int[] _counts;
        private readonly float[] _values;
        private readonly int _work;

        public RecordBody(int[] counts, float[] values, int work)
        {
            _counts = counts;
            _values = values;
            _work = work;
        }

        public void Execute(int partition)
        {
            float sum = 0f;
            for (int i = 0; i < _work; i++)
            {
                sum += StableMath.Softplus((partition * 0.37f) - (i * 0.01f)) * MathF.Sin(i + partition);
            }

            _values[partition] = sum;

            // Counted last: a call that returned before an item finished shows a missing count.
            Interlocked.Increment(ref _counts[partition]);
        }
    }

    private readonly struct NestedBody : IPartitionBody
    {
        private readonly int[][] _inner;

        public NestedBody(int[][] inner) => _inner = inner;

        public void Execute(int partition)
        {
            int[] counts = _inner[partition];
            ParallelPartition.Run(counts.Length, new RecordBody(counts, new float[counts.Length], 8));
        }
    }

    private readonly struct ThrowingBody : IPartitionBody
    {
        private readonly int _bad;

        public ThrowingBody(int bad) => _bad = bad;

        public void Execute(int partition)
        {
            if (partition == _bad)
            {
                throw new InvalidOperationException($"partition {partition} failed");
            }
        }
    }

    /// <summary>
    /// Runs <paramref name="calls"/> back-to-back calls (partition counts and per-item work varying by call, the
    /// degree cycling through <paramref name="degrees"/>) and returns the values of every call, asserting that each
    /// call ran each of its partitions exactly once.
    /// </summary>
    private static float[][] RunCalls(int calls, int spinMicroseconds, int[] degrees)
    {
        int oldSpin = AcedControl.WorkerSpinMicroseconds;
        int oldDegree = AcedControl.MaxDegreeOfParallelism;
        var results = new float[calls][];
        try
        {
            AcedControl.WorkerSpinMicroseconds = spinMicroseconds;
            for (int call = 0; call < calls; call++)
            {
                AcedControl.MaxDegreeOfParallelism = degrees[call % degrees.Length];
                int partitions = 1 + (call * 7 % 13);
                var counts = new int[partitions];
                var values = new float[partitions];
                ParallelPartition.Run(partitions, new RecordBody(counts, values, (call % 5) * 40));
                results[call] = (float[])values.Clone();
                for (int p = 0; p < partitions; p++)
                {
                    Assert.True(counts[p] == 1, $"call {call} (degree {AcedControl.MaxDegreeOfParallelism}, spin {spinMicroseconds}) ran partition {p} {counts[p]} times");
                }
            }
        }
        finally
        {
            AcedControl.WorkerSpinMicroseconds = oldSpin;
            AcedControl.MaxDegreeOfParallelism = oldDegree;
        }

        return results;
    }

    private static void AssertSame(float[][] expected, float[][] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int call = 0; call < expected.Length; call++)
        {
            Assert.Equal(expected[call].Length, actual[call].Length);
            for (int p = 0; p < expected[call].Length; p++)
            {
                Assert.Equal(BitConverter.SingleToInt32Bits(expected[call][p]), BitConverter.SingleToInt32Bits(actual[call][p]));
            }
        }
    }

    [Theory]
    [InlineData(50)]
    [InlineData(1)]
    [InlineData(100_000)]
    public void Run_BackToBackCalls_SpinOnAndOff_SameItemsAndBits(int spin)
    {
        float[][] blocking = RunCalls(3000, 0, [2]);
        float[][] polling = RunCalls(3000, spin, [2]);
        AssertSame(blocking, polling);
    }

    [Fact]
    public void Run_AlternatingDegreesAndSpin_EveryItemOnceAndSameBits()
    {
        float[][] serial = RunCalls(2000, 0, [1]);
        AssertSame(serial, RunCalls(2000, 0, [2, 1, 3, 2, 3, 1]));
        AssertSame(serial, RunCalls(2000, 50, [2, 1, 3, 2, 3, 1]));
        AssertSame(serial, RunCalls(2000, 1, [3, 3, 2, 1, 2]));
        for (int round = 0; round < 6; round++)
        {
            AssertSame(serial, RunCalls(2000, round % 2 == 0 ? 20 : 0, [round % 3 + 1, 3, 2]));
        }
    }

    [Fact]
    public void Run_NestedCallsWhilePolling_CompleteEveryInnerPartition()
    {
        int oldSpin = AcedControl.WorkerSpinMicroseconds;
        try
        {
            AcedControl.WorkerSpinMicroseconds = 1000;
            for (int repeat = 0; repeat < 200; repeat++)
            {
                var inner = new int[5][];
                for (int i = 0; i < inner.Length; i++)
                {
                    inner[i] = new int[3 + i];
                }

                ParallelPartition.Run(inner.Length, new NestedBody(inner));
                Assert.All(inner, counts => Assert.All(counts, c => Assert.Equal(1, c)));
            }
        }
        finally
        {
            AcedControl.WorkerSpinMicroseconds = oldSpin;
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1000)]
    public void Run_BodyThrowsWhilePolling_ExceptionPropagatesAndPoolStaysUsable(int spin)
    {
        int oldSpin = AcedControl.WorkerSpinMicroseconds;
        try
        {
            AcedControl.WorkerSpinMicroseconds = spin;
            for (int bad = 0; bad < 8; bad++)
            {
                int failing = bad;
                Assert.Throws<InvalidOperationException>(() => ParallelPartition.Run(8, new ThrowingBody(failing)));
                var counts = new int[9];
                ParallelPartition.Run(counts.Length, new RecordBody(counts, new float[counts.Length], 4));
                Assert.All(counts, c => Assert.Equal(1, c));
            }
        }
        finally
        {
            AcedControl.WorkerSpinMicroseconds = oldSpin;
        }
    }

    [Fact]
    public void WorkerSpinMicroseconds_NegativeRejected_ZeroAccepted_ShownInDescribe()
    {
        int old = AcedControl.WorkerSpinMicroseconds;
        try
        {
            Assert.Equal(AcedControl.DefaultWorkerSpinMicroseconds, old);
            AcedControl.WorkerSpinMicroseconds = 0;
            Assert.Equal(0, AcedControl.WorkerSpinMicroseconds);
            ArgumentOutOfRangeException error = Assert.Throws<ArgumentOutOfRangeException>(() => AcedControl.WorkerSpinMicroseconds = -1);
            Assert.Contains("value", error.ParamName, StringComparison.Ordinal);
            Assert.Equal(0, AcedControl.WorkerSpinMicroseconds);
            AcedControl.WorkerSpinMicroseconds = 7;
            Assert.Contains("WorkerSpinMicroseconds=7", AcedControl.Describe(), StringComparison.Ordinal);
        }
        finally
        {
            AcedControl.WorkerSpinMicroseconds = old;
        }
    }
}
