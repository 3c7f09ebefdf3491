using System;
using System.Threading;

namespace Aced.Core.Tests;

/// <summary>
/// Stress tests of the worker pool's hand-off between back-to-back calls: every call runs each of its items exactly
/// once and has finished them all when it returns, whatever the degree of the calls before it, with the same bits as
/// a serial run. They change the degree of parallelism, so they run alone.
/// </summary>
[Collection(GemmGlobalStateCollection.Name)]
public sealed class WorkerPoolStressTests
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

    /// <summary>
    /// Runs <paramref name="calls"/> back-to-back calls (partition counts and per-item work varying by call, the
    /// degree cycling through <paramref name="degrees"/>) and returns the values of every call, asserting that each
    /// call ran each of its partitions exactly once.
    /// </summary>
    private static float[][] RunCalls(int calls, int[] degrees)
    {
        int oldDegree = AcedControl.MaxDegreeOfParallelism;
        var results = new float[calls][];
        try
        {
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
                    Assert.True(counts[p] == 1, $"call {call} (degree {AcedControl.MaxDegreeOfParallelism}) ran partition {p} {counts[p]} times");
                }
            }
        }
        finally
        {
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

    [Fact]
    public void Run_BackToBackCalls_EveryItemOnceAndSameBitsAsSerial()
    {
        float[][] serial = RunCalls(3000, [1]);
        AssertSame(serial, RunCalls(3000, [2]));
        AssertSame(serial, RunCalls(3000, [3]));
    }

    /// <summary>
    /// The spin-then-block hand-off (<see cref="WorkerPool.SpinBeforeBlocking"/>) on, off and flipped between calls,
    /// with spin times from none to longer than a call: a caller that returned before a helper's last item finished,
    /// or a helper that never woke, would show as a missing count or (with a short spin) a hang.
    /// </summary>
    [Theory]
    [InlineData(0)]
    [InlineData(5)]
    [InlineData(200)]
    [InlineData(5000)]
    public void Run_SpinBeforeBlockingOnOffOrFlipped_EveryItemOnceAndSameBitsAsSerial(int spinMicroseconds)
    {
        bool savedSpin = WorkerPool.SpinBeforeBlocking;
        int savedTime = WorkerPool.SpinMicroseconds;
        try
        {
            WorkerPool.SpinMicroseconds = spinMicroseconds;
            float[][] serial = RunCalls(1500, [1]);
            foreach (bool spin in new[] { true, false, true })
            {
                WorkerPool.SpinBeforeBlocking = spin;
                AssertSame(serial, RunCalls(1500, [2, 3, 2]));
            }

            for (int round = 0; round < 20; round++)
            {
                WorkerPool.SpinBeforeBlocking = round % 2 == 0;
                AssertSame(serial[..75], RunCalls(75, [2, 3]));
            }
        }
        finally
        {
            WorkerPool.SpinBeforeBlocking = savedSpin;
            WorkerPool.SpinMicroseconds = savedTime;
        }
    }

    /// <summary>
    /// The public spin control (<see cref="AcedControl.PoolSpinMicroseconds"/>) is the pool's spin time, 0 turns the
    /// spin off (the threads block at once), and calls stay correct when it moves between 0 and a spin between calls.
    /// </summary>
    [Fact]
    public void PoolSpinMicroseconds_IsThePoolsSpinTime_AndCallsStayCorrectWhenItFlipsToZero()
    {
        int saved = AcedControl.PoolSpinMicroseconds;
        try
        {
            Assert.Equal(WorkerPool.DefaultSpinMicroseconds, saved);
            AcedControl.PoolSpinMicroseconds = 0;
            Assert.Equal(0, WorkerPool.SpinMicroseconds);
            Assert.Contains("PoolSpinMicroseconds=0", AcedControl.Describe());
            AcedControl.PoolSpinMicroseconds = AcedControl.MaxPoolSpinMicroseconds;
            Assert.Equal(AcedControl.MaxPoolSpinMicroseconds, WorkerPool.SpinMicroseconds);

            var negative = Assert.Throws<ArgumentOutOfRangeException>(() => AcedControl.PoolSpinMicroseconds = -1);
            Assert.Equal(nameof(AcedControl.PoolSpinMicroseconds), negative.ParamName);
            Assert.Contains("between 0", negative.Message);
            Assert.Throws<ArgumentOutOfRangeException>(() => AcedControl.PoolSpinMicroseconds = AcedControl.MaxPoolSpinMicroseconds + 1);
            Assert.Equal(AcedControl.MaxPoolSpinMicroseconds, AcedControl.PoolSpinMicroseconds);

            float[][] serial = RunCalls(600, [1]);
            for (int round = 0; round < 8; round++)
            {
                AcedControl.PoolSpinMicroseconds = round % 2 == 0 ? 0 : 150;
                AssertSame(serial[..75], RunCalls(75, [2, 3]));
            }
        }
        finally
        {
            AcedControl.PoolSpinMicroseconds = saved;
        }
    }

    [Fact]
    public void Run_AlternatingDegrees_EveryItemOnceAndSameBitsAsSerial()
    {
        float[][] serial = RunCalls(2000, [1]);
        for (int round = 0; round < 6; round++)
        {
            AssertSame(serial, RunCalls(2000, [(round % 3) + 1, 2, 1, 3, 2, 3, 1]));
        }
    }
}
