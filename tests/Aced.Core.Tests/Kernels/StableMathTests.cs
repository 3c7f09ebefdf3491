using System;
using FsCheck;
using FsCheck.Fluent;

namespace Aced.Core.Tests.Kernels;

public class StableMathTests
{
    // Tolerances: the kernels use .NET's vectorised float exp/log (about 1 ulp each) plus a few roundings,
    // so 2e-6 relative (about 16 ulps) is comfortably above their error and far below any real bug.
    // Denormal results carry an absolute floor of 4 denormal ulps (5.6e-45).
    private const double Relative = 2e-6;
    private const double DenormalFloor = 5.7e-45;

    public static TheoryData<int> AllLengths()
    {
        var data = new TheoryData<int>();
        for (int n = 0; n <= 257; n++)
        {
            data.Add(n);
        }

        return data;
    }

    [Fact]
    public void ElementwiseKernels_EveryLength0To257_MatchDoubleReference()
    {
        for (int n = 0; n <= 257; n++)
        {
            float[] x = Inputs(n, seed: (ulong)n);
            float[] softplus = new float[n];
            float[] logSigmoid = new float[n];
            float[] sigmoid = new float[n];
            StableMath.Softplus(x, softplus);
            StableMath.LogSigmoid(x, logSigmoid);
            StableMath.Sigmoid(x, sigmoid);
            for (int i = 0; i < n; i++)
            {
                AssertClose(SoftplusRef(x[i]), softplus[i], x[i], "Softplus span", n);
                AssertClose(-SoftplusRef(-x[i]), logSigmoid[i], x[i], "LogSigmoid span", n);
                AssertClose(SigmoidRef(x[i]), sigmoid[i], x[i], "Sigmoid span", n);
                AssertClose(SoftplusRef(x[i]), StableMath.Softplus(x[i]), x[i], "Softplus scalar", n);
                AssertClose(-SoftplusRef(-x[i]), StableMath.LogSigmoid(x[i]), x[i], "LogSigmoid scalar", n);
                AssertClose(SigmoidRef(x[i]), StableMath.Sigmoid(x[i]), x[i], "Sigmoid scalar", n);
            }
        }
    }

    [Fact]
    public void Log1p_DenseGridAndDenormals_WithinThreeUlps()
    {
        // 3 ulps of float, at most 3 * 2^-23 relative (rounding of t, the polynomial and the product; truncation < 1.4e-8).
        var rng = new CounterRng(400);
        for (int i = 0; i < 200_000; i++)
        {
            float u = i < 100_000 ? i / 100_000f : MathF.Pow(2f, -149f * rng.NextFloat());
            double expected = Log1pRef(u);
            float actual = StableMath.Log1p(u);
            Assert.True(TestStatistics.Close(actual, expected, 3 * 1.1921e-7, 1.4e-45), $"log1p({u:R}) = {actual:R}, expected {expected:R}");
        }

        Assert.Equal(0f, StableMath.Log1p(0f));
        Assert.Equal(float.Epsilon, StableMath.Log1p(float.Epsilon));
        Assert.Equal((float)Math.Log(2), StableMath.Log1p(1f));
        Assert.True(float.IsNaN(StableMath.Log1p(float.NaN)));
    }

    [Fact]
    public void FusedSums_EveryLength0To257_MatchDoubleReference()
    {
        for (int n = 0; n <= 257; n++)
        {
            float[] x = Inputs(n, seed: 1000 + (ulong)n);
            double softplus = 0;
            double logSigmoid = 0;
            foreach (float v in x)
            {
                softplus += SoftplusRef(v);
                logSigmoid -= SoftplusRef(-v);
            }

            Assert.True(TestStatistics.Close(StableMath.SoftplusSum(x), softplus, Relative, 1e-30), $"SoftplusSum n={n}");
            Assert.True(TestStatistics.Close(StableMath.LogSigmoidSum(x), logSigmoid, Relative, 1e-30), $"LogSigmoidSum n={n}");
        }
    }

    [Theory]
    [InlineData(-100f)]
    [InlineData(-88f)]
    [InlineData(-103f)]
    [InlineData(-104f)]
    [InlineData(-110f)]
    [InlineData(-1e4f)]
    [InlineData(-20f)]
    [InlineData(-1e-30f)]
    [InlineData(0f)]
    [InlineData(1e-30f)]
    [InlineData(17f)]
    [InlineData(88f)]
    [InlineData(104f)]
    [InlineData(1e4f)]
    [InlineData(float.MaxValue)]
    [InlineData(float.MinValue)]
    public void Kernels_ExtremeInputs_ExactInEveryLanePosition(float value)
    {
        // Place the value at every position of a 37-element array so the 512/256/128-bit bodies and the scalar tail all see it.
        for (int position = 0; position < 37; position++)
        {
            float[] x = new float[37];
            x[position] = value;
            float[] softplus = new float[37];
            float[] logSigmoid = new float[37];
            float[] sigmoid = new float[37];
            StableMath.Softplus(x, softplus);
            StableMath.LogSigmoid(x, logSigmoid);
            StableMath.Sigmoid(x, sigmoid);
            Assert.True(float.IsFinite(softplus[position]) && float.IsFinite(logSigmoid[position]) && float.IsFinite(sigmoid[position]));
            AssertClose(SoftplusRef(value), softplus[position], value, "Softplus", position);
            AssertClose(-SoftplusRef(-value), logSigmoid[position], value, "LogSigmoid", position);
            AssertClose(SigmoidRef(value), sigmoid[position], value, "Sigmoid", position);
        }
    }

    [Fact]
    public void Softplus_NamedExtremes_ExactValues()
    {
        Assert.Equal((float)Math.Exp(-100), StableMath.Softplus(-100f));
        Assert.True(StableMath.Softplus(-100f) > 0f);
        Assert.Equal(1e4f, StableMath.Softplus(1e4f));
        Assert.Equal(0f, StableMath.Softplus(-1e4f));
        Assert.Equal(-1e4f, StableMath.LogSigmoid(-1e4f));
        Assert.Equal(-(float)Math.Exp(-100), StableMath.LogSigmoid(100f));
        Assert.Equal((float)Math.Exp(-100), StableMath.Sigmoid(-100f));
        Assert.Equal(float.MaxValue, StableMath.Softplus(float.MaxValue));
        Assert.Equal(float.MinValue, StableMath.LogSigmoid(float.MinValue));
        Assert.Equal(float.PositiveInfinity, StableMath.Softplus(float.PositiveInfinity));
        Assert.Equal(0f, StableMath.Softplus(float.NegativeInfinity));
        Assert.Equal(1f, StableMath.Sigmoid(float.PositiveInfinity));
        Assert.Equal(0f, StableMath.Sigmoid(float.NegativeInfinity));
    }

    [Fact]
    public void Kernels_NaNInEveryLanePosition_NaNOutOnlyThere()
    {
        for (int position = 0; position < 37; position++)
        {
            float[] x = Inputs(37, 5);
            x[position] = float.NaN;
            float[] y = new float[37];
            StableMath.Softplus(x, y);
            AssertNaNOnlyAt(y, position);
            StableMath.LogSigmoid(x, y);
            AssertNaNOnlyAt(y, position);
            StableMath.Sigmoid(x, y);
            AssertNaNOnlyAt(y, position);
            Assert.True(double.IsNaN(StableMath.SoftplusSum(x)));
            Assert.True(double.IsNaN(StableMath.LogSigmoidSum(x)));
            Assert.True(float.IsNaN(StableMath.LogSumExp(x)));
        }

        Assert.True(float.IsNaN(StableMath.Softplus(float.NaN)));
        Assert.True(float.IsNaN(StableMath.LogSigmoid(float.NaN)));
        Assert.True(float.IsNaN(StableMath.Sigmoid(float.NaN)));
    }

    [Fact]
    public void ElementwiseKernels_DestinationIsSource_InPlaceMatchesOutOfPlace()
    {
        foreach (int n in new[] { 1, 15, 16, 33, 257 })
        {
            float[] x = Inputs(n, 77);
            float[] expected = new float[n];
            float[] inPlace = (float[])x.Clone();
            StableMath.Softplus(x, expected);
            StableMath.Softplus(inPlace, inPlace);
            Assert.Equal(expected, inPlace);

            inPlace = (float[])x.Clone();
            StableMath.LogSigmoid(x, expected);
            StableMath.LogSigmoid(inPlace, inPlace);
            Assert.Equal(expected, inPlace);

            inPlace = (float[])x.Clone();
            StableMath.Sigmoid(x, expected);
            StableMath.Sigmoid(inPlace, inPlace);
            Assert.Equal(expected, inPlace);
        }
    }

    [Fact]
    public void ElementwiseKernels_BadDestination_ThrowsNamingDestination()
    {
        float[] buffer = new float[40];
        var ex = Assert.Throws<ArgumentException>(() => StableMath.Softplus(buffer.AsSpan(0, 20), buffer.AsSpan(5, 20)));
        Assert.Equal("destination", ex.ParamName);
        ex = Assert.Throws<ArgumentException>(() => StableMath.Sigmoid(new float[5], new float[4]));
        Assert.Equal("destination", ex.ParamName);
        Assert.Contains("4", ex.Message);
    }

    [Fact]
    public void LogSumExp_EveryLength1To257_MatchesDoubleReference()
    {
        for (int n = 1; n <= 257; n++)
        {
            float[] x = Inputs(n, 300 + (ulong)n);
            double expected = LogSumExpRef(x);
            float actual = StableMath.LogSumExp(x);
            Assert.True(TestStatistics.Close(actual, expected, Relative, 1e-6), $"n={n}: {actual} vs {expected}");
        }
    }

    [Fact]
    public void LogSumExp_Extremes_ExactAndFinite()
    {
        Assert.Equal((float)(1e4 + Math.Log(2)), StableMath.LogSumExp(new[] { 1e4f, 1e4f }));
        Assert.Equal((float)(-1e4 + Math.Log(2)), StableMath.LogSumExp(new[] { -1e4f, -1e4f }));
        Assert.Equal(1e4f, StableMath.LogSumExp(new[] { -1e4f, 1e4f }));
        Assert.Equal(float.MaxValue, StableMath.LogSumExp(new[] { float.MaxValue, float.MaxValue }));
        Assert.Equal(0f, StableMath.LogSumExp(new[] { float.MinValue, 0f }));
        Assert.Equal(0f, StableMath.LogSumExp(new[] { float.NegativeInfinity, 0f, float.NegativeInfinity }));
        Assert.Equal(float.NegativeInfinity, StableMath.LogSumExp(new[] { float.NegativeInfinity, float.NegativeInfinity }));
        Assert.Equal(float.NegativeInfinity, StableMath.LogSumExp(ReadOnlySpan<float>.Empty));
        Assert.Equal(float.PositiveInfinity, StableMath.LogSumExp(new[] { 1f, float.PositiveInfinity }));
        Assert.True(float.IsNaN(StableMath.LogSumExp(new[] { float.PositiveInfinity, float.NaN })));

        // 1000 equal values at 88 (exp(88) alone is near float overflow): 88 + ln 1000.
        float[] many = new float[1000];
        Array.Fill(many, 88f);
        Assert.True(TestStatistics.Close(StableMath.LogSumExp(many), 88 + Math.Log(1000), 1e-7));
        Array.Fill(many, -104f);
        Assert.True(TestStatistics.Close(StableMath.LogSumExp(many), -104 + Math.Log(1000), 1e-7));
    }

    [Fact]
    public void LogSumExp_ShiftInvariance_Property()
    {
        // Values on a 1/8 grid and shifts on a 1/4 grid keep x + c exact in float, so the identity
        // lse(x + c) = lse(x) + c must hold to the rounding of the two float results: a few ulps of the
        // largest magnitude involved (lse(x) + c can cancel, so |lse(x)| and |c| set the scale).
        Gen<float[]> values = Gen.Choose(-8000, 8000).Select(i => i / 8f).ArrayOf().Where(a => a.Length > 0);
        Gen<float> shifts = Gen.Choose(-4000, 4000).Select(i => i / 4f);
        Arbitrary<(float[], float)> arbitrary = values.Zip(shifts).ToArbitrary();
        Property property = Prop.ForAll(arbitrary, pair =>
        {
            (float[] x, float c) = pair;
            float[] shifted = Array.ConvertAll(x, v => v + c);
            double lhs = StableMath.LogSumExp(shifted);
            double rhs = (double)StableMath.LogSumExp(x) + c;
            double scale = Math.Max(Math.Max(Math.Abs(lhs), Math.Abs(StableMath.LogSumExp(x))), Math.Max(Math.Abs(c), 1.0));
            return Math.Abs(lhs - rhs) <= 4 * 6e-8 * scale;
        });
        Check.One(TestStatistics.FixedSeed(200, 20261122), property);
    }

    [Fact]
    public void LogSumExp_BoundedByMaxAndMaxPlusLogN_Property()
    {
        Gen<float[]> values = Gen.Choose(-1_000_000, 1_000_000).Select(i => i / 100f).ArrayOf().Where(a => a.Length > 0);
        Property property = Prop.ForAll(values.ToArbitrary(), x =>
        {
            float lse = StableMath.LogSumExp(x);
            float max = x[0];
            foreach (float v in x)
            {
                max = Math.Max(max, v);
            }

            double slack = 1e-6 * Math.Max(1, Math.Abs(max));
            return lse >= max - slack && lse <= max + Math.Log(x.Length) + slack;
        });
        Check.One(TestStatistics.FixedSeed(200, 20261122), property);
    }

    [Fact]
    public void Softplus_Identities_Property()
    {
        // softplus(x) - softplus(-x) = x, log sigmoid(x) = -softplus(-x), sigmoid(x) + sigmoid(-x) = 1,
        // and 0 <= sigmoid <= 1, softplus >= max(x, 0), on values spanning [-200, 200].
        Gen<float> values = Gen.Choose(-2_000_000, 2_000_000).Select(i => i / 10_000f);
        Property property = Prop.ForAll(values.ArrayOf().ToArbitrary(), x =>
        {
            float[] sp = new float[x.Length];
            float[] spNeg = new float[x.Length];
            float[] ls = new float[x.Length];
            float[] sg = new float[x.Length];
            float[] negated = Array.ConvertAll(x, v => -v);
            StableMath.Softplus(x, sp);
            StableMath.Softplus(negated, spNeg);
            StableMath.LogSigmoid(x, ls);
            StableMath.Sigmoid(x, sg);
            for (int i = 0; i < x.Length; i++)
            {
                double scale = Math.Max(1, Math.Abs(x[i]));
                if (Math.Abs((double)sp[i] - spNeg[i] - x[i]) > 4 * 6e-8 * scale
                    || ls[i] != -spNeg[i]
                    || sg[i] < 0 || sg[i] > 1
                    || Math.Abs(sg[i] + StableMath.Sigmoid(negated[i]) - 1) > 2.4e-7
                    || sp[i] < Math.Max(x[i], 0))
                {
                    return false;
                }
            }

            return true;
        });
        Check.One(TestStatistics.FixedSeed(300, 7), property);
    }

    [Fact]
    public void SoftmaxRows_RandomMatrices_RowsSumToOneAndOrderPreserved_Property()
    {
        Gen<Matrix> matrices =
            from rows in Gen.Choose(1, 6)
            from columns in Gen.Choose(1, 40)
            from data in Gen.Choose(-400_000, 400_000).Select(i => i / 1000f).ArrayOf(rows * columns)
            select new Matrix(rows, columns, data);
        Property property = Prop.ForAll(matrices.ToArbitrary(), x =>
        {
            var y = new Matrix(x.Rows, x.Columns);
            StableMath.SoftmaxRows(x, y);
            for (int r = 0; r < x.Rows; r++)
            {
                double sum = 0;
                for (int c = 0; c < x.Columns; c++)
                {
                    sum += y[r, c];
                    if (c > 0 && x[r, c] > x[r, c - 1] && y[r, c] < y[r, c - 1])
                    {
                        return false;
                    }
                }

                if (Math.Abs(sum - 1) > 2e-6)
                {
                    return false;
                }
            }

            return true;
        });
        Check.One(TestStatistics.FixedSeed(200, 8), property);
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(7, 37)]
    [InlineData(33, 17)]
    [InlineData(5, 257)]
    [InlineData(64, 3)]
    public void LogSumExpRowsAndColumns_OddShapes_MatchDoubleReference(int rows, int columns)
    {
        Matrix x = RandomMatrix(rows, columns, 40);
        float[] rowLse = new float[rows];
        float[] columnLse = new float[columns];
        StableMath.LogSumExpRows(x, rowLse);
        StableMath.LogSumExpColumns(x, columnLse);
        for (int r = 0; r < rows; r++)
        {
            Assert.True(TestStatistics.Close(rowLse[r], LogSumExpRef(x.Row(r).ToArray()), Relative, 1e-6));
        }

        for (int c = 0; c < columns; c++)
        {
            Assert.True(TestStatistics.Close(columnLse[c], LogSumExpRef(Column(x, c)), Relative, 1e-6), $"column {c}");
        }

        // A strided view (a column range) must give the same answers as its copy.
        if (columns > 2)
        {
            MatrixView view = x.View.ColumnRange(1, columns - 2);
            float[] viewLse = new float[columns - 2];
            StableMath.LogSumExpColumns(view, viewLse, new double[columns - 2]);
            float[] copyLse = new float[columns - 2];
            StableMath.LogSumExpColumns(view.ToMatrix(), copyLse);
            Assert.Equal(copyLse, viewLse);
        }
    }

    [Fact]
    public void LogSumExpColumns_SpecialColumns_FollowScalarConventions()
    {
        var x = new Matrix(3, 4, new[]
        {
            float.NegativeInfinity, 1e4f, float.NaN, float.PositiveInfinity,
            float.NegativeInfinity, 1e4f, 0f, 0f,
            float.NegativeInfinity, float.NegativeInfinity, 0f, 0f,
        });
        float[] lse = new float[4];
        StableMath.LogSumExpColumns(x, lse);
        Assert.Equal(float.NegativeInfinity, lse[0]);
        Assert.Equal((float)(1e4 + Math.Log(2)), lse[1]);
        Assert.True(float.IsNaN(lse[2]));
        Assert.Equal(float.PositiveInfinity, lse[3]);

        float[] empty = { 1f, 2f };
        StableMath.LogSumExpColumns(new Matrix(0, 2), empty);
        Assert.Equal(new[] { float.NegativeInfinity, float.NegativeInfinity }, empty);
        float[] none = Array.Empty<float>();
        StableMath.LogSumExpRows(new Matrix(0, 3), none);
        float[] emptyRows = new float[2];
        StableMath.LogSumExpRows(new Matrix(2, 0), emptyRows);
        Assert.Equal(new[] { float.NegativeInfinity, float.NegativeInfinity }, emptyRows);
    }

    [Fact]
    public void ColumnKernels_WithScratch_AllocateNothing()
    {
        Matrix x = RandomMatrix(31, 45, 41);
        float[] lse = new float[45];
        double[] sums = new double[45];
        float[] scratch = new float[45];
        var y = new Matrix(31, 45);
        Assert.Equal(0, TestStatistics.AllocatedBytes(() => StableMath.LogSumExpColumns(x, lse, sums)));
        Assert.Equal(0, TestStatistics.AllocatedBytes(() => StableMath.SoftmaxColumns(x, y, scratch, sums)));
        Assert.Equal(0, TestStatistics.AllocatedBytes(() => StableMath.SoftmaxRows(x, y)));
        Assert.Equal(0, TestStatistics.AllocatedBytes(() => StableMath.LogSumExpRows(x, lse)));
        Assert.Equal(0, TestStatistics.AllocatedBytes(() => StableMath.LogSumExpColumns(x, lse)));
        Assert.Equal(0, TestStatistics.AllocatedBytes(() => StableMath.SoftmaxColumns(x, y)));
        float[] norms = new float[31];
        Assert.Equal(0, TestStatistics.AllocatedBytes(() => StableMath.L2NormalizeRows(x, y, norms)));
    }

    [Fact]
    public void ColumnKernels_ShortScratch_ThrowNamingIt()
    {
        var x = new Matrix(2, 5);
        Assert.Equal("columnSums", Assert.Throws<ArgumentException>(() => StableMath.LogSumExpColumns(x, new float[5], new double[4])).ParamName);
        Assert.Equal("destination", Assert.Throws<ArgumentException>(() => StableMath.LogSumExpColumns(x, new float[4], new double[5])).ParamName);
        Assert.Equal("columnScratch", Assert.Throws<ArgumentException>(() => StableMath.SoftmaxColumns(x, x, new float[4], new double[5])).ParamName);
        Assert.Equal("destination", Assert.Throws<ArgumentException>(() => StableMath.SoftmaxRows(x, new Matrix(5, 2))).ParamName);
        Assert.Equal("destination", Assert.Throws<ArgumentException>(() => StableMath.LogSumExpRows(x, new float[1])).ParamName);
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(7, 37)]
    [InlineData(33, 17)]
    [InlineData(3, 257)]
    public void Softmax_RowsAndColumns_MatchReferenceAndSumToOne(int rows, int columns)
    {
        Matrix x = RandomMatrix(rows, columns, 50);
        var byRow = new Matrix(rows, columns);
        var byColumn = new Matrix(rows, columns);
        StableMath.SoftmaxRows(x, byRow);
        StableMath.SoftmaxColumns(x, byColumn);
        for (int r = 0; r < rows; r++)
        {
            double lse = LogSumExpRef(x.Row(r).ToArray());
            double sum = 0;
            for (int c = 0; c < columns; c++)
            {
                Assert.True(TestStatistics.Close(byRow[r, c], Math.Exp(x[r, c] - lse), 1e-5, 1e-37));
                sum += byRow[r, c];
            }

            Assert.True(Math.Abs(sum - 1) <= 2e-6, $"row {r} sums to {sum}");
        }

        for (int c = 0; c < columns; c++)
        {
            double lse = LogSumExpRef(Column(x, c));
            double sum = 0;
            for (int r = 0; r < rows; r++)
            {
                Assert.True(TestStatistics.Close(byColumn[r, c], Math.Exp(x[r, c] - lse), 1e-5, 1e-37));
                sum += byColumn[r, c];
            }

            Assert.True(Math.Abs(sum - 1) <= 2e-6, $"column {c} sums to {sum}");
        }
    }

    [Fact]
    public void Softmax_InPlace_MatchesOutOfPlace()
    {
        Matrix x = RandomMatrix(9, 41, 51);
        var expected = new Matrix(9, 41);
        Matrix inPlace = x.Clone();
        StableMath.SoftmaxRows(x, expected);
        StableMath.SoftmaxRows(inPlace, inPlace);
        Assert.Equal(expected.Data, inPlace.Data);

        inPlace = x.Clone();
        StableMath.SoftmaxColumns(x, expected);
        StableMath.SoftmaxColumns(inPlace, inPlace);
        Assert.Equal(expected.Data, inPlace.Data);
    }

    [Fact]
    public void Softmax_LargeLogits_ExactWithoutOverflow()
    {
        // Rows of logits around 1e4: a softmax through exp(x - lse) would lose ~1e-3 relative accuracy here.
        var x = new Matrix(2, 3, new[] { 1e4f, 1e4f - 1f, 1e4f - 2f, -1e4f, 1e4f, 0f });
        var y = new Matrix(2, 3);
        StableMath.SoftmaxRows(x, y);
        double z = 1 + Math.Exp(-1) + Math.Exp(-2);
        Assert.True(TestStatistics.Close(y[0, 0], 1 / z, 1e-6));
        Assert.True(TestStatistics.Close(y[0, 1], Math.Exp(-1) / z, 1e-6));
        Assert.True(TestStatistics.Close(y[0, 2], Math.Exp(-2) / z, 1e-6));
        Assert.Equal(new[] { 0f, 1f, 0f }, y.Row(1).ToArray());

        var columns = new Matrix(3, 2, new[] { 1e4f, -1e4f, 1e4f - 1f, 1e4f, 1e4f - 2f, 0f });
        StableMath.SoftmaxColumns(columns, columns);
        Assert.True(TestStatistics.Close(columns[1, 0], Math.Exp(-1) / z, 1e-6));
        Assert.Equal(1f, columns[1, 1]);
    }

    [Fact]
    public void Softmax_UndefinedRows_BecomeNaN()
    {
        var x = new Matrix(3, 2, new[] { float.NegativeInfinity, float.NegativeInfinity, 1f, float.NaN, float.PositiveInfinity, 0f });
        var y = new Matrix(3, 2);
        StableMath.SoftmaxRows(x, y);
        Assert.All(y.Data, v => Assert.True(float.IsNaN(v)));
        var partlyMasked = new Matrix(1, 3, new[] { float.NegativeInfinity, 0f, 0f });
        StableMath.SoftmaxRows(partlyMasked, partlyMasked);
        Assert.Equal(new[] { 0f, 0.5f, 0.5f }, partlyMasked.Data);
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(5, 3)]
    [InlineData(4, 17)]
    [InlineData(3, 129)]
    public void L2NormalizeRows_RandomRows_UnitNormAndMatchReference(int rows, int columns)
    {
        Matrix x = RandomMatrix(rows, columns, 60);
        var y = new Matrix(rows, columns);
        float[] norms = new float[rows];
        StableMath.L2NormalizeRows(x, y, norms);
        for (int r = 0; r < rows; r++)
        {
            double ss = 0;
            for (int c = 0; c < columns; c++)
            {
                ss += (double)x[r, c] * x[r, c];
            }

            double norm = Math.Sqrt(ss);
            Assert.True(TestStatistics.Close(norms[r], norm, 1e-6));
            double yy = 0;
            for (int c = 0; c < columns; c++)
            {
                Assert.True(TestStatistics.Close(y[r, c], x[r, c] / norm, 1e-6, 1e-30));
                yy += (double)y[r, c] * y[r, c];
            }

            Assert.True(Math.Abs(yy - 1) < 1e-5);
        }

        Matrix inPlace = x.Clone();
        StableMath.L2NormalizeRows(inPlace, inPlace, norms);
        Assert.Equal(y.Data, inPlace.Data);
    }

    [Fact]
    public void L2NormalizeRows_HugeTinyAndZeroRows_FiniteAndClamped()
    {
        var x = new Matrix(4, 3, new[]
        {
            3e38f, 3e38f, -3e38f,
            1e4f, -1e4f, 1e4f,
            3e-39f, 0f, 4e-39f,
            0f, 0f, 0f,
        });
        var y = new Matrix(4, 3);
        float[] norms = new float[4];
        StableMath.L2NormalizeRows(x, y, norms);
        Assert.Equal(float.PositiveInfinity, norms[0]);
        float third = (float)(1 / Math.Sqrt(3));
        Assert.True(TestStatistics.Close(y[0, 0], third, 1e-6));
        Assert.True(TestStatistics.Close(y[0, 2], -third, 1e-6));
        Assert.True(TestStatistics.Close(y[1, 1], -third, 1e-6));
        Assert.True(TestStatistics.Close(norms[1], 1e4 * Math.Sqrt(3), 1e-6));

        // Norm 5e-39 is below eps = 1e-12: rows are divided by eps, as in PyTorch's F.normalize.
        Assert.True(TestStatistics.Close(y[2, 0], 3e-39 / 1e-12, 1e-5));
        Assert.Equal(new[] { 0f, 0f, 0f }, y.Row(3).ToArray());
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(3, 5)]
    [InlineData(2, 37)]
    public void L2NormalizeRowsBackward_CentralFiniteDifferencesInDouble_Match(int rows, int columns)
    {
        Matrix x = RandomMatrix(rows, columns, 70);
        Matrix g = RandomMatrix(rows, columns, 71);
        var y = new Matrix(rows, columns);
        float[] norms = new float[rows];
        StableMath.L2NormalizeRows(x, y, norms);
        var dx = new Matrix(rows, columns);
        StableMath.L2NormalizeRowsBackward(y, norms, g, dx);

        // L(x) = sum_rc g_rc * (x_rc / ||x_r||), differentiated numerically in double with h = 1e-6 * scale.
        for (int r = 0; r < rows; r++)
        {
            double[] row = Array.ConvertAll(x.Row(r).ToArray(), v => (double)v);
            double scale = 0;
            for (int c = 0; c < columns; c++)
            {
                double h = 1e-6 * Math.Max(1, Math.Abs(row[c]));
                double saved = row[c];
                row[c] = saved + h;
                double plus = NormalizedDot(row, g.Row(r));
                row[c] = saved - h;
                double minus = NormalizedDot(row, g.Row(r));
                row[c] = saved;
                double numeric = (plus - minus) / (2 * h);
                scale = Math.Max(scale, Math.Abs(numeric));
                Assert.True(Math.Abs(dx[r, c] - numeric) <= (1e-4 * Math.Abs(numeric)) + 1e-5, $"({r},{c}): {dx[r, c]} vs {numeric}");
            }
        }

        // In place: gradInput is gradOutput.
        Matrix inPlace = g.Clone();
        StableMath.L2NormalizeRowsBackward(y, norms, inPlace, inPlace);
        Assert.Equal(dx.Data, inPlace.Data);
    }

    [Fact]
    public void L2NormalizeRowsBackward_ClampedRow_DividesByEpsilon()
    {
        var y = new Matrix(1, 2, new[] { 0f, 0f });
        var g = new Matrix(1, 2, new[] { 1e-12f, -2e-12f });
        var dx = new Matrix(1, 2);
        StableMath.L2NormalizeRowsBackward(y, new[] { 0f }, g, dx);
        Assert.True(TestStatistics.Close(dx[0, 0], 1.0, 1e-6));
        Assert.True(TestStatistics.Close(dx[0, 1], -2.0, 1e-6));
    }

    [Fact]
    public void L2Normalize_BadShapes_ThrowNamingArgument()
    {
        var x = new Matrix(3, 4);
        Assert.Equal("destination", Assert.Throws<ArgumentException>(() => StableMath.L2NormalizeRows(x, new Matrix(3, 5), new float[3])).ParamName);
        Assert.Equal("norms", Assert.Throws<ArgumentException>(() => StableMath.L2NormalizeRows(x, x, new float[2])).ParamName);
        Assert.Equal("gradOutput", Assert.Throws<ArgumentException>(() => StableMath.L2NormalizeRowsBackward(x, new float[3], new Matrix(4, 3), x)).ParamName);
        Assert.Equal("gradInput", Assert.Throws<ArgumentException>(() => StableMath.L2NormalizeRowsBackward(x, new float[3], x, new Matrix(3, 3))).ParamName);
    }

    private static double NormalizedDot(double[] row, Span<float> g)
    {
        double ss = 0;
        foreach (double v in row)
        {
            ss += v * v;
        }

        double norm = Math.Sqrt(ss);
        double dot = 0;
        for (int c = 0; c < row.Length; c++)
        {
            dot += g[c] * row[c] / norm;
        }

        return dot;
    }

    private static void AssertClose(double expected, float actual, float input, string what, int context)
    {
        Assert.True(TestStatistics.Close(actual, expected, Relative, DenormalFloor), $"{what}({input:R}) = {actual:R}, expected {expected:R} (case {context})");
    }

    private static void AssertNaNOnlyAt(float[] y, int position)
    {
        for (int i = 0; i < y.Length; i++)
        {
            Assert.Equal(i == position, float.IsNaN(y[i]));
        }
    }

    /// <summary>log(1 + u) in double, accurate for tiny u (Goldberg's trick in double precision).</summary>
    private static double Log1pRef(double u)
    {
        double w = 1 + u;
        return w == 1 ? u : Math.Log(w) * u / (w - 1);
    }

    private static double SoftplusRef(double x) =>
        double.IsPositiveInfinity(x) ? x : Math.Max(x, 0) + Log1pRef(Math.Exp(-Math.Abs(x)));

    private static double SigmoidRef(double x) => x >= 0 ? 1 / (1 + Math.Exp(-x)) : Math.Exp(x) / (1 + Math.Exp(x));

    private static double LogSumExpRef(float[] x)
    {
        double max = double.NegativeInfinity;
        foreach (float v in x)
        {
            max = Math.Max(max, v);
        }

        if (double.IsInfinity(max))
        {
            return max;
        }

        double sum = 0;
        foreach (float v in x)
        {
            sum += Math.Exp(v - max);
        }

        return max + Math.Log(sum);
    }

    /// <summary>Mixed-magnitude inputs: mostly N(0, 30^2), with occasional values out to ±120 and ±1e4.</summary>
    private static float[] Inputs(int n, ulong seed)
    {
        var rng = new CounterRng(seed, 0xC0FFEE);
        float[] x = new float[n];
        for (int i = 0; i < n; i++)
        {
            int kind = rng.NextInt(10);
            x[i] = kind switch
            {
                0 => (rng.NextFloat() - 0.5f) * 240f,
                1 => (rng.NextFloat() - 0.5f) * 2e4f,
                2 => (rng.NextFloat() - 0.5f) * 1e-3f,
                _ => 30f * rng.NextNormal(),
            };
        }

        return x;
    }

    private static Matrix RandomMatrix(int rows, int columns, ulong seed)
    {
        var m = new Matrix(rows, columns);
        CounterRng.FillNormal(seed, 1, m.Data);
        System.Numerics.Tensors.TensorPrimitives.Multiply(m.Data, 8f, m.Data);
        return m;
    }

    private static float[] Column(Matrix m, int c)
    {
        float[] column = new float[m.Rows];
        for (int r = 0; r < m.Rows; r++)
        {
            column[r] = m[r, c];
        }

        return column;
    }
}
