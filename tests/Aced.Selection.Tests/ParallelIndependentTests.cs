using System;
using System.Linq;
using Aced.Core;

namespace Aced.Selection.Tests;

/// <summary>
/// <see cref="ConditionalScorer.Begin"/>'s independent scores in row bands on the worker pool
/// (<see cref="ConditionalScorer.ParallelIndependent"/>) are a performance switch: the scores, the conditional scores
/// after a chunk and both models' finite and norm flags must be the same with it on or off, at 1, 2 and 3 threads,
/// including a batch whose failing row sits in a later band than the first.
/// </summary>
[Collection(GemmGlobalStateCollection.Name)]
public class ParallelIndependentTests
{
    [Theory]
    [InlineData(333, 48, -1, -1, 1e-3)]       // six bands, every check passes
    [InlineData(333, 48, 300, -1, 1e-3)]      // the student's row 300 (band 4) is not unit norm
    [InlineData(333, 48, -1, 199, 1e-3)]      // the reference's row 199 (band 3) is not unit norm
    [InlineData(333, 48, -1, 330, double.PositiveInfinity)] // norms unchecked: both flags stay true
    [InlineData(64, 32, 63, -1, 1e-3)]        // one band: the serial path either way
    [InlineData(20, 256, -1, -1, 1e-3)]
    public void Begin_ParallelOnOrOff_SameScoresAndFlagsAtEveryThreadCount(int count, int dim, int studentRow, int referenceRow, double tolerance)
    {
        SuperBatch batch = TestData.Batch(count, dim, 17, ContrastiveKind.Sigmoid);
        Stretch(batch.Student.Image, studentRow);
        Stretch(batch.Reference!.Text, referenceRow);
        int[] members = TestData.Distinct(count, Math.Min(24, count / 2), 5);
        Run expected = Score(batch, members, tolerance, threads: 1, parallel: false);
        Assert.Equal(studentRow < 0 || double.IsPositiveInfinity(tolerance), expected.StudentFinite);
        Assert.Equal(referenceRow < 0 || double.IsPositiveInfinity(tolerance), expected.ReferenceFinite);
        int saved = GemmControl.MaxDegreeOfParallelism;
        try
        {
            for (int threads = 1; threads <= 3; threads++)
            {
                foreach (bool parallel in new[] { true, false })
                {
                    Run actual = Score(batch, members, tolerance, threads, parallel);
                    Assert.Equal(expected.StudentFinite, actual.StudentFinite);
                    Assert.Equal(expected.ReferenceFinite, actual.ReferenceFinite);
                    Assert.Equal(expected.Independent.Select(BitConverter.DoubleToInt64Bits), actual.Independent.Select(BitConverter.DoubleToInt64Bits));
                    Assert.Equal(expected.Conditional.Select(BitConverter.DoubleToInt64Bits), actual.Conditional.Select(BitConverter.DoubleToInt64Bits));
                }
            }
        }
        finally
        {
            GemmControl.MaxDegreeOfParallelism = saved;
        }
    }

    [Fact]
    public void Begin_NaNInALaterBand_StudentFlagFalseWithParallelBands()
    {
        SuperBatch batch = TestData.Batch(333, 48, 19, ContrastiveKind.Sigmoid);
        batch.Student.Text.Row(270)[5] = float.NaN;
        int saved = GemmControl.MaxDegreeOfParallelism;
        try
        {
            foreach (int threads in new[] { 1, 2 })
            {
                Run run = Score(batch, [], double.PositiveInfinity, threads, parallel: true);
                Assert.False(run.StudentFinite);
                Assert.True(run.ReferenceFinite);
                Assert.True(double.IsNaN(run.Independent[270]));
                Assert.False(double.IsNaN(run.Independent[269]));
            }
        }
        finally
        {
            GemmControl.MaxDegreeOfParallelism = saved;
        }
    }

    /// <summary>Scales row <paramref name="row"/> (when not negative) to norm 1.5, outside the default tolerance.</summary>
    private static void Stretch(MatrixView m, int row)
    {
        if (row >= 0)
        {
            Span<float> r = m.Row(row);
            System.Numerics.Tensors.TensorPrimitives.Multiply(r, 1.5f, r);
        }
    }

    private sealed record Run(double[] Independent, double[] Conditional, bool StudentFinite, bool ReferenceFinite);

    private static Run Score(SuperBatch batch, int[] members, double tolerance, int threads, bool parallel)
    {
        bool saved = ConditionalScorer.ParallelIndependent;
        GemmControl.MaxDegreeOfParallelism = threads;
        ConditionalScorer.ParallelIndependent = parallel;
        try
        {
            var scorer = new ConditionalScorer();
            scorer.Begin(batch, ScoringMethod.Learnability, ScoreLoss.Sigmoid, Math.Max(1, members.Length), tolerance);
            double[] independent = scorer.Independent.ToArray();
            scorer.AddMembers(members);
            double[] conditional = new double[batch.Count];
            scorer.Conditional(conditional);
            return new Run(independent, conditional, scorer.StudentVerifiedFinite, scorer.ReferenceVerifiedFinite);
        }
        finally
        {
            ConditionalScorer.ParallelIndependent = saved;
        }
    }
}
