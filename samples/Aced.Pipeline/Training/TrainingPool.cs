using System;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using Aced.Core;
using Aced.Models.Text;
using Aced.Pipeline.Data;

namespace Aced.Pipeline.Training;

/// <summary>
/// A data set prepared for a model: images as rows of HWC floats (the towers' input layout), captions tokenized
/// once, and the data set's fingerprint (SHA-256 of size, ids, captions and pixels).
/// </summary>
internal sealed class TrainingPool
{
    public TrainingPool(ImageTextDataset dataset, Tokenizer tokenizer, int contextLength)
    {
        Dataset = dataset;
        ContextLength = contextLength;
        int s = dataset.ImageSize;
        Images = new Matrix(dataset.Count, dataset.ImageFloats);
        for (int e = 0; e < dataset.Count; e++)
        {
            ChwToHwc(dataset.Image(e), Images.Row(e), s);
        }

        Tokens = new int[dataset.Count * contextLength];
        for (int e = 0; e < dataset.Count; e++)
        {
            tokenizer.Encode(dataset.Captions[e], Tokens.AsSpan(e * contextLength, contextLength));
        }
    }

    public ImageTextDataset Dataset { get; }

    public int Count => Dataset.Count;

    public int ContextLength { get; }

    public Matrix Images { get; }

    public int[] Tokens { get; }

    /// <summary>Copies the pixel rows and token rows of <paramref name="indices"/> into the destinations, in order.</summary>
    public void Gather(ReadOnlySpan<int> indices, MatrixView images, Span<int> tokens)
    {
        RowGather.Rows(Images, indices, images);
        int t = ContextLength;
        for (int i = 0; i < indices.Length; i++)
        {
            Tokens.AsSpan(indices[i] * t, t).CopyTo(tokens.Slice(i * t, t));
        }
    }

    /// <summary>SHA-256 (hex) of the image size, count, ids, captions and pixels of <paramref name="dataset"/>.</summary>
    public static string Fingerprint(ImageTextDataset dataset)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Span<byte> header = stackalloc byte[8];
        BitConverter.TryWriteBytes(header, dataset.ImageSize);
        BitConverter.TryWriteBytes(header.Slice(4), dataset.Count);
        hash.AppendData(header);
        for (int i = 0; i < dataset.Count; i++)
        {
            hash.AppendData(Encoding.UTF8.GetBytes(dataset.Ids[i]));
            hash.AppendData([0]);
            hash.AppendData(Encoding.UTF8.GetBytes(dataset.Captions[i]));
            hash.AppendData([0]);
        }

        hash.AppendData(MemoryMarshal.AsBytes(dataset.Pixels.AsSpan()));
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    private static void ChwToHwc(ReadOnlySpan<float> chw, Span<float> hwc, int s)
    {
        int plane = s * s;
        for (int p = 0; p < plane; p++)
        {
            hwc[3 * p] = chw[p];
            hwc[(3 * p) + 1] = chw[plane + p];
            hwc[(3 * p) + 2] = chw[(2 * plane) + p];
        }
    }
}

/// <summary>Row gather until Core's lands with the hardening branch (then this forwards to it).</summary>
internal static class RowGather
{
    public static void Rows(MatrixView source, ReadOnlySpan<int> indices, MatrixView destination)
    {
        for (int i = 0; i < indices.Length; i++)
        {
            source.Row(indices[i]).CopyTo(destination.Row(i));
        }
    }
}
