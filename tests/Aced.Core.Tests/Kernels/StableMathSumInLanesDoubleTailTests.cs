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
        var rng = new CounterRng(53, (ulong)n);
        float[] x = new float[n];
        for (int j = 0; j < n; j++)
        {
            x[j] = (2f * rng.NextFloat()) - 1f;
        }

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

        double actual = StableMath.SumInLanesDoubleTail(new TestTriple(), x);
        Assert.True(BitConverter.DoubleToInt64Bits(expected) == BitConverter.DoubleToInt64Bits(actual), $"n={n}: {actual} vs {expected}");
    }

    /// <summary>3x in float; the tail 3x + 2^-40 in double (so a tail summed through the float form would differ).</summary>
    private readonly struct TestTriple : StableMath.IDoubleTailOperator
    {
        public static double Tail(float x) => (3.0 * x) + Math.ScaleB(1.0, -40);

        public double InvokeTail(float x) => Tail(x);

        public float Invoke(float x) => 3f * x;

        public Vector128<float> Invoke(Vector128<float> x) => x * Vector128.Create(3f);

        public Vector256<float> Invoke(Vector256<float> x) => x * Vector256.Create(3f);

        public Vector512<float> Invoke(Vector512<float> x) => x * Vector512.Create(3f);
    }
}
