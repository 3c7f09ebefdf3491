using System;
using Aced.Core;
using Aced.Models.Text;

namespace Aced.Models.Tests;

public class TowerTests
{
    // Whole-tower gradient checks: loss = sum(R o embeddings) in double; central differences with eps = 1e-2 on up to
    // 6 entries of every tensor; tolerance 2e-2 relative + 2e-3 absolute (float32 forward through every layer).

    [Theory]
    [InlineData(PoolingKind.GlobalAverage)]
    [InlineData(PoolingKind.MultiheadAttention)]
    [InlineData(PoolingKind.FirstToken)]
    [InlineData(PoolingKind.LastToken)]
    public void VisionTransformer_GradientsMatchFiniteDifferences(PoolingKind pooling)
    {
        VisionTransformerConfig config = TestData.TinyConfig(imagePooling: pooling).Image;
        var tower = new VisionTransformer(config, 3);
        Matrix images = TestData.RandomMatrix(2, config.InputLength, 71);
        float[] r = TestData.Random(2 * config.EmbeddingDimension, 72);
        MatrixView y = tower.Forward(images);
        tower.Backward(new Matrix(2, config.EmbeddingDimension, r));
        foreach (Parameter p in tower.Parameters)
        {
            FiniteDifference.Check(p.Value, p.Gradient, () => TestData.Sum(tower.Forward(images), r), p.Name, rel: 2e-2, abs: 2e-3, maxChecks: 6);
        }

        Assert.Equal(config.ParameterCount(), Count(tower.Parameters));
        _ = y;
    }

    [Theory]
    [InlineData(PoolingKind.FirstToken, false)]
    [InlineData(PoolingKind.LastToken, true)]
    [InlineData(PoolingKind.GlobalAverage, true)]
    [InlineData(PoolingKind.MultiheadAttention, false)]
    public void TextTransformer_GradientsMatchFiniteDifferences(PoolingKind pooling, bool causal)
    {
        TextTransformerConfig config = TestData.TinyConfig(textPooling: pooling, causal: causal).Text;
        var tower = new TextTransformer(config, 4);
        int[] tokens = [1, 5, 9, 2, 0, 0, 1, 7, 7, 30, 12, 2];
        float[] r = TestData.Random(2 * config.EmbeddingDimension, 73);
        tower.Forward(tokens, 2);
        tower.Backward(new Matrix(2, config.EmbeddingDimension, r));
        foreach (Parameter p in tower.Parameters)
        {
            FiniteDifference.Check(p.Value, p.Gradient, () => TestData.Sum(tower.Forward(tokens, 2), r), p.Name, rel: 2e-2, abs: 2e-3, maxChecks: 6);
        }

        Assert.Equal(config.ParameterCount(), Count(tower.Parameters));
    }

    [Fact]
    public void TextTransformer_CausalMask_EarlierTokensIgnoreLaterOnes()
    {
        TextTransformerConfig config = TestData.TinyConfig(textPooling: PoolingKind.FirstToken, causal: true).Text;
        var tower = new TextTransformer(config, 5);
        float[] a = tower.Forward([1, 5, 9, 2, 0, 0], 1).Row(0).ToArray();
        float[] b = tower.Forward([1, 6, 3, 3, 3, 2], 1).Row(0).ToArray();
        Assert.Equal(a, b);
        var bidirectional = new TextTransformer(config with { Causal = false }, 5);
        float[] c = bidirectional.Forward([1, 5, 9, 2, 0, 0], 1).Row(0).ToArray();
        float[] d = bidirectional.Forward([1, 6, 3, 3, 3, 2], 1).Row(0).ToArray();
        Assert.NotEqual(c, d);
    }

    [Fact]
    public void TwoTowerModel_GradientsIncludingScaleAndBiasMatchFiniteDifferences()
    {
        var model = new TwoTowerModel(TestData.TinyConfig(), 6);
        Matrix images = TestData.RandomMatrix(3, model.ImageEncoder.InputLength, 74);
        int[] tokens = [1, 4, 5, 2, 0, 0, 1, 8, 2, 0, 0, 0, 1, 9, 9, 9, 9, 2];
        int e = model.EmbeddingDimension;
        var dzi = new Matrix(3, e);
        var dzt = new Matrix(3, e);
        (MatrixView zi, MatrixView zt) = model.Forward(images, tokens);
        TestSigmoidLoss.Compute(zi, zt, model.LogScale.Value[0], model.Bias.Value[0], dzi, dzt, out double dt, out double dc);
        model.Backward(dzi, dzt, (float)dt, (float)dc);
        double Loss()
        {
            (MatrixView a, MatrixView b) = model.Forward(images, tokens);
            return TestSigmoidLoss.Compute(a, b, model.LogScale.Value[0], model.Bias.Value[0], null, null, out _, out _);
        }

        foreach (Parameter p in model.Parameters)
        {
            FiniteDifference.Check(p.Value, p.Gradient, Loss, p.Name, rel: 3e-2, abs: 5e-4, maxChecks: 4);
        }
    }

    [Fact]
    public void TwoTowerModel_Init_MatchesSigLipAndClipConventions()
    {
        var sig = new TwoTowerModel(TestData.TinyConfig(), 1);
        Assert.Equal(MathF.Log(10f), sig.LogScale.Value[0]);
        Assert.Equal(-10f, sig.Bias.Value[0]);
        var clip = new TwoTowerModel(TestData.TinyConfig() with { Kind = ContrastiveKind.Softmax }, 1);
        Assert.Equal(MathF.Log(1f / 0.07f), clip.LogScale.Value[0]);
        Assert.Equal(0f, clip.Bias.Value[0]);
        clip.LogScale.Value[0] = 9f;
        clip.ClampLogScale();
        Assert.Equal(MathF.Log(100f), clip.LogScale.Value[0]);
        clip.LogScale.Value[0] = -1f;
        clip.ClampLogScale();
        Assert.Equal(0f, clip.LogScale.Value[0]);
    }

    [Theory]
    [InlineData(ContrastiveKind.Sigmoid)]
    [InlineData(ContrastiveKind.Softmax)]
    public void TwoTowerModel_Init_ComesFromTheOneCoreSource(ContrastiveKind kind)
    {
        var model = new TwoTowerModel(TestData.TinyConfig() with { Kind = kind }, 1);
        LogitParameters initial = LogitParameters.Initial(kind);
        Assert.Equal(initial.LogScale, model.LogScale.Value[0]);
        Assert.Equal(initial.Bias, model.Bias.Value[0]);
        Assert.Equal(typeof(ContrastiveKind), typeof(TwoTowerConfig).GetProperty(nameof(TwoTowerConfig.Kind))!.PropertyType);
        foreach (Type t in typeof(TwoTowerModel).Assembly.GetExportedTypes())
        {
            Assert.NotEqual(nameof(ContrastiveKind), t.Name);
        }
    }

    [Fact]
    public void TwoTowerModel_EmbeddingsAreUnitNorm_AndEncodeMatchesForward()
    {
        var model = new TwoTowerModel(TestData.TinyConfig(), 7);
        Matrix images = TestData.RandomMatrix(5, model.ImageEncoder.InputLength, 75);
        var tokenizer = WordTokenizer.Train(TestData.Captions, 40);
        int[] tokens = tokenizer.EncodeBatch(TestData.Captions[..5], 6);
        (MatrixView zi, MatrixView zt) = model.Forward(images, tokens);
        Matrix fi = zi.ToMatrix();
        Matrix ft = zt.ToMatrix();
        for (int i = 0; i < 5; i++)
        {
            Assert.Equal(1.0, Math.Sqrt(System.Numerics.Tensors.TensorPrimitives.Dot(fi.Row(i), fi.Row(i))), 5);
        }

        var ei = new Matrix(5, model.EmbeddingDimension);
        var et = new Matrix(5, model.EmbeddingDimension);
        model.EncodeImages(images, ei, batchSize: 2);
        model.EncodeTexts(tokens, et, batchSize: 3);
        for (int i = 0; i < fi.Data.Length; i++)
        {
            Assert.Equal(fi.Data[i], ei.Data[i], 6);
            Assert.Equal(ft.Data[i], et.Data[i], 6);
        }
    }

    [Fact]
    public void Towers_BadInput_ThrowNamingTheArgument()
    {
        var model = new TwoTowerModel(TestData.TinyConfig(), 8);
        var wrong = new Matrix(2, 10);
        Assert.Equal("images", Assert.Throws<ArgumentException>(() => model.ImageEncoder.Forward(wrong)).ParamName);
        Matrix nan = TestData.RandomMatrix(1, model.ImageEncoder.InputLength, 1);
        nan.Data[5] = float.NaN;
        Assert.Equal("images", Assert.Throws<ArgumentException>(() => model.ImageEncoder.Forward(nan)).ParamName);
        Assert.Equal("tokens", Assert.Throws<ArgumentException>(() => model.TextEncoder.Forward([1, 2, 3, 99, 0, 0], 1)).ParamName);
        Assert.Equal("tokens", Assert.Throws<ArgumentException>(() => model.TextEncoder.Forward([1, 2], 1)).ParamName);
        Assert.ThrowsAny<ArgumentException>(() => new VisionTransformer(new VisionTransformerConfig { ImageSize = 10, PatchSize = 4 }, 1));
        Assert.ThrowsAny<ArgumentException>(() => new TextTransformer(new TextTransformerConfig { Width = 10, Heads = 3 }, 1));
        Assert.Equal("--size", Assert.Throws<ArgumentException>(() => ModelSizes.Parse("XL", "--size")).ParamName);
        Assert.Equal("size", Assert.Throws<ArgumentOutOfRangeException>(() => VisionTransformerConfig.Preset((ModelSize)9)).ParamName);
        Assert.Throws<InvalidOperationException>(() => new VisionTransformer(TestData.TinyConfig().Image, 1).Backward(new Matrix(1, 6)));
    }

    [Fact]
    public void Presets_KeepFamilyRatios_AndReferenceShapeIsS()
    {
        foreach (ModelSize size in Enum.GetValues<ModelSize>())
        {
            VisionTransformerConfig v = VisionTransformerConfig.Preset(size);
            Assert.Equal(4 * v.Width, v.MlpWidth);
            Assert.True(v.ParameterCount() > 0 && v.ForwardFlops() > 0);
        }

        VisionTransformerConfig s = VisionTransformerConfig.Preset(ModelSize.S);
        Assert.Equal((128, 4, 4, 512, 64), (s.Width, s.Depth, s.Heads, s.MlpWidth, s.Tokens));
        Assert.Equal(2 * VisionTransformerConfig.Preset(ModelSize.Ti).Width, s.Width);
        Assert.Equal(2 * s.Width, VisionTransformerConfig.Preset(ModelSize.B).Width);
    }

    [Fact]
    public void Initialisation_SameSeedSameParameters_DifferentSeedDifferent()
    {
        var a = new TwoTowerModel(TestData.TinyConfig(), 11);
        var b = new TwoTowerModel(TestData.TinyConfig(), 11);
        var c = new TwoTowerModel(TestData.TinyConfig(), 12);
        for (int i = 0; i < a.Parameters.Count; i++)
        {
            Assert.Equal(a.Parameters[i].Value, b.Parameters[i].Value);
        }

        Assert.NotEqual(a.Parameters[0].Value, c.Parameters[0].Value);
    }

    private static long Count(System.Collections.Generic.IReadOnlyList<Parameter> ps)
    {
        long n = 0;
        foreach (Parameter p in ps)
        {
            n += p.Length;
        }

        return n;
    }
}

public class PresetTableTests
{
    [Theory]
    [InlineData("Mu", 68_000, 8.958e6, 261_000, 3.944e6)]
    [InlineData("Ti", 216_000, 29.8e6, 473_000, 13.6e6)]
    [InlineData("S", 824_000, 109.9e6, 1_338_000, 52.5e6)]
    [InlineData("B", 3_221_000, 421.1e6, 4_249_000, 205.6e6)]
    public void Presets_MatchTheDocumentedTable(string size, long imageParams, double imageFlops, long textParams, double textFlops)
    {
        TwoTowerConfig c = TwoTowerConfig.Preset(ModelSizes.Parse(size));
        Assert.InRange(c.Image.ParameterCount(), imageParams - 1000, imageParams + 1000);
        Assert.InRange(c.Text.ParameterCount(), textParams - 1000, textParams + 1000);
        Assert.InRange(c.Image.ForwardFlops(), imageFlops * 0.995, imageFlops * 1.005);
        Assert.InRange(c.Text.ForwardFlops(), textFlops * 0.995, textFlops * 1.005);
        var model = new TwoTowerModel(c with { Text = c.Text with { VocabularySize = 64 } }, 1);
        long actual = 0;
        foreach (Parameter p in model.ImageEncoder.Parameters)
        {
            actual += p.Length;
        }

        Assert.Equal(c.Image.ParameterCount(), actual);
    }
}
