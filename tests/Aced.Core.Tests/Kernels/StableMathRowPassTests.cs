using System;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Aced.Core.Tests.Kernels;

/// <summary>
/// The shared row drivers <see cref="StableMath.RowPass{TOperator}"/> and <see cref="StableMath.SumInLanes{TOperator}"/>
/// with small test operators whose results are exact in float (small integers), so every width (512, 256, 128
/// bits, scalar) must agree with a plain loop to the bit, for every length 0..257.
/// </summary>
public class StableMathRowPassTests
{
    public static TheoryData<int> AllLengths()
    {
        var data = new TheoryData<int>();
        for (int n = 0; n <= 257; n++)
        {
            data.Add(n);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(AllLengths))]
    public void RowPass_FourInputs_MatchesScalarLoop(int n)
    {
        float[] p = Integers(n, 1), x = Integers(n, 2), y = Integers(n, 3), z = Integers(n, 4), w = Integers(n, 5);
        float[] destination = Integers(n, 6), columns = Integers(n, 7);
        float[] expectedDestination = (float[])destination.Clone(), expectedColumns = (float[])columns.Clone();
        double e0 = 0, e1 = 0, e2 = 0;
        for (int j = 0; j < n; j++)
        {
            float result = (p[j] * x[j]) + y[j];
            expectedDestination[j] += result;
            expectedColumns[j] += z[j] - w[j];
            e0 += result;
            e1 += p[j];
            e2 += w[j];
        }

        StableMath.RowSums sums = StableMath.RowPass(new TestFourInputs(subtract: false), p, x, y, z, w, destination, true, columns);

        Assert.Equal(expectedDestination, destination);
        Assert.Equal(expectedColumns, columns);
        Assert.Equal(e0, sums.Sum0);
        Assert.Equal(e1, sums.Sum1);
        Assert.Equal(e2, sums.Sum2);
    }

    [Theory]
    [MemberData(nameof(AllLengths))]
    public void RowPass_InPlaceNoInputsNoColumns_OverwritesRowAndIgnoresUnusedSums(int n)
    {
        float[] p = Integers(n, 8);
        var expected = new float[n];
        double e0 = 0;
        for (int j = 0; j < n; j++)
        {
            expected[j] = (2f * p[j]) - 1f;
            e0 += p[j];
        }

        // The auxiliary spans and columns are empty: the operator reads no input, so the driver must not load them.
        StableMath.RowSums sums = StableMath.RowPass(new TestAffine(), p, default, default, default, default, p, false, default);

        Assert.Equal(expected, p);
        Assert.Equal(e0, sums.Sum0);
        Assert.Equal(0, sums.Sum1);
        Assert.Equal(0, sums.Sum2);
    }

    [Theory]
    [MemberData(nameof(AllLengths))]
    public void RowPass_EmptyDestinationSubtractingColumns_OnlyReducesAndSubtractsColumns(int n)
    {
        float[] p = Integers(n, 10), x = Integers(n, 11), y = Integers(n, 12), z = Integers(n, 13), w = Integers(n, 14);
        float[] original = (float[])p.Clone(), columns = Integers(n, 15), expectedColumns = (float[])columns.Clone();
        double e0 = 0;
        for (int j = 0; j < n; j++)
        {
            expectedColumns[j] -= z[j] - w[j];
            e0 += (p[j] * x[j]) + y[j];
        }

        StableMath.RowSums sums = StableMath.RowPass(new TestFourInputs(subtract: true), p, x, y, z, w, default, true, columns);

        Assert.Equal(original, p);
        Assert.Equal(expectedColumns, columns);
        Assert.Equal(e0, sums.Sum0);
    }

    [Theory]
    [MemberData(nameof(AllLengths))]
    public void SumInLanes_Integers_MatchesScalarLoop(int n)
    {
        float[] x = Integers(n, 9);
        double expected = 0;
        for (int j = 0; j < n; j++)
        {
            expected += (3f * x[j]) + 1f;
        }

        Assert.Equal(expected, StableMath.SumInLanes(new TestUnary(), x));
    }

    /// <summary>Integers in [-8, 8]: every product and partial sum below is exact in float, whatever the lane order.</summary>
    private static float[] Integers(int n, ulong stream)
    {
        var rng = new CounterRng(77, stream * 1000 + (ulong)n);
        var v = new float[n];
        for (int j = 0; j < n; j++)
        {
            v[j] = (int)(rng.NextUInt32() % 17) - 8;
        }

        return v;
    }

    /// <summary>out = p x + y; sums (out, p, w); column z - w, added or (when constructed so) subtracted.</summary>
    private readonly struct TestFourInputs : StableMath.IRowOperator
    {
        private readonly bool _subtract;

        public TestFourInputs(bool subtract) => _subtract = subtract;

        public int Inputs => 4;

        public int Sums => 3;

        public bool SubtractsColumn => _subtract;

        public float Invoke(float p, float x, float y, float z, float w, out float sum0, out float sum1, out float sum2, out float column)
        {
            float r = (p * x) + y;
            (sum0, sum1, sum2, column) = (r, p, w, z - w);
            return r;
        }

        public Vector128<float> Invoke(Vector128<float> p, Vector128<float> x, Vector128<float> y, Vector128<float> z, Vector128<float> w, out Vector128<float> sum0, out Vector128<float> sum1, out Vector128<float> sum2, out Vector128<float> column)
        {
            Vector128<float> r = (p * x) + y;
            (sum0, sum1, sum2, column) = (r, p, w, z - w);
            return r;
        }

        public Vector256<float> Invoke(Vector256<float> p, Vector256<float> x, Vector256<float> y, Vector256<float> z, Vector256<float> w, out Vector256<float> sum0, out Vector256<float> sum1, out Vector256<float> sum2, out Vector256<float> column)
        {
            Vector256<float> r = (p * x) + y;
            (sum0, sum1, sum2, column) = (r, p, w, z - w);
            return r;
        }

        public Vector512<float> Invoke(Vector512<float> p, Vector512<float> x, Vector512<float> y, Vector512<float> z, Vector512<float> w, out Vector512<float> sum0, out Vector512<float> sum1, out Vector512<float> sum2, out Vector512<float> column)
        {
            Vector512<float> r = (p * x) + y;
            (sum0, sum1, sum2, column) = (r, p, w, z - w);
            return r;
        }
    }

    /// <summary>out = 2p - 1; one sum (p); the other sums are deliberately non-zero and must be ignored.</summary>
    private readonly struct TestAffine : StableMath.IRowOperator
    {
        public int Inputs => 0;

        public int Sums => 1;

        public bool SubtractsColumn => false;

        public float Invoke(float p, float x, float y, float z, float w, out float sum0, out float sum1, out float sum2, out float column)
        {
            (sum0, sum1, sum2, column) = (p, 1f, 1f, 0f);
            return (2f * p) - 1f;
        }

        public Vector128<float> Invoke(Vector128<float> p, Vector128<float> x, Vector128<float> y, Vector128<float> z, Vector128<float> w, out Vector128<float> sum0, out Vector128<float> sum1, out Vector128<float> sum2, out Vector128<float> column)
        {
            (sum0, sum1, sum2, column) = (p, Vector128<float>.One, Vector128<float>.One, Vector128<float>.Zero);
            return (Vector128.Create(2f) * p) - Vector128<float>.One;
        }

        public Vector256<float> Invoke(Vector256<float> p, Vector256<float> x, Vector256<float> y, Vector256<float> z, Vector256<float> w, out Vector256<float> sum0, out Vector256<float> sum1, out Vector256<float> sum2, out Vector256<float> column)
        {
            (sum0, sum1, sum2, column) = (p, Vector256<float>.One, Vector256<float>.One, Vector256<float>.Zero);
            return (Vector256.Create(2f) * p) - Vector256<float>.One;
        }

        public Vector512<float> Invoke(Vector512<float> p, Vector512<float> x, Vector512<float> y, Vector512<float> z, Vector512<float> w, out Vector512<float> sum0, out Vector512<float> sum1, out Vector512<float> sum2, out Vector512<float> column)
        {
            (sum0, sum1, sum2, column) = (p, Vector512<float>.One, Vector512<float>.One, Vector512<float>.Zero);
            return (Vector512.Create(2f) * p) - Vector512<float>.One;
        }
    }

    /// <summary>3x + 1.</summary>
    private readonly struct TestUnary : StableMath.IUnaryOperator
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public float Invoke(float x) => (3f * x) + 1f;

        public Vector128<float> Invoke(Vector128<float> x) => (Vector128.Create(3f) * x) + Vector128<float>.One;

        public Vector256<float> Invoke(Vector256<float> x) => (Vector256.Create(3f) * x) + Vector256<float>.One;

        public Vector512<float> Invoke(Vector512<float> x) => (Vector512.Create(3f) * x) + Vector512<float>.One;
    }
}
