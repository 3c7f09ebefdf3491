using System;
using Aced.Core;
using Aced.Losses;
using Aced.Selection;

namespace Aced.Selection.Tests;

/// <summary>
/// Pins the selection's brute-force batch loss (the reference every conditional-score test compares against) to the
/// independently written Aced.Losses implementations, so a shared convention error (1/2 or 1/b factor, sign of the
/// labels, bias handling) cannot hide in both the engine and its reference.
/// </summary>
public class CrossLibraryTests
{
    [Theory]
    [InlineData(ContrastiveKind.Sigmoid, 10f, -10f)]
    [InlineData(ContrastiveKind.Sigmoid, 3f, 1.5f)]
    [InlineData(ContrastiveKind.Softmax, 14.285714f, 0f)]
    [InlineData(ContrastiveKind.Softmax, 8f, 0.5f)]
    public void BatchLoss_Members_EqualsBatchSizeTimesLossesLibrary(ContrastiveKind loss, float a, float c)
    {
        ModelEmbeddings model = TestData.Model(23, 6, 91, a, c);
        int[] members = { 17, 2, 9, 21, 4, 13, 0 };
        int k = members.Length;
        var image = new Matrix(k, 6);
        var text = new Matrix(k, 6);
        for (int i = 0; i < k; i++)
        {
            model.Image.Row(members[i]).CopyTo(image.Row(i));
            model.Text.Row(members[i]).CopyTo(text.Row(i));
        }

        var parameters = new LogitParameters(a, c);
        double library = loss == ContrastiveKind.Sigmoid
            ? new SigmoidContrastiveLoss().Compute(image, text, parameters).Loss
            : new SoftmaxContrastiveLoss().Compute(image, text, parameters).Loss;

        // Selection scores use the sum over examples, the losses library the mean: s(M) = |M| * L(M). Relative 1e-5.
        double selection = Scorers.BatchLoss(model, loss, members);
        Assert.True(Math.Abs(selection - (k * library)) <= 1e-5 * Math.Abs(selection), $"selection {selection:R} vs {k} x library {k * library:R}");
    }
}
