using System;
using Aced.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Aced.TorchSharp.Selection;

/// <summary>
/// The embeddings of one model (student or reference) for a super-batch, as tensors on any device, with the
/// model's logit scale <c>a</c> and bias <c>c</c> (<c>l_ij = a &lt;img_i, txt_j&gt; + c</c>). The tensor counterpart of
/// <see cref="Aced.Selection.ModelEmbeddings"/>. The tensors are not copied or owned.
/// </summary>
public sealed class TorchModelEmbeddings
{
    /// <summary>Creates model embeddings.</summary>
    /// <param name="image">Image embeddings, B x d, floating point (normally L2-normalised rows).</param>
    /// <param name="text">Text embeddings, B x d, on the same device, row i paired with image row i.</param>
    /// <param name="logits">The model's logit parameters (scale <c>a = exp(t)</c> and bias <c>c</c>).</param>
    /// <exception cref="ArgumentNullException">A tensor is null.</exception>
    /// <exception cref="ArgumentException">A tensor is not a non-empty floating-point matrix, the shapes or devices differ.</exception>
    public TorchModelEmbeddings(Tensor image, Tensor text, LogitParameters logits)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(text);
        if (image.dim() != 2 || image.shape[0] == 0 || image.shape[1] == 0 || !image.is_floating_point())
        {
            throw new ArgumentException($"must be a non-empty floating-point B x d matrix, got {image.dtype} [{string.Join(", ", image.shape)}]", nameof(image));
        }

        if (text.dim() != 2 || text.shape[0] != image.shape[0] || text.shape[1] != image.shape[1] || text.dtype != image.dtype)
        {
            throw new ArgumentException($"has {text.dtype} [{string.Join(", ", text.shape)}] but the image embeddings are {image.dtype} [{image.shape[0]}, {image.shape[1]}]; image and text rows must pair up with the same dimension and dtype", nameof(text));
        }

        if (text.device.ToString() != image.device.ToString())
        {
            throw new ArgumentException($"is on {text.device} but the image embeddings are on {image.device}; move both to one device", nameof(text));
        }

        Image = image;
        Text = text;
        Logits = logits;
    }

    /// <summary>Image embeddings, B x d.</summary>
    public Tensor Image { get; }

    /// <summary>Text embeddings, B x d.</summary>
    public Tensor Text { get; }

    /// <summary>The model's logit parameters.</summary>
    public LogitParameters Logits { get; }

    /// <summary>The logit scale <c>a</c>.</summary>
    public float Scale => Logits.Scale;

    /// <summary>The logit bias <c>c</c>.</summary>
    public float Bias => Logits.Bias;

    /// <summary>B, the number of examples.</summary>
    public int Count => (int)Image.shape[0];

    /// <summary>d, the embedding dimension.</summary>
    public int Dimension => (int)Image.shape[1];
}

/// <summary>
/// A super-batch for <see cref="TorchActiveBatchSampler"/>: the student's and/or the reference model's embeddings of
/// the same B examples in the same order, on one device. The tensor counterpart of <see cref="Aced.Selection.SuperBatch"/>.
/// </summary>
public sealed class TorchSuperBatch
{
    /// <summary>Creates a super-batch; either model may be null, not both.</summary>
    /// <exception cref="ArgumentException">Both are null, or their row counts or devices differ.</exception>
    public TorchSuperBatch(TorchModelEmbeddings? student, TorchModelEmbeddings? reference = null)
    {
        if (student is null && reference is null)
        {
            throw new ArgumentException("and reference are both absent; give the embeddings of at least one model", nameof(student));
        }

        if (student is not null && reference is not null)
        {
            if (student.Count != reference.Count)
            {
                throw new ArgumentException($"has {reference.Count} rows but the student has {student.Count}; both must embed the same super-batch in the same order", nameof(reference));
            }

            if (student.Image.device.ToString() != reference.Image.device.ToString())
            {
                throw new ArgumentException($"is on {reference.Image.device} but the student is on {student.Image.device}; move both to one device", nameof(reference));
            }
        }

        Student = student;
        Reference = reference;
    }

    /// <summary>The student's embeddings, or null.</summary>
    public TorchModelEmbeddings? Student { get; }

    /// <summary>The reference model's embeddings, or null.</summary>
    public TorchModelEmbeddings? Reference { get; }

    /// <summary>B.</summary>
    public int Count => (Student ?? Reference)!.Count;

    /// <summary>The device of the embeddings.</summary>
    public Device Device => (Student ?? Reference)!.Image.device;
}
