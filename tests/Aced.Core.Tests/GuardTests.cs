using System;

namespace Aced.Core.Tests;

public class GuardTests
{
    [Fact]
    public void NumericChecks_BadValues_ThrowNamingCallerArgument()
    {
        int batchSize = -1;
        long offset = -5;
        int count = 0;
        float temperature = float.NaN;
        double ratio = double.PositiveInfinity;
        Assert.Equal(nameof(batchSize), Assert.Throws<ArgumentOutOfRangeException>(() => Guard.NonNegative(batchSize)).ParamName);
        Assert.Equal(nameof(offset), Assert.Throws<ArgumentOutOfRangeException>(() => Guard.NonNegative(offset)).ParamName);
        Assert.Equal(nameof(count), Assert.Throws<ArgumentOutOfRangeException>(() => Guard.Positive(count)).ParamName);
        Assert.Equal(nameof(temperature), Assert.Throws<ArgumentOutOfRangeException>(() => Guard.Finite(temperature)).ParamName);
        Assert.Equal(nameof(ratio), Assert.Throws<ArgumentOutOfRangeException>(() => Guard.Finite(ratio)).ParamName);

        Guard.NonNegative(0);
        Guard.NonNegative(0L);
        Guard.Positive(1);
        Guard.Finite(float.MaxValue);
        Guard.Finite(-double.MaxValue);
    }

    [Fact]
    public void That_FalseCondition_ThrowsWithMessageAndName()
    {
        Guard.That(true, "unused", "x");
        var ex = Assert.Throws<ArgumentException>(() => Guard.That(false, "must be sorted", "indices"));
        Assert.Equal("indices", ex.ParamName);
        Assert.Contains("must be sorted", ex.Message);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(4095)]
    [InlineData(4096)]
    [InlineData(9000)]
    public void IndexOfNonFinite_AnyBlockPosition_FindsFirst(int position)
    {
        foreach (float bad in new[] { float.NaN, float.PositiveInfinity, float.NegativeInfinity })
        {
            float[] values = new float[9001];
            values[position] = bad;
            if (position + 3 < values.Length)
            {
                values[position + 3] = float.NaN;
            }

            Assert.Equal(position, Guard.IndexOfNonFinite(values));
            var ex = Assert.Throws<ArgumentException>(() => Guard.AllFinite(values));
            Assert.Equal(nameof(values), ex.ParamName);
            Assert.Contains($"index {position}", ex.Message);
        }
    }

    [Fact]
    public void IndexOfNonFinite_FiniteValuesWhoseSumOverflows_ReturnsMinusOne()
    {
        float[] values = { float.MaxValue, float.MaxValue, -float.MaxValue, float.MaxValue };
        Assert.Equal(-1, Guard.IndexOfNonFinite(values));
        Guard.AllFinite(values);
        Assert.Equal(-1, Guard.IndexOfNonFinite(ReadOnlySpan<float>.Empty));
    }
}
