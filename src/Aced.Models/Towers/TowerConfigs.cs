using System;
using Aced.Core;

namespace Aced.Models;

/// <summary>
/// Shape of a ViT image tower. Images are rows of <c>ImageSize x ImageSize x Channels</c> floats (HWC order), cut
/// into non-overlapping <c>PatchSize</c> squares (row-major grid, each patch flattened in (y, x, channel) order).
/// </summary>
public sealed record VisionTransformerConfig
{
    /// <summary>Image height and width in pixels (square images).</summary>
    public int ImageSize { get; init; } = 32;

    /// <summary>Channels per pixel.</summary>
    public int Channels { get; init; } = 3;

    /// <summary>Patch side in pixels; must divide <see cref="ImageSize"/>.</summary>
    public int PatchSize { get; init; } = 4;

    /// <summary>Transformer width D.</summary>
    public int Width { get; init; } = 128;

    /// <summary>Number of transformer blocks.</summary>
    public int Depth { get; init; } = 4;

    /// <summary>Attention heads; must divide <see cref="Width"/>.</summary>
    public int Heads { get; init; } = 4;

    /// <summary>Hidden width of the MLP (4 D in the ViT family).</summary>
    public int MlpWidth { get; init; } = 512;

    /// <summary>Output embedding width (the shared image-text space).</summary>
    public int EmbeddingDimension { get; init; } = 128;

    /// <summary>Pooling of the token rows (GAP by default, as in the paper).</summary>
    public PoolingKind Pooling { get; init; } = PoolingKind.GlobalAverage;

    /// <summary>Tokens per image: (ImageSize / PatchSize)^2.</summary>
    public int Tokens => (ImageSize / PatchSize) * (ImageSize / PatchSize);

    /// <summary>Floats per image row.</summary>
    public int InputLength => ImageSize * ImageSize * Channels;

    /// <summary>
    /// CPU-scale presets keeping the ViT family ratios (MLP = 4 D, head width fixed, Ti:S:B widths 1:2:4):
    /// Mu (D 48, depth 2, 3 heads), Ti (64, 4, 2), S (128, 4, 4), B (256, 4, 8). From text: <see cref="ModelSizes.Parse"/>.
    /// </summary>
    /// <param name="size">The preset.</param>
    /// <param name="imageSize">Image side in pixels.</param>
    /// <param name="patchSize">Patch side in pixels.</param>
    /// <param name="embeddingDimension">Output embedding width.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="size"/> is not defined.</exception>
    /// <exception cref="ArgumentException">The sizes give an invalid shape.</exception>
    public static VisionTransformerConfig Preset(ModelSize size, int imageSize = 32, int patchSize = 4, int embeddingDimension = 128)
    {
        (int width, int depth, int heads) = ModelSizes.Shape(size);
        return new VisionTransformerConfig
        {
            ImageSize = imageSize,
            PatchSize = patchSize,
            Width = width,
            Depth = depth,
            Heads = heads,
            MlpWidth = 4 * width,
            EmbeddingDimension = embeddingDimension,
        }.Validated();
    }

    /// <summary>Checks every field; returns this config.</summary>
    /// <exception cref="ArgumentException">A size is not positive, the patch does not tile the image, or the heads do not divide the width.</exception>
    public VisionTransformerConfig Validated()
    {
        TowerShape.Validate(Width, Depth, Heads, MlpWidth, EmbeddingDimension);
        Guard.Positive(ImageSize);
        Guard.Positive(Channels);
        Guard.Positive(PatchSize);
        if (!(ImageSize % PatchSize == 0))
        {
            Guard.ThrowArgument(nameof(PatchSize), $"PatchSize {PatchSize} must divide ImageSize {ImageSize}");
        }
        return this;
    }

    /// <summary>Number of trainable scalars.</summary>
    public long ParameterCount()
    {
        int d = Width;
        long patch = ((long)PatchSize * PatchSize * Channels * d) + d;
        return patch + ((long)Tokens * d) + TowerShape.StackParameters(d, Depth, MlpWidth) + TowerShape.PoolingParameters(Pooling, d) + ((long)d * EmbeddingDimension) + EmbeddingDimension;
    }

    /// <summary>Forward floating-point operations per example (2 per multiply-add of every matrix product, attention included).</summary>
    public double ForwardFlops() =>
        2.0 * (((double)Tokens * PatchSize * PatchSize * Channels * Width) + TowerShape.StackMacs(Width, Depth, MlpWidth, Tokens) + TowerShape.PoolingMacs(Pooling, Width, Tokens) + ((double)Width * EmbeddingDimension));

}

/// <summary>
/// Shape of a BERT-style transformer text tower (bidirectional unless <see cref="Causal"/>): token plus learned
/// position embeddings, pre-LN blocks, final norm, pooling, linear projection.
/// </summary>
public sealed record TextTransformerConfig
{
    /// <summary>Vocabulary size (token ids lie in [0, VocabularySize)).</summary>
    public int VocabularySize { get; init; } = 4096;

    /// <summary>Tokens per caption.</summary>
    public int ContextLength { get; init; } = 32;

    /// <summary>Transformer width D.</summary>
    public int Width { get; init; } = 128;

    /// <summary>Number of transformer blocks.</summary>
    public int Depth { get; init; } = 4;

    /// <summary>Attention heads; must divide <see cref="Width"/>.</summary>
    public int Heads { get; init; } = 4;

    /// <summary>Hidden width of the MLP.</summary>
    public int MlpWidth { get; init; } = 512;

    /// <summary>Output embedding width.</summary>
    public int EmbeddingDimension { get; init; } = 128;

    /// <summary>Pooling (first token by default: the tokenizer puts [CLS] first).</summary>
    public PoolingKind Pooling { get; init; } = PoolingKind.FirstToken;

    /// <summary>Use a causal attention mask (GPT/CLIP style) instead of bidirectional attention.</summary>
    public bool Causal { get; init; }

    /// <summary>Padding id; <see cref="PoolingKind.LastToken"/> pools the last position whose id differs from it.</summary>
    public int PadId { get; init; }

    /// <summary>CPU-scale presets with the same widths, depths and heads as <see cref="VisionTransformerConfig.Preset"/>.</summary>
    /// <param name="size">The preset.</param>
    /// <param name="vocabularySize">Vocabulary size.</param>
    /// <param name="contextLength">Tokens per caption.</param>
    /// <param name="embeddingDimension">Output embedding width.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="size"/> is not defined.</exception>
    /// <exception cref="ArgumentException">The sizes give an invalid shape.</exception>
    public static TextTransformerConfig Preset(ModelSize size, int vocabularySize = 4096, int contextLength = 32, int embeddingDimension = 128)
    {
        (int width, int depth, int heads) = ModelSizes.Shape(size);
        return new TextTransformerConfig
        {
            VocabularySize = vocabularySize,
            ContextLength = contextLength,
            Width = width,
            Depth = depth,
            Heads = heads,
            MlpWidth = 4 * width,
            EmbeddingDimension = embeddingDimension,
        }.Validated();
    }

    /// <summary>Checks every field; returns this config.</summary>
    /// <exception cref="ArgumentException">A size is not positive or the heads do not divide the width.</exception>
    public TextTransformerConfig Validated()
    {
        TowerShape.Validate(Width, Depth, Heads, MlpWidth, EmbeddingDimension);
        Guard.Positive(VocabularySize);
        Guard.Positive(ContextLength);
        if (!(PadId >= 0 && PadId < VocabularySize))
        {
            Guard.ThrowArgument(nameof(PadId), $"PadId {PadId} must lie in [0, {VocabularySize})");
        }
        return this;
    }

    /// <summary>Number of trainable scalars.</summary>
    public long ParameterCount()
    {
        int d = Width;
        return ((long)VocabularySize * d) + ((long)ContextLength * d) + TowerShape.StackParameters(d, Depth, MlpWidth) + TowerShape.PoolingParameters(Pooling, d) + ((long)d * EmbeddingDimension) + EmbeddingDimension;
    }

    /// <summary>Forward floating-point operations per example (2 per multiply-add; embedding look-ups are free).</summary>
    public double ForwardFlops() =>
        2.0 * (TowerShape.StackMacs(Width, Depth, MlpWidth, ContextLength) + TowerShape.PoolingMacs(Pooling, Width, ContextLength) + ((double)Width * EmbeddingDimension));
}

internal static class TowerShape
{
    public static void Validate(int width, int depth, int heads, int mlpWidth, int embeddingDimension)
    {
        Guard.Positive(width, nameof(width));
        Guard.Positive(depth, nameof(depth));
        Guard.Positive(heads, nameof(heads));
        Guard.Positive(mlpWidth, nameof(mlpWidth));
        Guard.Positive(embeddingDimension, nameof(embeddingDimension));
        if (!(width % heads == 0))
        {
            Guard.ThrowArgument("Heads", $"Heads {heads} must divide Width {width}");
        }
    }

    public static long StackParameters(int d, int depth, int mlp) =>
        (depth * ((4L * d) + (3L * d * d) + (3L * d) + ((long)d * d) + d + ((long)d * mlp) + mlp + ((long)mlp * d) + d)) + (2L * d);

    public static long PoolingParameters(PoolingKind pooling, int d) =>
        pooling == PoolingKind.MultiheadAttention ? d + (2L * d * d) + (2L * d) + ((long)d * d) + d : 0;

    public static double StackMacs(int d, int depth, int mlp, int tokens) =>
        depth * (((double)tokens * ((4.0 * d * d) + (2.0 * d * mlp))) + (2.0 * tokens * tokens * d));

    public static double PoolingMacs(PoolingKind pooling, int d, int tokens) =>
        pooling == PoolingKind.MultiheadAttention ? ((double)tokens * 2 * d * d) + (2.0 * tokens * d) + ((double)d * d) : 0;
}
