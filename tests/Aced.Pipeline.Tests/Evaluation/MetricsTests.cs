using System;
using Aced.Core;
using Aced.Pipeline.Evaluation;
using FsCheck;
using FsCheck.Fluent;

namespace Aced.Pipeline.Tests.Evaluation;

public class RetrievalMetricsTests
{
    private static readonly Config s_config = Config.QuickThrowOnFailure.WithMaxTest(60).WithReplay(new Replay(new Rnd(20261130UL, 0x9E3779B97F4A7C15UL), Microsoft.FSharp.Core.FSharpOption<int>.None));

    private static Matrix M(int rows, int columns, params float[] values) => new(rows, columns, values);

    [Fact]
    public void Compute_HandComputedThreePairs_MatchesHandRanks()
    {
        // Similarities (rows images, columns texts):
        //   i0=(1,0):     t0 1.0   t1 0.6   t2 0.0   -> true 1.0, rank 1
        //   i1=(0,1):     t0 0.0   t1 0.8   t2 1.0   -> true 0.8, rank 2
        //   i2=(0.8,0.6): t0 0.8   t1 0.96  t2 0.6   -> true 0.6, rank 3
        // Columns (text queries): t0 ranks i0 first; t1: i2 (0.96) beats i1 (0.8) -> 2; t2: i1 (1.0) beats i2 (0.6) -> 2.
        Matrix images = M(3, 2, 1f, 0f, 0f, 1f, 0.8f, 0.6f);
        Matrix texts = M(3, 2, 1f, 0f, 0.6f, 0.8f, 0f, 1f);
        RetrievalResult r = RetrievalMetrics.Compute(images, texts);
        Assert.Equal(1.0 / 3, r.ImageToText.RecallAt1, 12);
        Assert.Equal(1.0, r.ImageToText.RecallAt5, 12);
        Assert.Equal(2.0, r.ImageToText.MeanRank, 12);
        Assert.Equal(2.0, r.ImageToText.MedianRank, 12);
        Assert.Equal(1.0 / 3, r.TextToImage.RecallAt1, 12);
        Assert.Equal(5.0 / 3, r.TextToImage.MeanRank, 12);
        Assert.Equal(2.0, r.TextToImage.MedianRank, 12);
    }

    [Fact]
    public void Direction_HandComputedRecallAt5_CountsOnlyTopFive()
    {
        // 7 one-hot texts; image 0 = e0 + 0.1 * (e1..e6) scores its true text 1.0 and the others 0.1: rank 1.
        // Image 1 = e1 * 0.1 + sum of e2..e6 weighted higher: five items above the truth -> rank 6.
        int n = 7;
        var texts = new Matrix(n, n);
        for (int i = 0; i < n; i++)
        {
            texts[i, i] = 1f;
        }

        var images = new Matrix(n, n);
        for (int i = 0; i < n; i++)
        {
            images[i, i] = 1f; // every other image retrieves its own text first
        }

        images[1, 1] = 0.1f;
        for (int j = 2; j < 7; j++)
        {
            images[1, j] = 0.5f;
        }

        images[1, 0] = 0.05f; // below the truth
        RetrievalScores s = RetrievalMetrics.Direction(images, texts);
        Assert.Equal(6.0 / 7, s.RecallAt1, 12);
        Assert.Equal(6.0 / 7, s.RecallAt5, 12);
        Assert.Equal(1.0, s.RecallAt10, 12);
        Assert.Equal((6 * 1.0 + 6.0) / 7, s.MeanRank, 12);
        Assert.Equal(1.0, s.MedianRank, 12);
    }

    [Fact]
    public void Compute_AllEmbeddingsEqual_ScoresChance()
    {
        // A collapsed model: every score ties, so R@k = k/N and the expected rank is (N+1)/2.
        int n = 20;
        var same = new Matrix(n, 4);
        for (int i = 0; i < n; i++)
        {
            same[i, 0] = 1f;
        }

        RetrievalResult r = RetrievalMetrics.Compute(same, same.Clone());
        Assert.Equal(1.0 / n, r.ImageToText.RecallAt1, 12);
        Assert.Equal(5.0 / n, r.ImageToText.RecallAt5, 12);
        Assert.Equal(10.0 / n, r.TextToImage.RecallAt10, 12);
        Assert.Equal((n + 1) / 2.0, r.TextToImage.MeanRank, 12);
        Assert.Equal((n + 1) / 2.0, r.TextToImage.MedianRank, 12);
    }

    [Fact]
    public void Direction_TrueItemTiedWithOneAndBeatenByOne_ExpectedValues()
    {
        // Query 0 scores: truth 0.5, one competitor 0.5 (tie), one 0.9 (above): g = 1, e = 1.
        // Rank uniform on {2, 3}: expected 2.5; P(rank <= 1) = 0, P(rank <= 2) = 1/2.
        Matrix queries = M(3, 3, 0.5f, 0.5f, 0.9f, 0f, 1f, 0f, 0f, 0f, 1f);
        var items = new Matrix(3, 3);
        for (int i = 0; i < 3; i++)
        {
            items[i, i] = 1f;
        }

        RetrievalScores s = RetrievalMetrics.Direction(queries, items);
        Assert.Equal((0 + 1 + 1) / 3.0, s.RecallAt1, 12);
        Assert.Equal((2.5 + 1 + 1) / 3.0, s.MeanRank, 12);
        Assert.Equal(0.5, TieAwareRank.HitProbability(1, 1, 2), 12);
    }

    [Fact]
    public void Compute_MismatchedShapes_ThrowsNamingTexts()
    {
        var ex = Assert.Throws<ArgumentException>(() => RetrievalMetrics.Compute(new Matrix(3, 2), new Matrix(4, 2)));
        Assert.Equal("texts", ex.ParamName);
        Assert.Throws<ArgumentException>(() => RetrievalMetrics.Compute(new Matrix(0, 2), new Matrix(0, 2)));
    }

    private static Arbitrary<(int N, int D, int Seed, int Chunk)> Cases() =>
        (from n in Gen.Choose(1, 40)
         from d in Gen.Choose(1, 8)
         from seed in Gen.Choose(0, 1_000_000)
         from chunk in Gen.Choose(1, 45)
         select (n, d, seed, chunk)).ToArbitrary();

    internal static Matrix RandomUnitRows(int n, int d, int seed, bool quantize = false)
    {
        var rng = new System.Random(seed);
        var m = new Matrix(n, d);
        for (int i = 0; i < n; i++)
        {
            double norm = 0;
            for (int j = 0; j < d; j++)
            {
                // Quantized coordinates create exact ties, exercising the tie path.
                float v = quantize ? rng.Next(-2, 3) : (float)(rng.NextDouble() * 2 - 1);
                m[i, j] = v;
                norm += v * v;
            }

            if (norm == 0)
            {
                m[i, 0] = 1f;
                norm = 1;
            }

            for (int j = 0; j < d; j++)
            {
                m[i, j] = (float)(m[i, j] / Math.Sqrt(norm));
            }
        }

        return m;
    }

    private static Matrix Permute(Matrix m, int[] order)
    {
        var p = new Matrix(m.Rows, m.Columns);
        for (int i = 0; i < order.Length; i++)
        {
            m.Row(order[i]).CopyTo(p.Row(i));
        }

        return p;
    }

    private static int[] Shuffle(int n, int seed)
    {
        var order = new int[n];
        for (int i = 0; i < n; i++)
        {
            order[i] = i;
        }

        new System.Random(seed).Shuffle(order);
        return order;
    }

    /// <summary>Brute force over the full N x N similarity matrix in double precision of float products, ranks by sorting.</summary>
    private static (double R1, double R5, double MeanRank) Reference(Matrix q, Matrix items)
    {
        int n = q.Rows;
        double r1 = 0, r5 = 0, rankSum = 0;
        var s = new Matrix(n, n);
        Gemm.Multiply(Transpose.None, Transpose.Transposed, 1f, q, items, 0f, s);
        for (int i = 0; i < n; i++)
        {
            // Expected rank under random tie-breaking = average over every position the tie group occupies.
            int above = 0, tied = 0;
            for (int j = 0; j < n; j++)
            {
                if (j != i && s[i, j] > s[i, i])
                {
                    above++;
                }
                else if (j != i && s[i, j] == s[i, i])
                {
                    tied++;
                }
            }

            double hit1 = 0, hit5 = 0, rank = 0;
            for (int position = above + 1; position <= above + tied + 1; position++)
            {
                hit1 += position <= 1 ? 1 : 0;
                hit5 += position <= 5 ? 1 : 0;
                rank += position;
            }

            r1 += hit1 / (tied + 1);
            r5 += hit5 / (tied + 1);
            rankSum += rank / (tied + 1);
        }

        return (r1 / n, r5 / n, rankSum / n);
    }

    [Fact]
    public void Compute_AnyChunkSize_EqualsBruteForceReference()
    {
        Check.One(s_config, Prop.ForAll(Cases(), t =>
        {
            Matrix img = RandomUnitRows(t.N, t.D, t.Seed, quantize: t.Seed % 2 == 0);
            Matrix txt = RandomUnitRows(t.N, t.D, t.Seed + 7, quantize: t.Seed % 2 == 0);
            RetrievalResult r = RetrievalMetrics.Compute(img, txt, t.Chunk);
            (double r1, double r5, double mean) = Reference(img, txt);
            (double t1, double t5, double tmean) = Reference(txt, img);
            return Math.Abs(r.ImageToText.RecallAt1 - r1) < 1e-12 && Math.Abs(r.ImageToText.RecallAt5 - r5) < 1e-12
                && Math.Abs(r.ImageToText.MeanRank - mean) < 1e-9 && Math.Abs(r.TextToImage.RecallAt1 - t1) < 1e-12
                && Math.Abs(r.TextToImage.RecallAt5 - t5) < 1e-12 && Math.Abs(r.TextToImage.MeanRank - tmean) < 1e-9;
        }));
    }

    [Fact]
    public void Compute_PairsPermutedJointly_SameScores()
    {
        Check.One(s_config, Prop.ForAll(Cases(), t =>
        {
            Matrix img = RandomUnitRows(t.N, t.D, t.Seed);
            Matrix txt = RandomUnitRows(t.N, t.D, t.Seed + 1);
            int[] order = Shuffle(t.N, t.Seed + 2);
            RetrievalResult a = RetrievalMetrics.Compute(img, txt, t.Chunk);
            RetrievalResult b = RetrievalMetrics.Compute(Permute(img, order), Permute(txt, order), t.Chunk);
            return Same(a.ImageToText, b.ImageToText) && Same(a.TextToImage, b.TextToImage);
        }));
    }

    private static bool Same(RetrievalScores x, RetrievalScores y) =>
        Math.Abs(x.RecallAt1 - y.RecallAt1) < 1e-12 && Math.Abs(x.RecallAt5 - y.RecallAt5) < 1e-12 && Math.Abs(x.RecallAt10 - y.RecallAt10) < 1e-12
        && Math.Abs(x.MeanRank - y.MeanRank) < 1e-9 && x.MedianRank == y.MedianRank;

    [Fact]
    public void Compute_AnyEmbeddings_RecallMonotoneInKAndRanksInRange()
    {
        Check.One(s_config, Prop.ForAll(Cases(), t =>
        {
            Matrix img = RandomUnitRows(t.N, t.D, t.Seed, quantize: true);
            Matrix txt = RandomUnitRows(t.N, t.D, t.Seed + 3);
            RetrievalResult r = RetrievalMetrics.Compute(img, txt, t.Chunk);
            foreach (RetrievalScores s in new[] { r.ImageToText, r.TextToImage })
            {
                if (!(s.RecallAt1 <= s.RecallAt5 && s.RecallAt5 <= s.RecallAt10 && s.RecallAt10 <= 1.0 && s.RecallAt1 >= 0))
                {
                    return false;
                }

                if (!(s.MeanRank >= 1 && s.MeanRank <= t.N && s.MedianRank >= 1 && s.MedianRank <= t.N))
                {
                    return false;
                }
            }

            return true;
        }));
    }

    [Fact]
    public void Compute_TextsEqualDistinctImages_RecallAt1IsOne()
    {
        Check.One(s_config, Prop.ForAll(Cases(), t =>
        {
            // d >= 2 random rows are distinct with probability 1; a row's dot with itself (~1) beats every other.
            Matrix img = RandomUnitRows(t.N, t.D + 1, t.Seed);
            RetrievalResult r = RetrievalMetrics.Compute(img, img.Clone(), t.Chunk);
            return r.ImageToText.RecallAt1 == 1.0 && r.TextToImage.RecallAt1 == 1.0 && r.ImageToText.MeanRank == 1.0 && r.TextToImage.MedianRank == 1.0;
        }));
    }
}

public class ZeroShotMetricsTests
{
    [Fact]
    public void BuildClassifier_TemplatesAveragedAndRenormalised()
    {
        // Class 0: templates (1,0) and (0,1) -> mean (0.5,0.5) -> (1/sqrt2, 1/sqrt2). Class 1: (0.6,0.8) twice -> itself.
        var templates = new Matrix(4, 2, [1f, 0f, 0f, 1f, 0.6f, 0.8f, 0.6f, 0.8f]);
        Matrix w = ZeroShotMetrics.BuildClassifier(templates, 2);
        Assert.Equal(2, w.Rows);
        Assert.Equal(1 / Math.Sqrt(2), w[0, 0], 6);
        Assert.Equal(1 / Math.Sqrt(2), w[0, 1], 6);
        Assert.Equal(0.6, w[1, 0], 6);
        Assert.Equal(0.8, w[1, 1], 6);
    }

    [Fact]
    public void BuildClassifier_OppositeTemplates_ThrowsZeroNorm()
    {
        var templates = new Matrix(2, 2, [1f, 0f, -1f, 0f]);
        Assert.Throws<ArgumentException>(() => ZeroShotMetrics.BuildClassifier(templates, 2));
        Assert.Throws<ArgumentException>(() => ZeroShotMetrics.BuildClassifier(new Matrix(3, 2), 2));
    }

    [Fact]
    public void Compute_HandComputedThreeClasses_Top1DiffersFromMeanPerClassRecall()
    {
        // Classifier rows: c0 = (1/sqrt2, 1/sqrt2), c1 = (1, 0), c2 = (0, 1).
        // x0 = (1,0) label 1: logits .707, 1, 0 -> correct.      x1 = (0,1) label 0: .707, 0, 1 -> wrong (c2).
        // x2 = (.6,.8) label 0: .990, .6, .8 -> correct.          x3 label -1: skipped.   x4 = (0,1) label 2: correct.
        // Top-1 = 3/4; recall per class: c0 1/2, c1 1, c2 1 -> mean 5/6; top-5 with 3 classes uses k = 3 -> 1.
        var templates = new Matrix(6, 2, [1f, 0f, 0f, 1f, 1f, 0f, 1f, 0f, 0f, 1f, 0f, 1f]);
        Matrix w = ZeroShotMetrics.BuildClassifier(templates, 2);
        var images = new Matrix(5, 2, [1f, 0f, 0f, 1f, 0.6f, 0.8f, 1f, 0f, 0f, 1f]);
        ZeroShotScores s = ZeroShotMetrics.Compute(images, w, [1, 0, 0, -1, 2], chunkRows: 2);
        Assert.Equal(4, s.Count);
        Assert.Equal(0.75, s.Top1, 12);
        Assert.Equal(5.0 / 6, s.MeanPerClassRecall, 12);
        Assert.Equal(1.0, s.Top5, 12);
    }

    [Fact]
    public void Compute_SixClasses_Top5MissesOnlyTheSixthRanked()
    {
        var classifier = new Matrix(6, 6);
        for (int c = 0; c < 6; c++)
        {
            classifier[c, c] = 1f;
        }

        // One image with graded logits 0.1 .. 0.6 for classes 0 .. 5, scored under three labels.
        var images = new Matrix(3, 6);
        for (int i = 0; i < 3; i++)
        {
            for (int c = 0; c < 6; c++)
            {
                images[i, c] = 0.1f * (c + 1);
            }
        }

        ZeroShotScores s = ZeroShotMetrics.Compute(images, classifier, [0, 1, 5]);
        Assert.Equal(1.0 / 3, s.Top1, 12);  // only label 5 ranks first
        Assert.Equal(2.0 / 3, s.Top5, 12);  // label 0 ranks sixth
        Assert.Equal(1.0 / 3, s.MeanPerClassRecall, 12);
    }

    [Fact]
    public void Compute_BadLabels_ThrowNamingLabels()
    {
        var w = new Matrix(2, 2, [1f, 0f, 0f, 1f]);
        var images = new Matrix(2, 2, [1f, 0f, 0f, 1f]);
        Assert.Equal("labels", Assert.Throws<ArgumentException>(() => ZeroShotMetrics.Compute(images, w, [0, 2])).ParamName);
        Assert.Equal("labels", Assert.Throws<ArgumentException>(() => ZeroShotMetrics.Compute(images, w, [-1, -1])).ParamName);
        Assert.Equal("labels", Assert.Throws<ArgumentException>(() => ZeroShotMetrics.Compute(images, w, [0])).ParamName);
    }

    [Fact]
    public void Compute_ImagesPermutedWithLabels_SameScores()
    {
        Matrix classifier = RetrievalMetricsTests.RandomUnitRows(7, 5, 11);
        Matrix images = RetrievalMetricsTests.RandomUnitRows(50, 5, 12);
        var labels = new int[50];
        var rng = new System.Random(13);
        for (int i = 0; i < 50; i++)
        {
            labels[i] = rng.Next(-1, 7);
        }

        ZeroShotScores a = ZeroShotMetrics.Compute(images, classifier, labels, chunkRows: 7);
        var order = new int[50];
        for (int i = 0; i < 50; i++)
        {
            order[i] = 49 - i;
        }

        var pImages = new Matrix(50, 5);
        var pLabels = new int[50];
        for (int i = 0; i < 50; i++)
        {
            images.Row(order[i]).CopyTo(pImages.Row(i));
            pLabels[i] = labels[order[i]];
        }

        ZeroShotScores b = ZeroShotMetrics.Compute(pImages, classifier, pLabels, chunkRows: 50);
        Assert.Equal(a.Top1, b.Top1, 12);
        Assert.Equal(a.Top5, b.Top5, 12);
        Assert.Equal(a.MeanPerClassRecall, b.MeanPerClassRecall, 12);
        Assert.True(a.Top1 <= a.Top5);
    }
}
