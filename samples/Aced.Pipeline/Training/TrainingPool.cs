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
/// once.
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
            ModelInput.ChwToHwc(dataset.Image(e), Images.Row(e), s);
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
        RowGather.Gather(Images, indices, images);
        RowGather.Gather<int>(Tokens, ContextLength, indices, tokens.Slice(0, indices.Length * ContextLength));
    }
}
