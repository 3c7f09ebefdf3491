using System.Collections.Generic;
using Aced.Core;

namespace Aced.Models;

/// <summary>
/// An image tower usable by <see cref="TwoTowerModel"/>: maps a batch of images (one row each) to unnormalised
/// embeddings and back-propagates embedding gradients into its parameters. Implement it to bring your own tower.
/// </summary>
public interface IImageEncoder
{
    /// <summary>Width of the output embedding.</summary>
    int EmbeddingDimension { get; }

    /// <summary>Length of one image row (e.g. height x width x channels).</summary>
    int InputLength { get; }

    /// <summary>Every trainable tensor, in a stable order with unique names.</summary>
    IReadOnlyList<Parameter> Parameters { get; }

    /// <summary>
    /// Encodes <paramref name="images"/> (batch x <see cref="InputLength"/>) and returns the batch x
    /// <see cref="EmbeddingDimension"/> embeddings, a view into the encoder's own buffer valid until the next call.
    /// </summary>
    MatrixView Forward(MatrixView images);

    /// <summary>
    /// Back-propagates the gradient of the loss w.r.t. the embeddings of the last <see cref="Forward"/> and
    /// accumulates (+=) parameter gradients.
    /// </summary>
    void Backward(MatrixView embeddingGradient);
}

/// <summary>
/// A text tower usable by <see cref="TwoTowerModel"/>: maps token ids (batch x <see cref="ContextLength"/>) to
/// unnormalised embeddings and back-propagates embedding gradients into its parameters.
/// </summary>
public interface ITextEncoder
{
    /// <summary>Width of the output embedding.</summary>
    int EmbeddingDimension { get; }

    /// <summary>Tokens per caption (every caption is padded or truncated to this length).</summary>
    int ContextLength { get; }

    /// <summary>Number of token ids the encoder accepts (ids lie in [0, VocabularySize)).</summary>
    int VocabularySize { get; }

    /// <summary>Every trainable tensor, in a stable order with unique names.</summary>
    IReadOnlyList<Parameter> Parameters { get; }

    /// <summary>
    /// Encodes <paramref name="tokens"/> (flat, batch x <see cref="ContextLength"/>) and returns batch x
    /// <see cref="EmbeddingDimension"/> embeddings, a view into the encoder's own buffer valid until the next call.
    /// </summary>
    MatrixView Forward(System.ReadOnlySpan<int> tokens, int batch);

    /// <summary>Back-propagates embedding gradients of the last <see cref="Forward"/>; accumulates parameter gradients.</summary>
    void Backward(MatrixView embeddingGradient);
}

/// <summary>
/// A tower that can build an inference twin: the same parameters with separate activation buffers. The
/// encode-only paths of <see cref="TwoTowerModel"/> run on the twin so they never overwrite the activations a
/// pending <see cref="TwoTowerModel.Backward(MatrixView, MatrixView, float, float)"/> needs.
/// </summary>
internal interface IInferenceTwin<out T>
{
    /// <summary>Creates the twin (cheap: buffers are allocated on its first forward).</summary>
    T CreateInferenceTwin();
}
