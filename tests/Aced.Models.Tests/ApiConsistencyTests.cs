using System;
using System.Collections.Generic;
using System.Reflection;
using System.Runtime.InteropServices;
using Aced.Core;
using Aced.Models.Text;

namespace Aced.Models.Tests;

/// <summary>Issue 8 item 20: one naming and calling convention across the models package.</summary>
public class ApiConsistencyTests
{
    [Fact]
    public void EncodeTexts_NoCount_InfersCaptionsFromTokensAndMatchesForward()
    {
        var model = new TwoTowerModel(TestData.TinyConfig(), 7);
        (Matrix images, int[] tokens) = TestTrainer.Pairs(model, 5, 8);
        foreach (MethodInfo m in typeof(TwoTowerModel).GetMethods())
        {
            if (m.Name == nameof(TwoTowerModel.EncodeTexts))
            {
                Assert.DoesNotContain(m.GetParameters(), p => p.Name == "count");
            }
        }

        var et = new Matrix(5, model.EmbeddingDimension);
        model.EncodeTexts(tokens, et, batchSize: 2);
        Matrix forward = model.Forward(images, tokens).Text.ToMatrix();
        for (int i = 0; i < et.Data.Length; i++)
        {
            Assert.Equal(forward.Data[i], et.Data[i], 6);
        }

        Assert.Equal("tokens", Assert.Throws<ArgumentException>(() => model.EncodeTexts(tokens.AsSpan(1), et)).ParamName);
        Assert.Equal("destination", Assert.Throws<ArgumentException>(() => model.EncodeTexts(tokens, new Matrix(4, model.EmbeddingDimension))).ParamName);
    }

    [Fact]
    public void EncodeBatch_SpanListAndDestinationForms_GiveTheSameIds()
    {
        WordTokenizer tokenizer = WordTokenizer.Train(TestData.Captions, vocabularySize: 40);
        string[] array = TestData.Captions[..4];
        var list = new List<string>(array);
        int[] fromArray = tokenizer.EncodeBatch(array, 7);
        int[] fromSpan = tokenizer.EncodeBatch(CollectionsMarshal.AsSpan(list), 7);
        int[] fromList = tokenizer.EncodeBatch((IReadOnlyList<string>)list, 7);
        int[] into = new int[4 * 7];
        tokenizer.EncodeBatch(array, 7, into);
        Assert.Equal(fromArray, fromSpan);
        Assert.Equal(fromArray, fromList);
        Assert.Equal(fromArray, into);
        Assert.Equal(tokenizer.Encode(array[2], 7), fromArray.AsSpan(14, 7).ToArray());
        Assert.Equal("destination", Assert.Throws<ArgumentException>(() => tokenizer.EncodeBatch(array, 7, new int[27])).ParamName);
        Assert.Equal("maxTokens", Assert.Throws<ArgumentOutOfRangeException>(() => tokenizer.EncodeBatch(array, 1)).ParamName);
    }

    [Fact]
    public void Train_BothTokenizers_NameTheSizeVocabularySize()
    {
        Assert.Equal("vocabularySize", typeof(WordTokenizer).GetMethod(nameof(WordTokenizer.Train))!.GetParameters()[1].Name);
        Assert.Equal("vocabularySize", typeof(BpeTokenizer).GetMethod(nameof(BpeTokenizer.Train))!.GetParameters()[1].Name);
        Assert.Equal("vocabularySize", Assert.Throws<ArgumentOutOfRangeException>(() => WordTokenizer.Train(TestData.Captions, vocabularySize: 2)).ParamName);
    }

    [Theory]
    [InlineData("Mu", ModelSize.Mu)]
    [InlineData("ti", ModelSize.Ti)]
    [InlineData(" S ", ModelSize.S)]
    [InlineData("b", ModelSize.B)]
    public void ModelSizes_Parse_ReadsNamesCaseInsensitively(string text, ModelSize expected)
    {
        Assert.Equal(expected, ModelSizes.Parse(text));
        Assert.True(ModelSizes.TryParse(text, out ModelSize parsed));
        Assert.Equal(expected, parsed);
        Assert.Equal(TwoTowerConfig.Preset(expected).Image, VisionTransformerConfig.Preset(expected));
    }

    [Theory]
    [InlineData("XL")]
    [InlineData("")]
    [InlineData(null)]
    public void ModelSizes_UnknownName_TryParseFalseAndParseNamesTheOption(string? text)
    {
        Assert.False(ModelSizes.TryParse(text, out _));
        var e = Assert.Throws<ArgumentException>(() => ModelSizes.Parse(text!, "--size"));
        Assert.Equal("--size", e.ParamName);
        Assert.Contains("Mu, Ti, S or B", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Guard_IsNotPublicApi()
    {
        Type guard = typeof(MatrixView).Assembly.GetType("Aced.Core.Guard", throwOnError: true)!;
        Assert.False(guard.IsPublic);
    }
}
