using System;
using System.Runtime.Intrinsics;

namespace Aced.Core.Tests.Kernels;

/// <summary>
/// <see cref="StableMath.SumInLanesDoubleTail{TOperator}"/>: float lanes in the widest width, at most one 256-bit step,
/// no 128-bit step, the tail through the operator's double form; checked bit for bit against that loop written out,
/// with order-sensitive random floats and a tail form that differs from the float form, for every length 0..257.
/// </summary>
public class StableMathSumInLanesDoubleTailTests
{
    [Theory]
    [MemberData(nameof(StableMathRowPassTests.AllLengths), MemberType = typeof(StableMathRowPassTests))]
    public void SumInLanesDoubleTail_RandomRow_EqualsWidestLanesOne256StepDoubleTail(int n)
    {
        float[] x = RandomRow(n);
        double expected = Expected(x);
        double actual = StableMath.SumInLanesDoubleTail(new TestTriple(), x);
        Assert.True(BitConverter.DoubleToInt64Bits(expected) == BitConverter.DoubleToInt64Bits(actual), $"n={n}: {actual} vs {expected}");
    }

    [Theory]
    [MemberData(nameof(StableMathRowPassTests.AllLengths), MemberType = typeof(StableMathRowPassTests))]
    public void SumInLanesDoubleTail_PairedOperator_EqualsWidestLanesOne256StepDoubleTail(int n)
    {
        // Where Vector256 is the widest width the driver takes two vectors per step from a paired operator, and four with
        // Vector512: the same single accumulator in the same order, so the same bits as the loop written out one vector
        // at a time.
        float[] x = RandomRow(n);
        double expected = Expected(x);
        double actual = StableMath.SumInLanesDoubleTail(new PairedTriple(0f), x);
        Assert.True(BitConverter.DoubleToInt64Bits(expected) == BitConverter.DoubleToInt64Bits(actual), $"n={n}: {actual} vs {expected}");
    }

    [Fact]
    public void SumInLanesDoubleTail_PairedOperator_PairFormRunsOnlyWhereVector256IsWidest()
    {
        // A pair form that adds 1 per lane shows where it runs: 33 elements = two 16-element pair steps (32 lanes) and
        // a tail on a Vector256-only machine; never with Vector512 (at most one 256-bit step follows its loop).
        float[] x = new float[33];
        double actual = StableMath.SumInLanesDoubleTail(new PairedTriple(1f), x);
        double expected = Vector256.IsHardwareAccelerated && !Vector512.IsHardwareAccelerated ? 32 : 0;
        Assert.Equal(expected + (Math.ScaleB(1.0, -40) * (Vector256.IsHardwareAccelerated ? 1 : 33)), actual);
    }

    [Fact]
    public void SumInLanesDoubleTail_QuadOperator_QuadFormRunsOnlyWhereVector512IsAccelerated()
    {
        // 65 elements: with Vector512 one quad step (64 lanes, 2 each) and a tail element; where Vector256 is the widest,
        // four pair steps (64 lanes, 1 each) and a tail element; without Vector256, 65 tail elements.
        float[] x = new float[65];
        double actual = StableMath.SumInLanesDoubleTail(new PairedTriple(1f), x);
        double expected = Vector512.IsHardwareAccelerated ? 128 : Vector256.IsHardwareAccelerated ? 64 : 0;
        Assert.Equal(expected + (Math.ScaleB(1.0, -40) * (Vector256.IsHardwareAccelerated ? 1 : 65)), actual);
    }

    private static float[] RandomRow(int n)
    {
        var rng = new CounterRng(53, (ulong)n);
        float[] x = new float[n];
        for (int j = 0; j < n; j++)
        {
            x[j] = (2f * rng.NextFloat()) - 1f;
        }

        return x;
    }

    /// <summary>The order of <see cref="StableMath.SumInLanesDoubleTail{TOperator}"/> written out for <see cref="TestTriple"/>.</summary>
    private static double Expected(float[] x)
    {
        int n = x.Length;
        double expected = 0;
        int i = 0;
        if (Vector512.IsHardwareAccelerated && n >= 16)
        {
            Vector512<float> acc = Vector512<float>.Zero;
            for (; i + 16 <= n; i += 16)
            {
                acc += Vector512.Create(x.AsSpan(i, 16)) * Vector512.Create(3f);
            }

            expected += VectorMath.HorizontalSum(acc);
        }

        if (Vector256.IsHardwareAccelerated && i + 8 <= n)
        {
            Vector256<float> acc = Vector256<float>.Zero;
            for (; i + 8 <= n; i += 8)
            {
                acc += Vector256.Create(x.AsSpan(i, 8)) * Vector256.Create(3f);
            }

            expected += VectorMath.HorizontalSum(acc);
        }

        for (; i < n; i++)
        {
            expected += TestTriple.Tail(x[i]);
        }

        return expected;
    }

    /// <summary>3x in float; the tail 3x + 2^-40 in double (so a tail summed through the float form would differ).</summary>
    private readonly struct TestTriple : StableMath.IDoubleTailOperator
    {
        public static double Tail(float x) => (3.0 * x) + Math.ScaleB(1.0, -40);

        public bool Pairs => false;

        public double InvokeTail(float x) => Tail(x);

        public void Invoke(Vector256<float> x0, Vector256<float> x1, out Vector256<float> s0, out Vector256<float> s1) =>
            throw new InvalidOperationException("Pairs is false");

        public bool Quads => false;

        public Vector512<float> Invoke(Vector512<float> acc, Vector512<float> x0, Vector512<float> x1, Vector512<float> x2, Vector512<float> x3) =>
            throw new InvalidOperationException("Quads is false");

        public float Invoke(float x) => 3f * x;

        public Vector128<float> Invoke(Vector128<float> x) => x * Vector128.Create(3f);

        public Vector256<float> Invoke(Vector256<float> x) => x * Vector256.Create(3f);

        public Vector512<float> Invoke(Vector512<float> x) => x * Vector512.Create(3f);
    }

    /// <summary>
    /// <see cref="TestTriple"/> with a pair form, 3x + <c>mark</c> per lane, and a quad form, 3x + 2 <c>mark</c> per lane
    /// added to the accumulator one vector after another (mark 0: the same bits as single calls).
    /// </summary>
    private readonly struct PairedTriple : StableMath.IDoubleTailOperator
    {
        private readonly float _mark;

        public PairedTriple(float mark) => _mark = mark;

        public bool Pairs => true;

        public double InvokeTail(float x) => TestTriple.Tail(x);

        public void Invoke(Vector256<float> x0, Vector256<float> x1, out Vector256<float> s0, out Vector256<float> s1)
        {
            s0 = (x0 * Vector256.Create(3f)) + Vector256.Create(_mark);
            s1 = (x1 * Vector256.Create(3f)) + Vector256.Create(_mark);
        }

        public bool Quads => true;

        public Vector512<float> Invoke(Vector512<float> acc, Vector512<float> x0, Vector512<float> x1, Vector512<float> x2, Vector512<float> x3)
        {
            Vector512<float> mark = Vector512.Create(2f * _mark);
            acc += (x0 * Vector512.Create(3f)) + mark;
            acc += (x1 * Vector512.Create(3f)) + mark;
            acc += (x2 * Vector512.Create(3f)) + mark;
            return acc + ((x3 * Vector512.Create(3f)) + mark);
        }

        public float Invoke(float x) => 3f * x;

        public Vector128<float> Invoke(Vector128<float> x) => x * Vector128.Create(3f);

        public Vector256<float> Invoke(Vector256<float> x) => x * Vector256.Create(3f);

        public Vector512<float> Invoke(Vector512<float> x) => x * Vector512.Create(3f);
    }
}
