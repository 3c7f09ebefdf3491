using System;
using Aced.Core;

namespace Aced.Losses.Tests;

public class ReuseTests
{
    private static (Matrix, Matrix) Batch(int b, int d, ulong seed) => TestData.Pair(b, d, seed);

    [Theory]
    [InlineData(0)]
    [InlineData(5)]
    public void Compute_AfterLargerBatchOfOtherDimension_EqualsFreshInstance(int chunk)
    {
        // One instance of each loss sees b = 37, d = 11, then b = 9, d = 4 (and the KD teachers change dimension):
        // its grown workspaces must carry no stale rows, log-sum-exps or targets into the smaller call.
        var workspace = new LossWorkspaceOptions { RowChunkSize = chunk };
        var sigmoid = new SigmoidContrastiveLoss(workspace);
        var softmax = new SoftmaxContrastiveLoss(workspace);
        var softmaxKd = new SoftmaxDistillationLoss(workspace);
        var sigmoidKd = new SigmoidDistillationLoss(workspace);
        var p = new LogitParameters(10f, -4f);
        (Matrix li, Matrix lt) = Batch(37, 11, 1);
        (Matrix lti, Matrix ltt) = Batch(37, 13, 2);
        (Matrix si, Matrix st) = Batch(9, 4, 3);
        (Matrix sti, Matrix stt) = Batch(9, 6, 4);
        var bigTeacher = new TeacherEmbeddings(lti, ltt, new LogitParameters(20f, -2f));
        var smallTeacher = new TeacherEmbeddings(sti, stt, new LogitParameters(15f, -3f));

        sigmoid.Compute(li, lt, p, new EmbeddingGradients(new Matrix(37, 11), new Matrix(37, 11)));
        softmax.Compute(li, lt, p, new EmbeddingGradients(new Matrix(37, 11), new Matrix(37, 11)));
        softmaxKd.Compute(li, lt, p, bigTeacher, new EmbeddingGradients(new Matrix(37, 11), new Matrix(37, 11)));
        sigmoidKd.Compute(li, lt, p, new[] { bigTeacher }, new EmbeddingGradients(new Matrix(37, 11), new Matrix(37, 11)));

        Check((l, g) => sigmoid.Compute(si, st, p, g).Loss, (l, g) => new SigmoidContrastiveLoss(workspace).Compute(si, st, p, g).Loss);
        Check((l, g) => softmax.Compute(si, st, p, g).Loss, (l, g) => new SoftmaxContrastiveLoss(workspace).Compute(si, st, p, g).Loss);
        Check((l, g) => softmaxKd.Compute(si, st, p, smallTeacher, g).Loss, (l, g) => new SoftmaxDistillationLoss(workspace).Compute(si, st, p, smallTeacher, g).Loss);
        Check((l, g) => sigmoidKd.Compute(si, st, p, new[] { smallTeacher }, g).Loss, (l, g) => new SigmoidDistillationLoss(workspace).Compute(si, st, p, new[] { smallTeacher }, g).Loss);
    }

    private static void Check(Func<int, EmbeddingGradients, double> reused, Func<int, EmbeddingGradients, double> fresh)
    {
        var g1 = new EmbeddingGradients(new Matrix(9, 4), new Matrix(9, 4));
        var g2 = new EmbeddingGradients(new Matrix(9, 4), new Matrix(9, 4));
        Assert.Equal(fresh(0, g2), reused(0, g1));
        Assert.Equal(g2.Image.Span.ToArray(), g1.Image.Span.ToArray());
        Assert.Equal(g2.Text.Span.ToArray(), g1.Text.Span.ToArray());
    }
}
