using System;
using System.IO;
using StbImageSharp;

namespace Aced.Pipeline.Data;

/// <summary>
/// Bounded image decoding (StbImageSharp) to the data-set layout: the format is checked from the magic bytes
/// (PNG, JPEG or BMP), the dimensions from the header before any pixel is allocated, then the image is
/// decoded to RGBA, composited over a fixed mid-grey background, centre-cropped to a square, resized to S x S
/// by area averaging, and written CHW in [-1, 1].
/// </summary>
internal static class ImageDecoder
{
    /// <summary>Grey level (0..1) that transparent pixels show.</summary>
    public const float Background = 0.5f;

    /// <summary>Decodes <paramref name="bytes"/> (the contents of <paramref name="path"/>) into <paramref name="destination"/> (3 x side x side floats).</summary>
    /// <exception cref="DataException">The bytes are too large, not PNG/JPEG/BMP, corrupt or truncated, or the dimensions exceed the bound.</exception>
    public static void Decode(ReadOnlySpan<byte> bytes, string path, DataOptions options, int side, Span<float> destination)
    {
        if (bytes.Length > options.MaxImageBytes)
        {
            throw new DataException(path, $"image is {bytes.Length} bytes, above the limit of {options.MaxImageBytes} ({nameof(DataOptions.MaxImageBytes)}); shrink it or remove it.");
        }

        string? format = Format(bytes);
        if (format is null)
        {
            throw new DataException(path, "unsupported or corrupt image: expected a PNG, JPEG or BMP file (checked from its first bytes).");
        }

        byte[] buffer = bytes.ToArray();
        ImageInfo? info;
        try
        {
            using var stream = new ClampedMemoryStream(buffer);
            info = ImageInfo.FromStream(stream);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            throw new DataException(path, $"corrupt {format} header ({ex.Message}).", inner: ex);
        }

        if (info is null)
        {
            throw new DataException(path, $"corrupt or truncated {format} header.");
        }

        int width = info.Value.Width;
        int height = info.Value.Height;
        if (width < 1 || height < 1 || width > options.MaxImageSide || height > options.MaxImageSide)
        {
            throw new DataException(path, $"image is {width}x{height}; sides must be in [1, {options.MaxImageSide}] ({nameof(DataOptions.MaxImageSide)}).");
        }

        ImageResult image;
        try
        {
            using var stream = new ClampedMemoryStream(buffer);
            image = ImageResult.FromStream(stream, ColorComponents.RedGreenBlueAlpha);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            throw new DataException(path, $"corrupt or truncated {format} data ({ex.Message}).", inner: ex);
        }

        if (image.Data is null || image.Width != width || image.Height != height || image.Data.Length < (long)width * height * 4)
        {
            throw new DataException(path, $"{format} decoder returned no or short pixel data.");
        }

        ToChw(image.Data, width, height, side, destination);
    }

    /// <summary>"PNG", "JPEG", "BMP" from the magic bytes, or null.</summary>
    public static string? Format(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length >= 8 && bytes[0] == 0x89 && bytes[1] == (byte)'P' && bytes[2] == (byte)'N' && bytes[3] == (byte)'G'
            && bytes[4] == 0x0D && bytes[5] == 0x0A && bytes[6] == 0x1A && bytes[7] == 0x0A)
        {
            return "PNG";
        }

        if (bytes.Length >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF)
        {
            return "JPEG";
        }

        if (bytes.Length >= 2 && bytes[0] == (byte)'B' && bytes[1] == (byte)'M')
        {
            return "BMP";
        }

        return null;
    }

    /// <summary>
    /// RGBA bytes (row-major, width x height) to CHW [-1, 1] of side x side: alpha-composite over
    /// <see cref="Background"/>, centre-crop the largest square, area-average resize.
    /// </summary>
    public static void ToChw(ReadOnlySpan<byte> rgba, int width, int height, int side, Span<float> destination)
    {
        int m = Math.Min(width, height);
        int offsetX = (width - m) / 2;
        int offsetY = (height - m) / 2;
        AxisWeights axis = AxisWeights.Create(m, side);

        // Horizontal pass: rows of the crop (m) x side columns x 3 channels.
        var rows = new float[m * side * 3];
        for (int y = 0; y < m; y++)
        {
            int rowStart = ((y + offsetY) * width) + offsetX;
            for (int tx = 0; tx < side; tx++)
            {
                float r = 0f, g = 0f, b = 0f;
                int start = axis.Start[tx];
                for (int k = 0; k < axis.Length[tx]; k++)
                {
                    int p = (rowStart + start + k) * 4;
                    float alpha = rgba[p + 3] * (1f / 255f);
                    float w = axis.Weight[(tx * axis.Stride) + k];
                    r += w * ((rgba[p] * (1f / 255f) * alpha) + (Background * (1f - alpha)));
                    g += w * ((rgba[p + 1] * (1f / 255f) * alpha) + (Background * (1f - alpha)));
                    b += w * ((rgba[p + 2] * (1f / 255f) * alpha) + (Background * (1f - alpha)));
                }

                int o = ((y * side) + tx) * 3;
                rows[o] = r;
                rows[o + 1] = g;
                rows[o + 2] = b;
            }
        }

        int plane = side * side;
        for (int ty = 0; ty < side; ty++)
        {
            for (int tx = 0; tx < side; tx++)
            {
                float r = 0f, g = 0f, b = 0f;
                int start = axis.Start[ty];
                for (int k = 0; k < axis.Length[ty]; k++)
                {
                    float w = axis.Weight[(ty * axis.Stride) + k];
                    int o = (((start + k) * side) + tx) * 3;
                    r += w * rows[o];
                    g += w * rows[o + 1];
                    b += w * rows[o + 2];
                }

                int d = (ty * side) + tx;
                destination[d] = Math.Clamp((2f * r) - 1f, -1f, 1f);
                destination[plane + d] = Math.Clamp((2f * g) - 1f, -1f, 1f);
                destination[(2 * plane) + d] = Math.Clamp((2f * b) - 1f, -1f, 1f);
            }
        }
    }

    // StbImageSharp skips segments with Stream.Seek and detects the end as Position == Length; a segment length
    // pointing past the end of a truncated file would otherwise leave Position beyond Length and loop forever
    // (seen with a truncated JPEG). Clamping seeks to the end makes every such file fail with an error instead.
    private sealed class ClampedMemoryStream : MemoryStream
    {
        public ClampedMemoryStream(byte[] buffer)
            : base(buffer, writable: false)
        {
        }

        public override long Seek(long offset, SeekOrigin loc)
        {
            long target = loc switch
            {
                SeekOrigin.Begin => offset,
                SeekOrigin.Current => Position + offset,
                _ => Length + offset,
            };
            return base.Seek(Math.Clamp(target, 0, Length), SeekOrigin.Begin);
        }
    }

    // For each target index t: the source range [Start, Start + Length) it overlaps and the normalised overlap weights.
    private sealed class AxisWeights
    {
        public required int[] Start { get; init; }

        public required int[] Length { get; init; }

        public required float[] Weight { get; init; }

        public required int Stride { get; init; }

        public static AxisWeights Create(int source, int target)
        {
            double scale = (double)source / target;
            int stride = (int)Math.Ceiling(scale) + 2;
            var start = new int[target];
            var length = new int[target];
            var weight = new float[target * stride];
            for (int t = 0; t < target; t++)
            {
                double lo = t * scale;
                double hi = (t + 1) * scale;
                int s0 = (int)Math.Floor(lo);
                int s1 = Math.Min(source, (int)Math.Ceiling(hi));
                start[t] = s0;
                double total = 0;
                int n = 0;
                for (int s = s0; s < s1; s++)
                {
                    double overlap = Math.Min(hi, s + 1) - Math.Max(lo, s);
                    if (overlap <= 0)
                    {
                        continue;
                    }

                    weight[(t * stride) + (s - s0)] = (float)overlap;
                    total += overlap;
                    n = s - s0 + 1;
                }

                length[t] = n;
                for (int k = 0; k < n; k++)
                {
                    weight[(t * stride) + k] = (float)(weight[(t * stride) + k] / total);
                }
            }

            return new AxisWeights { Start = start, Length = length, Weight = weight, Stride = stride };
        }
    }
}
