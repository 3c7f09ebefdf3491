using System;
using System.Collections.Generic;
using Aced.Pipeline.Data;

namespace Aced.Pipeline.Tests.Data;

public class ShapesDatasetTests
{
    private static DataOptions Small(ulong seed = 7, double noise = 0.5, double attributeNoise = 0.1, int size = 16) => new()
    {
        Seed = seed,
        ImageSize = size,
        NoiseRate = noise,
        AttributeNoiseRate = attributeNoise,
        ReferenceTrainSize = 300,
        StudentTrainSize = 1000,
        HoldoutSize = 50,
        EvaluationSize = 60,
    };

    [Fact]
    public void Load_SameSeed_SameFingerprint_DifferentSeed_Different()
    {
        DatasetSplits a = DatasetCatalog.Load("shapes", Small(seed: 7));
        DatasetSplits b = DatasetCatalog.Load("shapes", Small(seed: 7));
        DatasetSplits c = DatasetCatalog.Load("shapes", Small(seed: 8));
        Assert.Equal(a.Fingerprint, b.Fingerprint);
        Assert.Equal(a.StudentTrain.Fingerprint, b.StudentTrain.Fingerprint);
        Assert.NotEqual(a.Fingerprint, c.Fingerprint);
        Assert.NotEqual(a.ReferenceTrain.Fingerprint, c.ReferenceTrain.Fingerprint);
        Assert.Equal(64, a.Fingerprint.Length);
    }

    [Fact]
    public void Fingerprint_OnePixelOrCaptionChanged_Changes()
    {
        DatasetSplits a = DatasetCatalog.Load("shapes", Small());
        ImageTextDataset d = a.Holdout;
        string original = DatasetFingerprint.Compute(d);
        float[] pixels = (float[])d.Pixels.Clone();
        pixels[^1] = MathF.BitIncrement(pixels[^1]);
        var changedPixel = new ImageTextDataset(d.Name, d.ImageSize, pixels, d.Captions, d.Ids, d.CaptionCorrupted, d.Tasks);
        string[] captions = (string[])d.Captions.Clone();
        captions[3] += " ";
        var changedCaption = new ImageTextDataset(d.Name, d.ImageSize, d.Pixels, captions, d.Ids, d.CaptionCorrupted, d.Tasks);
        Assert.NotEqual(original, changedPixel.Fingerprint);
        Assert.NotEqual(original, changedCaption.Fingerprint);
        Assert.Equal(original, d.Fingerprint);
    }

    [Fact]
    public void Load_Splits_HaveRequestedSizesShapesAndRange()
    {
        DatasetSplits s = DatasetCatalog.Load("shapes", Small(size: 20));
        Assert.Equal(300, s.ReferenceTrain.Count);
        Assert.Equal(1000, s.StudentTrain.Count);
        Assert.Equal(50, s.Holdout.Count);
        ImageTextDataset eval = Assert.Single(s.Evaluation);
        Assert.Equal(60, eval.Count);
        foreach (ImageTextDataset d in new[] { s.ReferenceTrain, s.StudentTrain, s.Holdout, eval })
        {
            Assert.Equal(20, d.ImageSize);
            Assert.Equal(d.Count * 3 * 20 * 20, d.Pixels.Length);
            var ids = new HashSet<string>(d.Ids);
            Assert.Equal(d.Count, ids.Count);
            foreach (float p in d.Pixels)
            {
                Assert.InRange(p, -1f, 1f);
            }
        }

        string[] taskNames = ["shape", "colour", "count", "position"];
        Assert.Equal(taskNames.Length, eval.Tasks.Count);
        for (int t = 0; t < taskNames.Length; t++)
        {
            LabelTask task = eval.Tasks[t];
            Assert.Equal(taskNames[t], task.Name);
            foreach (int label in task.Labels)
            {
                Assert.InRange(label, 0, task.ClassNames.Count - 1);
            }

            foreach (string template in task.PromptTemplates)
            {
                Assert.Contains("{0}", template, StringComparison.Ordinal);
            }
        }
    }

    [Fact]
    public void Load_CleanSplits_CaptionsNameTheirLabels()
    {
        DatasetSplits s = DatasetCatalog.Load("shapes", Small());
        ImageTextDataset eval = s.Evaluation[0];
        LabelTask shape = eval.Tasks[0];
        LabelTask colour = eval.Tasks[1];
        LabelTask position = eval.Tasks[3];
        for (int i = 0; i < eval.Count; i++)
        {
            Assert.False(eval.CaptionCorrupted[i]);
            string caption = eval.Captions[i];
            Assert.Contains(ShapesDataset.Colours[colour.Labels[i]], caption, StringComparison.Ordinal);
            Assert.Contains(ShapesDataset.Shapes[shape.Labels[i]], caption, StringComparison.Ordinal);
            Assert.Contains(ShapesDataset.Positions[position.Labels[i]], caption, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Load_DifferentSeeds_ImagesDiffer_AndShapesAreVisible()
    {
        DatasetSplits s = DatasetCatalog.Load("shapes", Small());
        ImageTextDataset d = s.ReferenceTrain;
        for (int i = 0; i < 20; i++)
        {
            // Red channel of the brightest pixel is far above the dark background for every colour but blue/green,
            // so check the max over channels instead: every image has a bright foreground.
            ReadOnlySpan<float> image = d.Image(i);
            float max = -1f;
            foreach (float p in image)
            {
                max = Math.Max(max, p);
            }

            Assert.True(max > 0.3f, $"image {i} has no visible shape (max {max})");
        }
    }

    [Fact]
    public void StudentTrain_SwapNoise_RateWithinBounds_AndSwappedCaptionsBelongToAnotherExample()
    {
        const double rate = 0.5;
        DatasetSplits noisy = DatasetCatalog.Load("shapes", Small(noise: rate, attributeNoise: 0));
        DatasetSplits clean = DatasetCatalog.Load("shapes", Small(noise: 0, attributeNoise: 0));
        ImageTextDataset pool = noisy.StudentTrain;
        ImageTextDataset truth = clean.StudentTrain;
        Assert.Equal(truth.Pixels, pool.Pixels);
        Assert.Equal(truth.Ids, pool.Ids);
        var owners = new Dictionary<string, List<int>>();
        for (int i = 0; i < truth.Count; i++)
        {
            Assert.False(truth.CaptionCorrupted[i]);
            if (!owners.TryGetValue(truth.Captions[i], out List<int>? list))
            {
                owners[truth.Captions[i]] = list = new List<int>();
            }

            list.Add(i);
        }

        int corrupted = 0;
        for (int i = 0; i < pool.Count; i++)
        {
            if (pool.CaptionCorrupted[i])
            {
                corrupted++;
                Assert.NotEqual(truth.Captions[i], pool.Captions[i]);
                Assert.True(owners.TryGetValue(pool.Captions[i], out List<int>? from), $"swapped caption of {i} is nobody's caption");
                Assert.DoesNotContain(i, from!);
            }
            else
            {
                Assert.Equal(truth.Captions[i], pool.Captions[i]);
            }
        }

        // Binomial(1000, 0.5): sd 15.8; 5 sd either side (a few duplicates may stay clean).
        Assert.InRange(corrupted, 500 - 80, 500 + 80);
    }

    [Fact]
    public void StudentTrain_AttributeNoise_RateWithinBounds_OneAttributeWrong()
    {
        DatasetSplits noisy = DatasetCatalog.Load("shapes", Small(noise: 0, attributeNoise: 0.2));
        DatasetSplits clean = DatasetCatalog.Load("shapes", Small(noise: 0, attributeNoise: 0));
        int corrupted = 0;
        for (int i = 0; i < noisy.StudentTrain.Count; i++)
        {
            if (noisy.StudentTrain.CaptionCorrupted[i])
            {
                corrupted++;
                Assert.NotEqual(clean.StudentTrain.Captions[i], noisy.StudentTrain.Captions[i]);
            }
            else
            {
                Assert.Equal(clean.StudentTrain.Captions[i], noisy.StudentTrain.Captions[i]);
            }
        }

        // Binomial(1000, 0.2): sd 12.6.
        Assert.InRange(corrupted, 200 - 64, 200 + 64);
        Assert.Equal(clean.ReferenceTrain.Captions, noisy.ReferenceTrain.Captions);
    }

    [Fact]
    public void Load_LargerSplit_ExtendsSmallerOne()
    {
        DatasetSplits small = DatasetCatalog.Load("shapes", Small());
        DatasetSplits large = DatasetCatalog.Load("shapes", new DataOptions { Seed = 7, ImageSize = 16, ReferenceTrainSize = 400, StudentTrainSize = 10, HoldoutSize = 5, EvaluationSize = 5 });
        for (int i = 0; i < small.ReferenceTrain.Count; i++)
        {
            Assert.Equal(small.ReferenceTrain.Captions[i], large.ReferenceTrain.Captions[i]);
            Assert.True(small.ReferenceTrain.Image(i).SequenceEqual(large.ReferenceTrain.Image(i)));
        }
    }

    [Theory]
    [InlineData("shapes ")]
    [InlineData("folder:")]
    [InlineData("imagenet")]
    public void Load_UnknownSpec_ThrowsArgumentException(string spec)
    {
        ArgumentException ex = Assert.Throws<ArgumentException>(() => DatasetCatalog.Load(spec, new DataOptions()));
        Assert.Contains("shapes", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_BadOptions_NameTheOption()
    {
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => DatasetCatalog.Load("shapes", new DataOptions { NoiseRate = 1.5 }));
        Assert.Equal(nameof(DataOptions.NoiseRate), ex.ParamName);
        ex = Assert.Throws<ArgumentOutOfRangeException>(() => DatasetCatalog.Load("shapes", new DataOptions { ImageSize = 2 }));
        Assert.Equal(nameof(DataOptions.ImageSize), ex.ParamName);
    }
}
