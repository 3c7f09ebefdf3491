using System;
using System.IO;
using Aced.Core;
using Aced.Pipeline.Caching;
using Aced.Pipeline.Data;
using Aced.Pipeline.Training;

namespace Aced.Pipeline.Tests.Training;

public sealed class ModelInputTests : IClassFixture<TrainingFixture>
{
    private readonly TrainingFixture _fixture;

    public ModelInputTests(TrainingFixture fixture)
    {
        _fixture = fixture;
    }

    [Fact]
    public void ChwToHwc_EveryPixel_LandsAtRowColumnChannel()
    {
        const int s = 3;
        float[] chw = new float[3 * s * s];
        for (int c = 0; c < 3; c++)
        {
            for (int y = 0; y < s; y++)
            {
                for (int x = 0; x < s; x++)
                {
                    chw[(c * s * s) + (y * s) + x] = (100 * c) + (10 * y) + x;
                }
            }
        }

        float[] hwc = new float[chw.Length];
        ModelInput.ChwToHwc(chw, hwc, s);

        for (int y = 0; y < s; y++)
        {
            for (int x = 0; x < s; x++)
            {
                for (int c = 0; c < 3; c++)
                {
                    Assert.Equal((100 * c) + (10 * y) + x, hwc[(((y * s) + x) * 3) + c]);
                }
            }
        }
    }

    [Fact]
    public void ChwToHwc_WrongLength_ThrowsNamingTheSpans()
    {
        var ex = Assert.Throws<ArgumentException>(() => ModelInput.ChwToHwc(new float[10], new float[27], 3));
        Assert.Contains("hwc", ex.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// What the trainer trains on and what an evaluator encodes must be the same rows: the reference cache (computed
    /// from the trainer's pool) equals encoding the data set through <see cref="ModelInput.ToModelLayout"/>, and differs
    /// from encoding the raw CHW pixels (the layout bug that put every evaluation at chance).
    /// </summary>
    [Fact]
    public void ToModelLayout_EncodedImages_EqualTheTrainersReferenceCache()
    {
        string dir = _fixture.NewDirectory("layout-ref");
        Directory.CreateDirectory(dir);
        foreach (string file in new[] { RunFiles.Config, RunFiles.FinalCheckpoint })
        {
            File.Copy(Path.Combine(_fixture.Reference, file), Path.Combine(dir, file));
        }

        TrainingRun run = TrainingRun.Load(dir);
        ImageTextDataset pool = _fixture.Data.StudentTrain;
        ReferenceEmbeddings cache = ReferenceCache.GetOrCompute(run, pool, pool.Fingerprint);

        var viaHelper = new Matrix(pool.Count, run.Model.EmbeddingDimension);
        run.Model.EncodeImages(ModelInput.ToModelLayout(pool), viaHelper);
        var viaChw = new Matrix(pool.Count, run.Model.EmbeddingDimension);
        run.Model.EncodeImages(new MatrixView(pool.Pixels, pool.Count, pool.ImageFloats), viaChw);

        double maxHelper = 0, maxChw = 0;
        for (int i = 0; i < pool.Count; i++)
        {
            for (int j = 0; j < viaHelper.Columns; j++)
            {
                maxHelper = Math.Max(maxHelper, Math.Abs(viaHelper[i, j] - cache.Image[i, j]));
                maxChw = Math.Max(maxChw, Math.Abs(viaChw[i, j] - cache.Image[i, j]));
            }
        }

        Assert.True(maxHelper < 1e-5, $"HWC rows encode differently from the trainer's: max |diff| {maxHelper}");
        Assert.True(maxChw > 1e-2, "raw CHW rows encoded like the trainer's rows; the layouts should differ");
    }
}
