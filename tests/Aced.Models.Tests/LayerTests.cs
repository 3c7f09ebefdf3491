using System;
using System.Linq;
using Aced.Core;
using Aced.Models.Layers;

namespace Aced.Models.Tests;

[Collection(GemmProviderCollection.Name)]
public class LayerTests
{
    // Finite differences: eps = 1e-2 in float32 with the loss sum(R o y) accumulated in double;
    // tolerance |numeric - analytic| <= 1e-2 * max(|numeric|, |analytic|) + 1e-3.

    [Theory]
    [InlineData(5, 7)]
    [InlineData(1, 33)]
    public void LayerNorm_ForwardMatchesDoubleReference_AndBackwardMatchesFiniteDifferences(int rows, int d)
    {
        Matrix x = TestData.RandomMatrix(rows, d, 1, 2f);
        float[] gamma = TestData.Random(d, 2);
        float[] beta = TestData.Random(d, 3);
        float[] r = TestData.Random(rows * d, 4);
        var y = new Matrix(rows, d);
        float[] mean = new float[rows];
        float[] rstd = new float[rows];
        RowOps.LayerNormForward(x, gamma, beta, y, mean, rstd);
        for (int i = 0; i < rows; i++)
        {
            double m = 0;
            for (int j = 0; j < d; j++)
            {
                m += x[i, j];
            }

            m /= d;
            double v = 0;
            for (int j = 0; j < d; j++)
            {
                v += (x[i, j] - m) * (x[i, j] - m);
            }

            double s = 1 / Math.Sqrt((v / d) + RowMath.LayerNormEpsilon);
            for (int j = 0; j < d; j++)
            {
                TestData.Close(((x[i, j] - m) * s * gamma[j]) + beta[j], y[i, j], 1e-5, 1e-5, "layer norm");
            }
        }

        var dx = new Matrix(rows, d);
        float[] dgamma = new float[d];
        float[] dbeta = new float[d];
        RowOps.LayerNormBackward(x, gamma, mean, rstd, new Matrix(rows, d, r), dx, dgamma, dbeta);
        double Loss()
        {
            RowOps.LayerNormForward(x, gamma, beta, y, mean, rstd);
            return TestData.Sum(y, r);
        }

        FiniteDifference.Check(x.Data, dx.Data, Loss, "dx");
        FiniteDifference.Check(gamma, dgamma, Loss, "dgamma");
        FiniteDifference.Check(beta, dbeta, Loss, "dbeta");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(8)]
    [InlineData(31)]
    [InlineData(128)]
    [InlineData(133)]
    public void LayerNorm_VectorLanesAndTail_ForwardAndBackwardMatchDoubleReference(int d)
    {
        const int rows = 3;
        Matrix x = TestData.RandomMatrix(rows, d, 21, 3f);
        for (int j = 0; j < d; j++)
        {
            x[1, j] += 100f;
        }

        float[] gamma = TestData.Random(d, 22);
        float[] beta = TestData.Random(d, 23);
        Matrix dy = TestData.RandomMatrix(rows, d, 24);
        var y = new Matrix(rows, d);
        float[] mean = new float[rows];
        float[] rstd = new float[rows];
        RowOps.LayerNormForward(x, gamma, beta, y, mean, rstd);
        var dx = new Matrix(rows, d);
        float[] dgamma = new float[d];
        float[] dbeta = new float[d];
        RowOps.LayerNormBackward(x, gamma, mean, rstd, dy, dx, dgamma, dbeta);
        double[] refDgamma = new double[d];
        double[] refDbeta = new double[d];
        for (int i = 0; i < rows; i++)
        {
            double m = 0;
            for (int j = 0; j < d; j++)
            {
                m += x[i, j];
            }

            m /= d;
            double v = 0;
            for (int j = 0; j < d; j++)
            {
                v += (x[i, j] - m) * (x[i, j] - m);
            }

            double s = 1 / Math.Sqrt((v / d) + RowMath.LayerNormEpsilon);
            TestData.Close(m, mean[i], 1e-6, 1e-5, "mean");
            TestData.Close(s, rstd[i], 1e-5, 1e-6, "rstd");
            // The mean is a float: rounding it moves every centred value by up to one ulp of |mean| (7.6e-6 for the
            // row shifted by 100), whatever the summation order (AVX2 and AVX-512 sum in different lanes).
            float absMean = Math.Abs((float)m);
            double meanUlp = MathF.BitIncrement(absMean) - absMean;
            double sumDn = 0, sumDnXhat = 0;
            for (int j = 0; j < d; j++)
            {
                double xhat = (x[i, j] - m) * s;
                double centring = meanUlp * s * Math.Abs(gamma[j]);
                TestData.Close((xhat * gamma[j]) + beta[j], y[i, j], 1e-5, 1e-5 + centring, "layer norm");
                double dn = dy[i, j] * (double)gamma[j];
                sumDn += dn;
                sumDnXhat += dn * xhat;
                refDgamma[j] += dy[i, j] * xhat;
                refDbeta[j] += dy[i, j];
            }

            for (int j = 0; j < d; j++)
            {
                double xhat = (x[i, j] - m) * s;
                double dn = dy[i, j] * (double)gamma[j];
                TestData.Close(s * (dn - (sumDn / d) - (xhat * sumDnXhat / d)), dx[i, j], 1e-4, 1e-5, "layer norm dx");
            }
        }

        for (int j = 0; j < d; j++)
        {
            TestData.Close(refDgamma[j], dgamma[j], 1e-4, 1e-5, "dgamma");
            TestData.Close(refDbeta[j], dbeta[j], 1e-5, 1e-6, "dbeta");
        }
    }

    [Fact]
    public void LayerNormBackward_AccumulatesIntoDx()
    {
        Matrix x = TestData.RandomMatrix(3, 5, 11);
        float[] gamma = TestData.Random(5, 12);
        float[] mean = new float[3];
        float[] rstd = new float[3];
        RowOps.LayerNormForward(x, gamma, new float[5], new Matrix(3, 5), mean, rstd);
        Matrix dy = TestData.RandomMatrix(3, 5, 13);
        var fresh = new Matrix(3, 5);
        RowOps.LayerNormBackward(x, gamma, mean, rstd, dy, fresh, new float[5], new float[5]);
        var seeded = new Matrix(3, 5);
        seeded.Data.AsSpan().Fill(0.5f);
        RowOps.LayerNormBackward(x, gamma, mean, rstd, dy, seeded, new float[5], new float[5]);
        for (int i = 0; i < 15; i++)
        {
            Assert.Equal(fresh.Data[i] + 0.5f, seeded.Data[i], 5);
        }
    }

    [Theory]
    [InlineData(3, 11)]
    [InlineData(2, 40)]
    public void Gelu_ForwardMatchesDoubleReference_AndBackwardMatchesFiniteDifferences(int rows, int d)
    {
        Matrix x = TestData.RandomMatrix(rows, d, 5, 2f);
        float[] r = TestData.Random(rows * d, 6);
        var y = new Matrix(rows, d);
        RowOps.GeluForward(x, y);
        for (int i = 0; i < rows * d; i++)
        {
            double v = x.Data[i];
            double expected = 0.5 * v * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (v + (0.044715 * v * v * v))));
            TestData.Close(expected, y.Data[i], 1e-5, 1e-6, "gelu");
        }

        var dx = new Matrix(rows, d);
        RowOps.GeluBackward(x, new Matrix(rows, d, r), dx);
        FiniteDifference.Check(x.Data, dx.Data, () =>
        {
            RowOps.GeluForward(x, y);
            return TestData.Sum(y, r);
        }, "dx", eps: 1e-3f);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(16)]
    [InlineData(37)]
    [InlineData(256)]
    public void BiasRow_AnyLength_IsBitIdenticalToSeparatePassesAndMatchesDoubleReference(int n)
    {
        // The fused epilogue row against the passes it replaces: TensorPrimitives.Add (twice with a residual), then Gelu.
        float[] product = TestData.RandomMatrix(1, n, 91, 6f).Data;
        float[] bias = TestData.RandomMatrix(1, n, 92, 1f).Data;
        float[] residual = TestData.RandomMatrix(1, n, 93, 2f).Data;
        product[0] = 200f;
        if (n > 1)
        {
            product[n - 1] = -200f;
        }

        for (int variant = 0; variant < 4; variant++)
        {
            bool withResidual = (variant & 1) != 0;
            bool withGelu = (variant & 2) != 0;
            float[] expectedY = new float[n];
            float[] expectedG = new float[n];
            System.Numerics.Tensors.TensorPrimitives.Add(product, bias, expectedY);
            if (withResidual)
            {
                System.Numerics.Tensors.TensorPrimitives.Add(expectedY, residual, expectedY);
            }

            if (withGelu)
            {
                RowMath.Gelu(expectedY, expectedG);
            }

            float[] y = new float[n];
            float[] g = new float[n];
            RowMath.BiasRow(product, bias, withResidual ? residual : default, y, withGelu ? g : default);
            Assert.Equal(expectedY, y);
            Assert.Equal(expectedG, g);
            for (int i = 0; i < n; i++)
            {
                double v = (double)product[i] + bias[i] + (withResidual ? residual[i] : 0);
                TestData.Close(v, y[i], 1e-5, 1e-6, "y");
                double gelu = 0.5 * v * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (v + (0.044715 * v * v * v))));
                TestData.Close(withGelu ? gelu : 0, g[i], 1e-5, 1e-6, "gelu");
            }
        }

        Assert.Throws<ArgumentException>(() => RowMath.BiasRow(product, bias.AsSpan(0, n - 1 == 0 ? 0 : n - 1), default, new float[n], default));
    }

    [Fact]
    public void Gelu_VectorBodyAndScalarTail_GiveIdenticalBitsAndExactLimits()
    {
        // 37 = 2 x 16 + 5: with AVX-512 the first 32 go through the 512-bit body, else 32 through the 256-bit body;
        // the last 5 through the scalar tail. Each element alone (length 1) always takes the scalar tail.
        float[] x = TestData.RandomMatrix(1, 37, 83, 4f).Data;
        x[0] = 100f;
        x[1] = -100f;
        x[2] = 0f;
        x[3] = 9.5f;
        x[4] = -9.5f;
        x[36] = -100f;
        x[35] = 100f;
        float[] dg = TestData.RandomMatrix(1, 37, 84, 1f).Data;
        float[] g = new float[37];
        float[] dx = new float[37];
        RowMath.Gelu(x, g);
        RowMath.GeluBackward(x, dg, dx);
        float[] one = new float[1];
        for (int i = 0; i < x.Length; i++)
        {
            RowMath.Gelu(x.AsSpan(i, 1), one);
            Assert.Equal(BitConverter.SingleToInt32Bits(one[0]), BitConverter.SingleToInt32Bits(g[i]));
            RowMath.GeluBackward(x.AsSpan(i, 1), dg.AsSpan(i, 1), one);
            Assert.Equal(BitConverter.SingleToInt32Bits(one[0]), BitConverter.SingleToInt32Bits(dx[i]));
        }

        Assert.Equal(100f, g[0]);
        Assert.Equal(0f, g[1]);
        Assert.Equal(0f, g[2]);
        Assert.Equal(dg[0], dx[0]);
        Assert.Equal(0f, dx[1]);
        Assert.Equal(0.5f * dg[2], dx[2]);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(8)]
    [InlineData(64)]
    [InlineData(67)]
    public void SoftmaxPrefix_FullRowMatchesCoreSoftmax_AndPrefixMatchesSoftmaxOfPrefix(int length)
    {
        Matrix x = TestData.RandomMatrix(1, length, 81, 5f);
        x.Data[0] = 80f; // large logits stay finite after the max shift
        var expected = new Matrix(1, length);
        StableMath.SoftmaxRows(x, expected);
        float[] row = (float[])x.Data.Clone();
        RowMath.SoftmaxPrefix(row, length);
        for (int i = 0; i < length; i++)
        {
            TestData.Close(expected.Data[i], row[i], 1e-5, 1e-7, $"p[{i}]");
        }

        int valid = (length + 1) / 2;
        var prefix = new Matrix(1, valid, x.Data.AsSpan(0, valid).ToArray());
        var expectedPrefix = new Matrix(1, valid);
        StableMath.SoftmaxRows(prefix, expectedPrefix);
        row = (float[])x.Data.Clone();
        RowMath.SoftmaxPrefix(row, valid);
        for (int i = 0; i < length; i++)
        {
            TestData.Close(i < valid ? expectedPrefix.Data[i] : 0, row[i], 1e-5, 1e-7, $"prefix p[{i}]");
        }
    }

    [Fact]
    public void Linear_BackwardMatchesFiniteDifferences()
    {
        Matrix x = TestData.RandomMatrix(5, 7, 21);
        Matrix w = TestData.RandomMatrix(7, 3, 22);
        float[] b = TestData.Random(3, 23);
        float[] r = TestData.Random(15, 24);
        var y = new Matrix(5, 3);
        var dx = new Matrix(5, 7);
        var dw = new Matrix(7, 3);
        float[] db = new float[3];
        Linear.Forward(x, w, b, y);
        Linear.Backward(x, w, new Matrix(5, 3, r), dx, false, dw, Linear.RowView(db));
        double Loss()
        {
            Linear.Forward(x, w, b, y);
            return TestData.Sum(y, r);
        }

        FiniteDifference.Check(x.Data, dx.Data, Loss, "dx");
        FiniteDifference.Check(w.Data, dw.Data, Loss, "dW");
        FiniteDifference.Check(b, db, Loss, "db");
    }

    [Fact]
    public void Linear_FusedForwards_MatchDoubleReference()
    {
        // Odd sizes with n > 256 so the product has several column tiles and several 64-row bands.
        const int n = 131, inDim = 9, outDim = 290;
        Matrix x = TestData.RandomMatrix(n, inDim, 41);
        Matrix w = TestData.RandomMatrix(inDim, outDim, 42);
        float[] b = TestData.Random(outDim, 43);
        Matrix residual = TestData.RandomMatrix(n, outDim, 44);
        var plain = new Matrix(n, outDim);
        var withResidual = new Matrix(n, outDim);
        var hidden = new Matrix(n, outDim);
        var gelu = new Matrix(n, outDim);
        Linear.Forward(x, w, b, plain);
        Linear.ForwardResidual(x, w, b, residual, withResidual);
        Linear.ForwardGelu(x, w, b, hidden, gelu);
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < outDim; j++)
            {
                double y = b[j];
                for (int p = 0; p < inDim; p++)
                {
                    y += (double)x[i, p] * w[p, j];
                }

                double u = Math.Sqrt(2 / Math.PI) * (y + (0.044715 * y * y * y));
                TestData.Close(y, plain[i, j], 1e-5, 1e-5, $"y[{i},{j}]");
                TestData.Close(y + residual[i, j], withResidual[i, j], 1e-5, 1e-5, $"y+res[{i},{j}]");
                TestData.Close(y, hidden[i, j], 1e-5, 1e-5, $"hidden[{i},{j}]");
                TestData.Close(0.5 * y * (1 + Math.Tanh(u)), gelu[i, j], 1e-5, 1e-5, $"gelu[{i},{j}]");
            }
        }
    }

    [Theory]
    [InlineData(131, 9, 290)]
    [InlineData(1000, 64, 128)]
    [InlineData(7, 5, 3)]
    public void Linear_ForwardResidualWithNorm_IsBitIdenticalToSeparateLayerNormForAnyThreadCount_AndMatchesDoubleReference(int n, int inDim, int outDim)
    {
        Matrix x = TestData.RandomMatrix(n, inDim, 51);
        Matrix w = TestData.RandomMatrix(inDim, outDim, 52);
        float[] b = TestData.Random(outDim, 53);
        Matrix residual = TestData.RandomMatrix(n, outDim, 54, 3f);
        float[] gamma = TestData.Random(outDim, 55);
        float[] beta = TestData.Random(outDim, 56);
        var y = new Matrix(n, outDim);
        var norm = new Matrix(n, outDim);
        float[] mean = new float[n];
        float[] rstd = new float[n];
        Linear.ForwardResidual(x, w, b, residual, y);
        RowOps.LayerNormForward(y, gamma, beta, norm, mean, rstd);

        int savedThreads = GemmControl.MaxDegreeOfParallelism;
        try
        {
            foreach (int threads in new[] { 1, 2, 3 })
            {
                GemmControl.MaxDegreeOfParallelism = threads;
                var fusedY = new Matrix(n, outDim);
                var fusedNorm = new Matrix(n, outDim);
                float[] fusedMean = new float[n];
                float[] fusedRstd = new float[n];
                Array.Fill(fusedNorm.Data, float.NaN);
                Linear.ForwardResidual(x, w, b, residual, fusedY, new LayerNormTarget(gamma, beta, fusedNorm, fusedMean, fusedRstd));
                Assert.Equal(y.Data, fusedY.Data);
                Assert.Equal(norm.Data, fusedNorm.Data);
                Assert.Equal(mean, fusedMean);
                Assert.Equal(rstd, fusedRstd);
            }
        }
        finally
        {
            GemmControl.MaxDegreeOfParallelism = savedThreads;
        }

        for (int i = 0; i < n; i++)
        {
            double[] row = new double[outDim];
            double mu = 0;
            for (int j = 0; j < outDim; j++)
            {
                row[j] = b[j] + (double)residual[i, j];
                for (int p = 0; p < inDim; p++)
                {
                    row[j] += (double)x[i, p] * w[p, j];
                }

                mu += row[j];
            }

            mu /= outDim;
            double variance = 0;
            for (int j = 0; j < outDim; j++)
            {
                variance += (row[j] - mu) * (row[j] - mu);
            }

            double rs = 1 / Math.Sqrt((variance / outDim) + RowMath.LayerNormEpsilon);
            TestData.Close(rs, rstd[i], 1e-4, 1e-6, $"rstd[{i}]");
            for (int j = 0; j < outDim; j++)
            {
                TestData.Close(((row[j] - mu) * rs * gamma[j]) + beta[j], norm[i, j], 1e-4, 1e-4, $"norm[{i},{j}]");
            }
        }

        Assert.Throws<ArgumentException>(() => Linear.ForwardResidual(x, w, b, residual, y, new LayerNormTarget(gamma, beta, new Matrix(n, outDim + 1), mean, rstd)));
        Assert.Throws<ArgumentException>(() => Linear.ForwardResidual(x, w, b, residual, y, new LayerNormTarget(gamma, beta, norm, new float[n - 1], rstd)));
    }

    [Fact]
    public void Linear_FusedForward_RejectsWrongOutputShape()
    {
        Matrix x = TestData.RandomMatrix(4, 3, 45);
        Matrix w = TestData.RandomMatrix(3, 5, 46);
        Assert.Throws<ArgumentException>(() => Linear.Forward(x, w, new float[5], new Matrix(4, 4)));
        Assert.Throws<ArgumentException>(() => Linear.ForwardResidual(x, w, new float[5], new Matrix(3, 5), new Matrix(4, 5)));
        Assert.Throws<ArgumentException>(() => Linear.ForwardGelu(x, w, new float[5], new Matrix(4, 5), new Matrix(4, 6)));
    }

    [Fact]
    public void Linear_LongKBackward_MatchesDoubleReference_AndIsIdenticalForAnyThreadCount()
    {
        // k = 1100 rows: three weight-gradient slices (the last partial) and five column-sum chunks (the last partial).
        const int k = 1100, inDim = 13, outDim = 37;
        Matrix x = TestData.RandomMatrix(k, inDim, 51);
        Matrix w = TestData.RandomMatrix(inDim, outDim, 52);
        Matrix dy = TestData.RandomMatrix(k, outDim, 53);
        float[] seedW = TestData.Random(inDim * outDim, 54);
        float[] seedB = TestData.Random(outDim, 55);
        (float[] Dw, float[] Db, float[] Dx) Run(int threads)
        {
            int saved = GemmControl.MaxDegreeOfParallelism;
            GemmControl.MaxDegreeOfParallelism = threads;
            try
            {
                var dw = new Matrix(inDim, outDim, (float[])seedW.Clone());
                float[] db = (float[])seedB.Clone();
                var dx = new Matrix(k, inDim);
                Linear.Backward(x, w, dy, dx, false, dw, Linear.RowView(db));
                return (dw.Data, db, dx.Data);
            }
            finally
            {
                GemmControl.MaxDegreeOfParallelism = saved;
            }
        }

        (float[] dw1, float[] db1, float[] dx1) = Run(1);
        (float[] dw2, float[] db2, float[] dx2) = Run(2);
        Assert.Equal(dw1, dw2);
        Assert.Equal(db1, db2);
        Assert.Equal(dx1, dx2);
        for (int j = 0; j < outDim; j++)
        {
            double sum = seedB[j];
            for (int r = 0; r < k; r++)
            {
                sum += dy[r, j];
            }

            TestData.Close(sum, db1[j], 1e-4, 1e-4, $"db[{j}]");
            for (int i = 0; i < inDim; i++)
            {
                double g = seedW[(i * outDim) + j];
                for (int r = 0; r < k; r++)
                {
                    g += (double)x[r, i] * dy[r, j];
                }

                TestData.Close(g, dw1[(i * outDim) + j], 1e-4, 1e-4, $"dW[{i},{j}]");
            }
        }
    }

    /// <summary>Rows per dx item of a concurrent backward (<see cref="Linear.InputGradientRows"/>); each must give the same bits.</summary>
    private static readonly int[] InputGradientBlockSizes = [Linear.InputGradientBlockRows, 1024, 512, 256];

    /// <summary>
    /// Every dx item size with db formed in the dx items and as a separate item (<see cref="Linear.BiasGradientInInputItems"/>);
    /// each must give the same bits.
    /// </summary>
    /// <remarks>
    /// Each with the last rows in 256-row items (<see cref="Linear.InputGradientTailRows"/>, the default 1024) and without
    /// (0), plus tails of 256 rows and of more rows than k (every item small).
    /// </remarks>
    private static readonly (int BlockRows, bool DbInItems, int TailRows)[] InputGradientForms =
    [
        .. InputGradientBlockSizes.Select(rows => (rows, true, 1024)), .. InputGradientBlockSizes.Select(rows => (rows, false, 1024)),
        .. InputGradientBlockSizes.Select(rows => (rows, true, 0)), .. InputGradientBlockSizes.Select(rows => (rows, false, 0)),
        (1024, true, 256), (1024, true, 8192),
    ];

    [Theory]
    [InlineData(1100, 130, 300, false)]
    [InlineData(1100, 300, 130, true)]
    [InlineData(1600, 128, 512, false)]
    [InlineData(2000, 129, 257, true)]
    public void Linear_ConcurrentBackward_IsBitIdenticalToSequentialProducts(int k, int inDim, int outDim, bool accumulateDx)
    {
        // Above ConcurrentBackwardFlops, dW halves, dx row halves and db run as concurrent single-threaded items.
        Assert.True(2.0 * k * inDim * outDim >= Linear.ConcurrentBackwardFlops);
        Matrix x = TestData.RandomMatrix(k, inDim, 71);
        Matrix w = TestData.RandomMatrix(inDim, outDim, 72);
        Matrix dy = TestData.RandomMatrix(k, outDim, 73);
        float[] seedW = TestData.Random(inDim * outDim, 74);
        float[] seedB = TestData.Random(outDim, 75);
        float[] seedX = TestData.Random(k * inDim, 76);
        var expectedW = new Matrix(inDim, outDim, (float[])seedW.Clone());
        float[] expectedB = (float[])seedB.Clone();
        var expectedX = new Matrix(k, inDim, (float[])seedX.Clone());
        Linear.AddWeightGradientBySlices(x, dy, expectedW);
        RowOps.AddColumnSums(dy, expectedB);
        Gemm.Multiply(Transpose.None, Transpose.Transposed, 1f, dy, w, accumulateDx ? 1f : 0f, expectedX);
        int saved = GemmControl.MaxDegreeOfParallelism;
        int savedRows = Linear.InputGradientRows;
        bool savedDb = Linear.BiasGradientInInputItems;
        int savedTail = Linear.InputGradientTailRows;
        try
        {
            foreach ((int blockRows, bool dbInItems, int tailRows) in InputGradientForms)
            {
                Linear.InputGradientRows = blockRows;
                Linear.BiasGradientInInputItems = dbInItems;
                Linear.InputGradientTailRows = tailRows;
                for (int threads = 1; threads <= 3; threads++)
                {
                    GemmControl.MaxDegreeOfParallelism = threads;
                    var dw = new Matrix(inDim, outDim, (float[])seedW.Clone());
                    float[] db = (float[])seedB.Clone();
                    var dx = new Matrix(k, inDim, (float[])seedX.Clone());
                    Linear.Backward(x, w, dy, dx, accumulateDx, dw, Linear.RowView(db));
                    Assert.Equal(expectedW.Data, dw.Data);
                    Assert.Equal(expectedB, db);
                    Assert.Equal(expectedX.Data, dx.Data);
                }
            }
        }
        finally
        {
            GemmControl.MaxDegreeOfParallelism = saved;
            Linear.InputGradientRows = savedRows;
            Linear.BiasGradientInInputItems = savedDb;
            Linear.InputGradientTailRows = savedTail;
        }

        TestData.Close(seedW[0] + Dot(x, 0, dy, 0, k), expectedW[0, 0], 1e-4, 1e-4, "dW[0,0]");
        TestData.Close(seedW[(inDim * outDim) - 1] + Dot(x, inDim - 1, dy, outDim - 1, k), expectedW[inDim - 1, outDim - 1], 1e-4, 1e-4, "dW[last]");
    }

    [Theory]
    [InlineData(2100, 128, 512)]
    [InlineData(2100, 512, 128)]
    public void Linear_ConcurrentBackward_WeightsUpdatedInPlaceBetweenCalls_UsesTheNewWeights(int k, int inDim, int outDim)
    {
        // Each thread keeps its packed W^T for the dx blocks of one Backward call (GemmSlices.MultiplyTransposedKeyed);
        // an optimizer step changes W in place (same array, same address) before the next call.
        Assert.True(2.0 * k * inDim * outDim >= Linear.ConcurrentBackwardFlops);
        Matrix x = TestData.RandomMatrix(k, inDim, 81);
        Matrix w = TestData.RandomMatrix(inDim, outDim, 82);
        Matrix dy = TestData.RandomMatrix(k, outDim, 83);
        int saved = GemmControl.MaxDegreeOfParallelism;
        try
        {
            for (int threads = 1; threads <= 3; threads++)
            {
                GemmControl.MaxDegreeOfParallelism = threads;
                for (int step = 0; step < 2; step++)
                {
                    var expectedX = new Matrix(k, inDim);
                    Gemm.Multiply(Transpose.None, Transpose.Transposed, 1f, dy, w, 0f, expectedX);
                    var dx = new Matrix(k, inDim);
                    Linear.Backward(x, w, dy, dx, false, new Matrix(inDim, outDim), default);
                    Assert.Equal(expectedX.Data, dx.Data);
                    for (int i = 0; i < w.Data.Length; i++)
                    {
                        w.Data[i] = (w.Data[i] * 0.75f) - 0.125f;
                    }
                }
            }
        }
        finally
        {
            GemmControl.MaxDegreeOfParallelism = saved;
        }
    }

    [Theory]
    [InlineData(2600, 300, 130)]
    [InlineData(1100, 512, 128)]
    public void Linear_BackwardThroughGelu_IsBitIdenticalToBackwardThenGeluBackward(int k, int hiddenDim, int outDim)
    {
        // Concurrent: dW halves, dx blocks of InputGradientBlockRows (the last partial) each with its GELU backward and
        // 256-row partial column sums, db; sequential reference: Backward, then RowOps.GeluBackward with column sums.
        Assert.True(2.0 * k * hiddenDim * outDim >= Linear.ConcurrentBackwardFlops);
        Matrix hidden = TestData.RandomMatrix(k, hiddenDim, 91, 2f);
        var gelu = new Matrix(k, hiddenDim);
        RowOps.GeluForward(hidden, gelu);
        Matrix w = TestData.RandomMatrix(hiddenDim, outDim, 92);
        Matrix dy = TestData.RandomMatrix(k, outDim, 93);
        float[] seedW = TestData.Random(hiddenDim * outDim, 94);
        float[] seedB = TestData.Random(outDim, 95);
        float[] seedHiddenB = TestData.Random(hiddenDim, 96);
        var expectedW = new Matrix(hiddenDim, outDim, (float[])seedW.Clone());
        float[] expectedB = (float[])seedB.Clone();
        float[] expectedHiddenB = (float[])seedHiddenB.Clone();
        var expectedDHidden = new Matrix(k, hiddenDim);
        int saved = GemmControl.MaxDegreeOfParallelism;
        int savedRows = Linear.InputGradientRows;
        bool savedDb = Linear.BiasGradientInInputItems;
        int savedTail = Linear.InputGradientTailRows;
        try
        {
            GemmControl.MaxDegreeOfParallelism = 1;
            Linear.Backward(gelu, w, dy, expectedDHidden, false, expectedW, Linear.RowView(expectedB));
            RowOps.GeluBackward(hidden, expectedDHidden, expectedDHidden, expectedHiddenB);
            foreach ((int blockRows, bool dbInItems, int tailRows) in InputGradientForms)
            {
                Linear.InputGradientRows = blockRows;
                Linear.BiasGradientInInputItems = dbInItems;
                Linear.InputGradientTailRows = tailRows;
                for (int threads = 1; threads <= 3; threads++)
                {
                    GemmControl.MaxDegreeOfParallelism = threads;
                    var dw = new Matrix(hiddenDim, outDim, (float[])seedW.Clone());
                    float[] db = (float[])seedB.Clone();
                    float[] dHiddenB = (float[])seedHiddenB.Clone();
                    var dHidden = new Matrix(k, hiddenDim);
                    Linear.BackwardThroughGelu(gelu, hidden, w, dy, dHidden, dw, Linear.RowView(db), dHiddenB);
                    Assert.Equal(expectedW.Data, dw.Data);
                    Assert.Equal(expectedB, db);
                    Assert.Equal(expectedDHidden.Data, dHidden.Data);
                    Assert.Equal(expectedHiddenB, dHiddenB);
                }
            }
        }
        finally
        {
            GemmControl.MaxDegreeOfParallelism = saved;
            Linear.InputGradientRows = savedRows;
            Linear.BiasGradientInInputItems = savedDb;
            Linear.InputGradientTailRows = savedTail;
        }

        // One element against a double reference: dHidden[r, j] = GELU'(hidden[r, j]) * sum_o dy[r, o] w[j, o].
        const int r = 1234 % 1100, j = 7;
        double g = 0;
        for (int o = 0; o < outDim; o++)
        {
            g += (double)dy[r, o] * w[j, o];
        }

        double h = hidden[r, j];
        double th = Math.Tanh(0.7978845608028654 * (h + (0.044715 * h * h * h)));
        double derivative = (0.5 * (1 + th)) + (0.5 * h * (1 - (th * th)) * 0.7978845608028654 * (1 + (3 * 0.044715 * h * h)));
        TestData.Close(g * derivative, expectedDHidden[r, j], 1e-4, 1e-4, "dHidden");
    }

    [Fact]
    public void Linear_ConcurrentBackward_RejectsMismatchedShapes()
    {
        var x = new Matrix(1100, 130);
        var w = new Matrix(130, 300);
        var dy = new Matrix(1100, 300);
        int saved = GemmControl.MaxDegreeOfParallelism;
        try
        {
            GemmControl.MaxDegreeOfParallelism = 2;
            Assert.Throws<ArgumentException>(() => Linear.Backward(x, w, dy, new Matrix(1100, 129), false, new Matrix(130, 300), default));
            Assert.Throws<ArgumentException>(() => Linear.Backward(x, w, dy, new Matrix(1100, 130), false, new Matrix(130, 299), default));
            Assert.Throws<ArgumentException>(() => Linear.Backward(x, w, new Matrix(1099, 300), new Matrix(1100, 130), false, new Matrix(130, 300), default));
        }
        finally
        {
            GemmControl.MaxDegreeOfParallelism = saved;
        }
    }

    private static double Dot(Matrix x, int i, Matrix dy, int j, int k)
    {
        double sum = 0;
        for (int r = 0; r < k; r++)
        {
            sum += (double)x[r, i] * dy[r, j];
        }

        return sum;
    }

    [Fact]
    public void GeluBackward_WithColumnSums_MatchesSeparatePasses()
    {
        const int rows = 601, d = 19;
        Matrix x = TestData.RandomMatrix(rows, d, 61, 2f);
        Matrix dy = TestData.RandomMatrix(rows, d, 62);
        var expected = new Matrix(rows, d);
        RowOps.GeluBackward(x, dy, expected);
        float[] sums = TestData.Random(d, 63);
        float[] start = (float[])sums.Clone();
        var fused = new Matrix(rows, d, (float[])dy.Data.Clone());
        RowOps.GeluBackward(x, fused, fused, sums);
        Assert.Equal(expected.Data, fused.Data);
        for (int j = 0; j < d; j++)
        {
            double s = start[j];
            for (int r = 0; r < rows; r++)
            {
                s += expected[r, j];
            }

            TestData.Close(s, sums[j], 1e-4, 1e-4, $"sum[{j}]");
        }

        Assert.Throws<ArgumentException>(() => RowOps.AddColumnSums(x, new float[d + 1]));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Attention_ForwardMatchesNaiveReference(bool causal)
    {
        const int batch = 2, t = 5, heads = 2, d = 6;
        Matrix qkv = TestData.RandomMatrix(batch * t, 3 * d, 31);
        float[] probs = new float[batch * heads * t * t];
        var output = new Matrix(batch * t, d);
        Attention.Forward(qkv, batch, t, heads, causal, probs, output);
        int hd = d / heads;
        for (int e = 0; e < batch; e++)
        {
            for (int h = 0; h < heads; h++)
            {
                for (int i = 0; i < t; i++)
                {
                    double[] s = new double[t];
                    double max = double.NegativeInfinity;
                    int valid = causal ? i + 1 : t;
                    for (int j = 0; j < valid; j++)
                    {
                        double dot = 0;
                        for (int k = 0; k < hd; k++)
                        {
                            dot += (double)qkv[(e * t) + i, (h * hd) + k] * qkv[(e * t) + j, d + (h * hd) + k];
                        }

                        s[j] = dot / Math.Sqrt(hd);
                        max = Math.Max(max, s[j]);
                    }

                    double z = 0;
                    for (int j = 0; j < valid; j++)
                    {
                        s[j] = Math.Exp(s[j] - max);
                        z += s[j];
                    }

                    for (int k = 0; k < hd; k++)
                    {
                        double o = 0;
                        for (int j = 0; j < valid; j++)
                        {
                            o += s[j] / z * qkv[(e * t) + j, (2 * d) + (h * hd) + k];
                        }

                        TestData.Close(o, output[(e * t) + i, (h * hd) + k], 1e-5, 1e-6, "attention output");
                    }

                    for (int j = 0; j < t; j++)
                    {
                        double p = j < valid ? s[j] / z : 0;
                        TestData.Close(p, probs[((((e * heads) + h) * t) + i) * t + j], 1e-5, 1e-7, "attention probability");
                    }
                }
            }
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Attention_BackwardMatchesFiniteDifferences(bool causal)
    {
        const int batch = 2, t = 4, heads = 2, d = 6;
        Matrix qkv = TestData.RandomMatrix(batch * t, 3 * d, 41);
        float[] r = TestData.Random(batch * t * d, 42);
        float[] probs = new float[batch * heads * t * t];
        var output = new Matrix(batch * t, d);
        Attention.Forward(qkv, batch, t, heads, causal, probs, output);
        var dqkv = new Matrix(batch * t, 3 * d);
        Attention.Backward(qkv, batch, t, heads, probs, new Matrix(batch * t, d, r), dqkv, new float[probs.Length]);
        FiniteDifference.Check(qkv.Data, dqkv.Data, () =>
        {
            Attention.Forward(qkv, batch, t, heads, causal, probs, output);
            return TestData.Sum(output, r);
        }, "dqkv", maxChecks: 200);
    }

    [Theory]
    [InlineData(PoolingKind.GlobalAverage)]
    [InlineData(PoolingKind.FirstToken)]
    [InlineData(PoolingKind.LastToken)]
    [InlineData(PoolingKind.MultiheadAttention)]
    public void Pooling_BackwardMatchesFiniteDifferences(PoolingKind kind)
    {
        const int batch = 3, t = 4, d = 6;
        var parameters = new System.Collections.Generic.List<Parameter>();
        var layer = new PoolingLayer("p", kind, d, 2, new ParameterBuilder(9, parameters));
        layer.EnsureCapacity(batch, t);
        Matrix x = TestData.RandomMatrix(batch * t, d, 51);
        int[] last = [3, 1, 2];
        float[] r = TestData.Random(batch * d, 52);
        var pooled = new Matrix(batch, d);
        layer.Forward(x, batch, t, last, pooled);
        var dx = new Matrix(batch * t, d);
        layer.Backward(x, batch, t, last, new Matrix(batch, d, r), dx);
        double Loss()
        {
            layer.Forward(x, batch, t, last, pooled);
            return TestData.Sum(pooled, r);
        }

        FiniteDifference.Check(x.Data, dx.Data, Loss, "dx");
        foreach (Parameter p in parameters)
        {
            FiniteDifference.Check(p.Value, p.Gradient, Loss, p.Name);
        }

        Assert.Equal(kind == PoolingKind.MultiheadAttention ? 5 : 0, parameters.Count);
    }
}
