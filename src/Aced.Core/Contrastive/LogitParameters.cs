using System;

namespace Aced.Core;

/// <summary>
/// The logit parameters of one two-tower model: logits are <c>l_ij = Scale * &lt;img_i, txt_j&gt; + Bias</c>
/// with <c>Scale = a = exp(t)</c> for the learnable log-scale <c>t</c> (open_clip's <c>logit_scale</c>,
/// big_vision's <c>t</c>) and the bias <c>c</c> (SigLIP's <c>b</c>). One type for the losses, the selection and
/// the model (<c>TwoTowerModel.Logits</c>), and the single source of the SigLIP and CLIP initial values.
/// </summary>
/// <remarks>
/// Built from the scale <c>a</c> (<see cref="LogitParameters(float, float)"/>) or from the log-scale <c>t</c>
/// (<see cref="FromLogScale"/>); the constructor rejects <c>a &lt;= 0</c>, and the message points to
/// <see cref="FromLogScale"/>. Both <see cref="Scale"/> and <see cref="LogScale"/> are stored, so a value made
/// from <c>t</c> returns exactly that <c>t</c>.
/// </remarks>
public readonly struct LogitParameters : IEquatable<LogitParameters>
{
    /// <summary>SigLIP's initial scale <c>a = 10</c> (<c>t = ln 10</c>).</summary>
    public const float SigmoidInitialScale = 10f;

    /// <summary>SigLIP's initial bias <c>c = -10</c>.</summary>
    public const float SigmoidInitialBias = -10f;

    /// <summary>CLIP's initial temperature 0.07, so <c>a = 1/0.07</c> and <c>t = ln(1/0.07)</c>.</summary>
    public const float SoftmaxInitialTemperature = 0.07f;

    private readonly float _logScale;

    /// <summary>Creates parameters from the scale <c>a</c> itself and the bias <c>c</c>.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="scale"/> is not a finite positive number, or <paramref name="bias"/> is not finite.</exception>
    public LogitParameters(float scale, float bias = 0f)
    {
        if (!(scale > 0f) || !float.IsFinite(scale))
        {
            Guard.ThrowOutOfRange(nameof(scale), scale, "must be a finite number greater than zero (it is a = exp(t); pass LogitParameters.FromLogScale for t)");
        }

        Guard.Finite(bias);
        Scale = scale;
        Bias = bias;
        _logScale = MathF.Log(scale);
    }

    private LogitParameters(float scale, float logScale, float bias)
    {
        Scale = scale;
        _logScale = logScale;
        Bias = bias;
    }

    /// <summary>Creates parameters from the log-scale <c>t</c> (<c>a = exp(t)</c>) and the bias <c>c</c>.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="logScale"/> is not finite or <c>exp(t)</c> is not a finite positive float, or <paramref name="bias"/> is not finite.</exception>
    public static LogitParameters FromLogScale(float logScale, float bias = 0f)
    {
        Guard.Finite(logScale);
        Guard.Finite(bias);
        float scale = MathF.Exp(logScale);
        if (!(scale > 0f) || !float.IsFinite(scale))
        {
            Guard.ThrowOutOfRange(nameof(logScale), logScale, $"gives a = exp(t) = {scale}, which is not a finite positive float; keep t within about [-87, 88] (models clamp t to [0, ln 100])");
        }

        return new LogitParameters(scale, logScale, bias);
    }

    /// <summary>SigLIP's initialisation: <c>a = 10</c> (<c>t = ln 10</c>), <c>c = -10</c>.</summary>
    public static LogitParameters SigmoidDefault => new(SigmoidInitialScale, MathF.Log(SigmoidInitialScale), SigmoidInitialBias);

    /// <summary>CLIP's initialisation: <c>a = 1/0.07</c> (<c>t = ln(1/0.07)</c>), no bias.</summary>
    public static LogitParameters SoftmaxDefault => new(1f / SoftmaxInitialTemperature, MathF.Log(1f / SoftmaxInitialTemperature), 0f);

    /// <summary>The multiplicative scale <c>a = exp(t)</c> (the inverse temperature).</summary>
    public float Scale { get; }

    /// <summary>The additive bias <c>c</c>.</summary>
    public float Bias { get; }

    /// <summary>The log-scale <c>t = ln a</c>.</summary>
    public float LogScale => _logScale;

    /// <summary>True for the default (zero) value, which is not a valid parameter set (its scale is 0).</summary>
    public bool IsDefault => Scale == 0f;

    /// <summary>The initial parameters of <paramref name="kind"/>: <see cref="SigmoidDefault"/> or <see cref="SoftmaxDefault"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="kind"/> is not defined.</exception>
    public static LogitParameters Initial(ContrastiveKind kind) => kind switch
    {
        ContrastiveKind.Sigmoid => SigmoidDefault,
        ContrastiveKind.Softmax => SoftmaxDefault,
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "is not a defined ContrastiveKind (Sigmoid or Softmax)"),
    };

    /// <inheritdoc/>
    public bool Equals(LogitParameters other) => Scale.Equals(other.Scale) && _logScale.Equals(other._logScale) && Bias.Equals(other.Bias);

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is LogitParameters other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Scale, _logScale, Bias);

    /// <summary>Equality of scale, log-scale and bias.</summary>
    public static bool operator ==(LogitParameters left, LogitParameters right) => left.Equals(right);

    /// <summary>Inequality of scale, log-scale or bias.</summary>
    public static bool operator !=(LogitParameters left, LogitParameters right) => !left.Equals(right);

    /// <inheritdoc/>
    public override string ToString() => FormattableString.Invariant($"a={Scale}, t={_logScale}, c={Bias}");
}
