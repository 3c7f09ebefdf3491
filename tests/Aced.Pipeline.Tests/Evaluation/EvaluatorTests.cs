using System;
using System.Collections.Generic;
using Aced.Core;
using Aced.Models;
using Aced.Models.Text;
using Aced.Pipeline.Data;
using Aced.Pipeline.Evaluation;

namespace Aced.Pipeline.Tests.Evaluation;

public class EvaluatorTests
{
    private static readonly string[] s_colours = ["red", "green", "blue"];

    internal static ImageTextDataset TinySplit(string name, int count, int imageSize, int seed)
    {
        var rng = new System.Random(seed);
        int floats = 3 * imageSize * imageSize;
        var pixels = new float[count * floats];
        var captions = new string[count];
        var ids = new string[count];
        var labels = new int[count];
        for (int i = 0; i < count; i++)
        {
            int c = i % 3;
            labels[i] = i == count - 1 ? -1 : c;
            for (int p = 0; p < floats; p++)
            {
                pixels[(i * floats) + p] = (p / (imageSize * imageSize) == c ? 0.8f : -0.8f) + (float)((rng.NextDouble() - 0.5) * 0.2);
            }

            captions[i] = $"a {s_colours[c]} square number {i}";
            ids[i] = $"{name}-{i}";
        }

        var task = new LabelTask("colour", s_colours, ["a {0} square", "something {0}"], labels);
        return new ImageTextDataset(name, imageSize, pixels, captions, ids, new bool[count], [task]);
    }

    private static (TwoTowerModel Model, Tokenizer Tokenizer) TinyModel(IEnumerable<string> corpus)
    {
        Tokenizer tokenizer = WordTokenizer.Train(corpus, 64);
        TwoTowerConfig config = TwoTowerConfig.Preset(ModelSize.Mu, vocabularySize: tokenizer.VocabularySize, contextLength: 8, imageSize: 8, patchSize: 4, embeddingDimension: 16);
        return (new TwoTowerModel(config, 7), tokenizer);
    }

    [Fact]
    public void Evaluate_OneSplit_NamesEveryTaskAndAgreesWithMetrics()
    {
        ImageTextDataset split = TinySplit("toy/heldout", 10, 8, 1);
        (TwoTowerModel model, Tokenizer tokenizer) = TinyModel(split.Captions);
        var evaluator = new Evaluator(model, tokenizer) { ChunkRows = 3 };
        IReadOnlyDictionary<string, double> values = evaluator.Evaluate([split]);
        string[] expected =
        [
            "heldout/colour/top1", "heldout/colour/top5", "heldout/colour/mpcr",
            "i2t_r1", "i2t_r5", "i2t_r10", "i2t_mean_rank", "i2t_median_rank",
            "t2i_r1", "t2i_r5", "t2i_r10", "t2i_mean_rank", "t2i_median_rank",
        ];
        Assert.Equal(expected.Length, values.Count);
        foreach (string name in expected)
        {
            Assert.True(values.ContainsKey(name), name);
        }

        Assert.Equal(1.0, values["heldout/colour/top5"], 12); // 3 classes: k = 3
        Assert.Equal(1.0, values["i2t_r10"], 12); // 10 pairs
        (Matrix images, Matrix texts) = evaluator.EncodePairs(split);
        RetrievalResult r = RetrievalMetrics.Compute(images, texts);
        Assert.Equal(r.ImageToText.RecallAt1, values["i2t_r1"], 12);
        Assert.Equal(r.TextToImage.MeanRank, values["t2i_mean_rank"], 12);
        ZeroShotScores z = evaluator.ZeroShot(images, split.Tasks[0]);
        Assert.Equal(z.Top1, values["heldout/colour/top1"], 12);
        Assert.Equal(9, z.Count);
    }

    [Fact]
    public void Evaluate_TwoSplitsAndPatterns_PrefixesRetrievalAndFilters()
    {
        ImageTextDataset a = TinySplit("toy/a", 6, 8, 1);
        ImageTextDataset b = TinySplit("toy/b", 9, 8, 2);
        (TwoTowerModel model, Tokenizer tokenizer) = TinyModel(a.Captions);
        var evaluator = new Evaluator(model, tokenizer);
        IReadOnlyDictionary<string, double> all = evaluator.Evaluate([a, b]);
        Assert.Equal(0.5 * (all["a/i2t_r5"] + all["b/i2t_r5"]), all["i2t_r5"], 12);
        IReadOnlyDictionary<string, double> some = evaluator.Evaluate([a, b], ["b/*", "t2i_r5"]);
        Assert.True(some.ContainsKey("b/colour/top1"));
        Assert.True(some.ContainsKey("t2i_r5"));
        Assert.False(some.ContainsKey("a/colour/top1"));
        Assert.False(some.ContainsKey("i2t_r5"));
        Assert.Equal(all["b/colour/mpcr"], some["b/colour/mpcr"], 12);
    }

    [Fact]
    public void Evaluate_WrongImageSize_ThrowsNamingSplit()
    {
        ImageTextDataset split = TinySplit("toy/big", 4, 12, 1);
        (TwoTowerModel model, Tokenizer tokenizer) = TinyModel(split.Captions);
        var ex = Assert.Throws<ArgumentException>(() => new Evaluator(model, tokenizer).Evaluate([split]));
        Assert.Contains("toy/big", ex.Message);
    }
}
