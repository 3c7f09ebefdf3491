using System;
using System.Collections.Generic;
using Aced.Core;

namespace Aced.Models.Tests;

/// <summary>Issue 8 item 14: encode-only calls between Forward and Backward must not change the gradients.</summary>
public class EncodeIsolationTests
{
    private static float[][] Gradients(TwoTowerModel model, Matrix images, int[] tokens, Action? between)
    {
        model.ZeroGradients();
        (MatrixView zi, MatrixView zt) = model.Forward(images, tokens);
        var dzi = new Matrix(zi.Rows, zi.Columns);
        var dzt = new Matrix(zt.Rows, zt.Columns);
        TestSigmoidLoss.Compute(zi, zt, model.LogScale.Value[0], model.Bias.Value[0], dzi, dzt, out double dt, out double dc);
        between?.Invoke();
        model.Backward(dzi, dzt, (float)dt, (float)dc);
        var result = new float[model.Parameters.Count][];
        for (int i = 0; i < result.Length; i++)
        {
            result[i] = (float[])model.Parameters[i].Gradient.Clone();
        }

        return result;
    }

    [Theory]
    [InlineData(PoolingKind.GlobalAverage, PoolingKind.FirstToken)]
    [InlineData(PoolingKind.MultiheadAttention, PoolingKind.LastToken)]
    public void Backward_AfterEncodeBetweenForwardAndBackward_GivesTheSameGradients(PoolingKind imagePooling, PoolingKind textPooling)
    {
        var model = new TwoTowerModel(TestData.TinyConfig(imagePooling: imagePooling, textPooling: textPooling), 21);
        (Matrix images, int[] tokens) = TestTrainer.Pairs(model, 6, 22);
        (Matrix otherImages, int[] otherTokens) = TestTrainer.Pairs(model, 9, 23);
        otherImages = TestData.RandomMatrix(9, model.ImageEncoder.InputLength, 24);
        var ei = new Matrix(9, model.EmbeddingDimension);
        var et = new Matrix(9, model.EmbeddingDimension);

        float[][] expected = Gradients(model, images, tokens, null);
        float[][] actual = Gradients(model, images, tokens, () =>
        {
            model.EncodeImages(otherImages, ei, batchSize: 4);
            model.EncodeTexts(otherTokens, et, batchSize: 5);
        });

        for (int p = 0; p < expected.Length; p++)
        {
            Assert.True(expected[p].AsSpan().SequenceEqual(actual[p]), $"gradient of {model.Parameters[p].Name} changed");
        }

        // The encodes computed what a training forward computes on the same rows.
        (MatrixView fi, MatrixView ft) = model.Forward(otherImages, otherTokens);
        for (int i = 0; i < ei.Data.Length; i++)
        {
            Assert.Equal(fi.Span[i], ei.Data[i], 6);
            Assert.Equal(ft.Span[i], et.Data[i], 6);
        }
    }

    [Fact]
    public void Backward_AfterEncodeOnUserTowerWithSharedBuffers_ThrowsUntilForwardRunsAgain()
    {
        TwoTowerConfig config = TestData.TinyConfig();
        var model = new TwoTowerModel(new UserImageTower(new VisionTransformer(config.Image, 3)), new TextTransformer(config.Text, 3));
        (Matrix images, int[] tokens) = TestTrainer.Pairs(model, 4, 5);
        (MatrixView zi, MatrixView zt) = model.Forward(images, tokens);
        var dzi = new Matrix(zi.Rows, zi.Columns);
        var dzt = new Matrix(zt.Rows, zt.Columns);
        model.EncodeImages(TestData.RandomMatrix(3, model.ImageEncoder.InputLength, 6), new Matrix(3, model.EmbeddingDimension));
        var e = Assert.Throws<InvalidOperationException>(() => model.Backward(dzi, dzt, 0f, 0f));
        Assert.Contains("Forward again", e.Message, StringComparison.Ordinal);
        model.Forward(images, tokens);
        model.Backward(dzi, dzt, 0f, 0f);
    }

    /// <summary>A user tower: delegates to a ViT but is not one, so the model cannot build an inference twin for it.</summary>
    private sealed class UserImageTower(VisionTransformer inner) : IImageEncoder
    {
        public int EmbeddingDimension => inner.EmbeddingDimension;

        public int InputLength => inner.InputLength;

        public IReadOnlyList<Parameter> Parameters => inner.Parameters;

        public MatrixView Forward(MatrixView images) => inner.Forward(images);

        public void Backward(MatrixView embeddingGradient) => inner.Backward(embeddingGradient);
    }
}
