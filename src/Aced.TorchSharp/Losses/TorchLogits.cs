using System;
using Aced.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Aced.TorchSharp.Losses;

/// <summary>
/// The student's learnable logit parameters as tensors: logits are <c>l_ij = exp(t) &lt;img_i, txt_j&gt; + c</c>
/// with the log-scale <c>t</c> (<see cref="LogScale"/>) and the bias <c>c</c> (<see cref="Bias"/>), both 0-d
/// tensors (usually parameters with <c>requires_grad</c>). The same convention as
/// <see cref="LogitParameters"/>.
/// </summary>
public readonly struct TorchLogits
{
    /// <summary>Wraps existing 0-d tensors (not copied; gradients flow into them).</summary>
    /// <exception cref="ArgumentNullException">A tensor is null.</exception>
    /// <exception cref="ArgumentException">A tensor is not 0-d (a scalar).</exception>
    public TorchLogits(Tensor logScale, Tensor bias)
    {
        ArgumentNullException.ThrowIfNull(logScale);
        ArgumentNullException.ThrowIfNull(bias);
        if (logScale.dim() != 0)
        {
            throw new ArgumentException($"must be a 0-d tensor (the log-scale t), got shape [{string.Join(", ", logScale.shape)}]", nameof(logScale));
        }

        if (bias.dim() != 0)
        {
            throw new ArgumentException($"must be a 0-d tensor (the bias c), got shape [{string.Join(", ", bias.shape)}]", nameof(bias));
        }

        LogScale = logScale;
        Bias = bias;
    }

    /// <summary>The log-scale <c>t</c> (scale <c>a = exp(t)</c>).</summary>
    public Tensor LogScale { get; }

    /// <summary>The bias <c>c</c>.</summary>
    public Tensor Bias { get; }

    /// <summary>
    /// Creates new 0-d leaf tensors from managed parameters (<c>t = log a</c>, <c>c</c>), optionally requiring
    /// gradients. The caller owns (disposes) them.
    /// </summary>
    public static TorchLogits Create(LogitParameters logits, ScalarType dtype = ScalarType.Float32, Device? device = null, bool requiresGrad = false)
    {
        Tensor t = torch.tensor((double)logits.LogScale, dtype: dtype, device: device, requires_grad: requiresGrad);
        Tensor c = torch.tensor((double)logits.Bias, dtype: dtype, device: device, requires_grad: requiresGrad);
        return new TorchLogits(t, c);
    }

    /// <summary>The current values as managed <see cref="LogitParameters"/> (copies two scalars to the host).</summary>
    public LogitParameters ToLogitParameters() =>
        LogitParameters.FromLogScale((float)LogScale.ToDouble(), (float)Bias.ToDouble());
}

/// <summary>
/// One teacher (or reference model) of a distillation loss: its embeddings (constants; no gradient flows into
/// them) and its scale and bias.
/// </summary>
public sealed class TorchTeacher
{
    /// <summary>Creates a teacher description (the tensors are not copied or owned).</summary>
    /// <exception cref="ArgumentNullException">A tensor is null.</exception>
    public TorchTeacher(Tensor image, Tensor text, LogitParameters logits)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(text);
        Image = image;
        Text = text;
        Logits = logits;
    }

    /// <summary>Teacher image embeddings, b x d_t.</summary>
    public Tensor Image { get; }

    /// <summary>Teacher text embeddings, b x d_t.</summary>
    public Tensor Text { get; }

    /// <summary>Teacher scale and bias.</summary>
    public LogitParameters Logits { get; }
}
