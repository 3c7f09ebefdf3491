using System;
using Aced.Core;

namespace Aced.Models;

/// <summary>
/// A named, trainable float32 tensor with its gradient buffer. The value and gradient are flat row-major arrays whose
/// length is the product of <see cref="Shape"/>; layers read <see cref="Value"/> and accumulate (+=) into
/// <see cref="Gradient"/> in their backward passes.
/// </summary>
public sealed class Parameter
{
    /// <summary>Creates a zero-initialised parameter.</summary>
    /// <param name="name">Unique dotted name, e.g. <c>image.block0.attn.qkv.weight</c>; used by checkpoints.</param>
    /// <param name="shape">Dimensions (each positive).</param>
    /// <param name="kind">What the tensor is; decides the default weight-decay policy of <see cref="Training.AdamW"/>.</param>
    /// <exception cref="ArgumentException"><paramref name="name"/> is empty or <paramref name="shape"/> has a non-positive dimension.</exception>
    public Parameter(string name, int[] shape, ParameterKind kind)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(shape);
        Guard.That(shape.Length > 0, "must have at least one dimension", nameof(shape));
        long count = 1;
        foreach (int d in shape)
        {
            Guard.Positive(d, nameof(shape));
            count *= d;
        }

        Guard.That(count <= Array.MaxLength, "describes more elements than one array can hold", nameof(shape));
        Name = name;
        Shape = (int[])shape.Clone();
        Kind = kind;
        Value = new float[count];
        Gradient = new float[count];
    }

    /// <summary>Unique dotted name of the tensor.</summary>
    public string Name { get; }

    /// <summary>Dimensions of the tensor (row-major).</summary>
    public int[] Shape { get; }

    /// <summary>Role of the tensor (weight, bias, norm scale, embedding, scalar).</summary>
    public ParameterKind Kind { get; }

    /// <summary>Current values (flat, row-major).</summary>
    public float[] Value { get; }

    /// <summary>Accumulated gradient of the loss with respect to <see cref="Value"/> (flat, row-major).</summary>
    public float[] Gradient { get; }

    /// <summary>Number of scalar elements.</summary>
    public int Length => Value.Length;

    /// <summary>Views the value as a matrix of <paramref name="rows"/> x (Length / rows).</summary>
    /// <param name="rows">Row count; must divide <see cref="Length"/>.</param>
    public MatrixView AsMatrix(int rows) => new(Value, 0, rows, Value.Length / rows, Value.Length / rows);

    /// <summary>Views the gradient as a matrix of <paramref name="rows"/> x (Length / rows).</summary>
    /// <param name="rows">Row count; must divide <see cref="Length"/>.</param>
    public MatrixView GradientAsMatrix(int rows) => new(Gradient, 0, rows, Gradient.Length / rows, Gradient.Length / rows);

    /// <summary>Sets the gradient to zero.</summary>
    public void ZeroGradient() => Array.Clear(Gradient);

    /// <inheritdoc/>
    public override string ToString() => $"{Name} [{string.Join('x', Shape)}] ({Kind})";
}

/// <summary>The role of a <see cref="Parameter"/>, used for weight-decay masks and initialisation.</summary>
public enum ParameterKind
{
    /// <summary>A dense or projection weight matrix (decayed by default).</summary>
    Weight,

    /// <summary>An additive bias (not decayed by default).</summary>
    Bias,

    /// <summary>A layer-norm scale or shift (not decayed by default).</summary>
    Norm,

    /// <summary>A token, patch-position or probe embedding (not decayed by default).</summary>
    Embedding,

    /// <summary>A model scalar such as the log-scale <c>t</c> or bias <c>c</c> (not decayed by default).</summary>
    Scalar,
}
