using System;
using Aced.Core;
using Aced.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Aced.TorchSharp.Sample;

/// <summary>
/// A small procedural image-caption set (the stand-in for the pipeline's shapes data): a coloured shape in one
/// quadrant of a 16 x 16 RGB image with pixel noise, captioned "BOS colour shape position". A fraction of the
/// captions can be replaced by the caption of another random class (the noise ACID learns to skip).
/// </summary>
public sealed class ShapesData : IDisposable
{
    public const int ImageSize = 16;
    private const int Colors = 4;
    private const int Shapes = 3;
    private const int Positions = 4;
    private static readonly float[][] s_rgb = { new[] { 1f, 0f, 0f }, new[] { 0f, 1f, 0f }, new[] { 0f, 0f, 1f }, new[] { 1f, 1f, 0f } };

    private ShapesData(Tensor images, Tensor tokens, Tensor classes)
    {
        Images = images;
        Tokens = tokens;
        Classes = classes;
    }

    public static int ClassCount => Colors * Shapes * Positions;

    /// <summary>[N, 16*16*3] float32 HWC rows.</summary>
    public Tensor Images { get; }

    /// <summary>[N, 4] int64 captions.</summary>
    public Tensor Tokens { get; }

    /// <summary>[N] int64 true class of each image.</summary>
    public Tensor Classes { get; }

    public int Count => (int)Images.shape[0];

    /// <summary>A tower configuration that fits this data (tiny: it trains in seconds on a CPU).</summary>
    public static TwoTowerConfig Config() => new TwoTowerConfig
    {
        Image = new VisionTransformerConfig { ImageSize = ImageSize, PatchSize = 4, Channels = 3, Width = 32, Depth = 2, Heads = 2, MlpWidth = 64, EmbeddingDimension = 32 },
        Text = new TextTransformerConfig { VocabularySize = 1 + Colors + Shapes + Positions + 1, ContextLength = 4, Width = 32, Depth = 1, Heads = 2, MlpWidth = 64, EmbeddingDimension = 32, Pooling = PoolingKind.LastToken, PadId = 0 },
    }.Validated();

    public static ShapesData Create(int count, double noiseFraction, ulong seed, Device device)
    {
        var rng = new CounterRng(seed, 7);
        int pixels = ImageSize * ImageSize * 3;
        float[] images = new float[count * pixels];
        long[] tokens = new long[count * 4];
        long[] classes = new long[count];
        for (int e = 0; e < count; e++)
        {
            int cls = rng.NextInt(ClassCount);
            classes[e] = cls;
            Draw(images.AsSpan(e * pixels, pixels), cls, ref rng);
            int captionClass = rng.NextDouble() < noiseFraction ? (cls + 1 + rng.NextInt(ClassCount - 1)) % ClassCount : cls;
            Caption(tokens.AsSpan(e * 4, 4), captionClass);
        }

        return new ShapesData(
            torch.tensor(images, new long[] { count, pixels }).to(device),
            torch.tensor(tokens, new long[] { count, 4 }).to(device),
            torch.tensor(classes, new long[] { count }).to(device));
    }

    public void Dispose()
    {
        Images.Dispose();
        Tokens.Dispose();
        Classes.Dispose();
    }

    private static void Draw(Span<float> image, int cls, ref CounterRng rng)
    {
        int color = cls % Colors;
        int shape = (cls / Colors) % Shapes;
        int position = cls / (Colors * Shapes);
        for (int i = 0; i < image.Length; i++)
        {
            image[i] = 0.1f * rng.NextNormal();
        }

        int half = ImageSize / 2;
        int x0 = (position % 2) * half;
        int y0 = (position / 2) * half;
        for (int y = 1; y < half - 1; y++)
        {
            for (int x = 1; x < half - 1; x++)
            {
                bool border = y == 1 || y == half - 2 || x == 1 || x == half - 2;
                bool cross = x == y || x == half - 1 - y;
                bool on = shape switch
                {
                    0 => true,
                    1 => border,
                    _ => cross,
                };
                if (!on)
                {
                    continue;
                }

                int offset = (((y0 + y) * ImageSize) + x0 + x) * 3;
                for (int c = 0; c < 3; c++)
                {
                    image[offset + c] += s_rgb[color][c];
                }
            }
        }
    }

    private static void Caption(Span<long> tokens, int cls)
    {
        tokens[0] = 1 + Colors + Shapes + Positions; // BOS
        tokens[1] = 1 + (cls % Colors);
        tokens[2] = 1 + Colors + ((cls / Colors) % Shapes);
        tokens[3] = 1 + Colors + Shapes + (cls / (Colors * Shapes));
    }
}
