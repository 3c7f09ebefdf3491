using System;

namespace Aced.Core;

/// <summary>
/// Gradients of a loss with respect to the logit parameters of <see cref="LogitParameters"/>: <c>dL/da</c> for the
/// scale, <c>dL/dt = a dL/da</c> for the learnable log-scale and <c>dL/dc</c> for the bias, in double precision.
/// Every loss result of Aced.Losses exposes one (<c>LossResult.LogitGradients</c>, ...), and
/// <c>TwoTowerModel.Backward(imageGradient, textGradient, logitGradients)</c> takes it directly, so a training
/// step never converts or re-derives them by hand.
/// </summary>
public readonly struct LogitGradients : IEquatable<LogitGradients>
{
    /// <summary>Creates the gradients.</summary>
    /// <param name="scale"><c>dL/da</c>.</param>
    /// <param name="logScale"><c>dL/dt</c> (<c>= a dL/da</c>).</param>
    /// <param name="bias"><c>dL/dc</c>.</param>
    public LogitGradients(double scale, double logScale, double bias)
    {
        Scale = scale;
        LogScale = logScale;
        Bias = bias;
    }

    /// <summary><c>dL/da</c>, with <c>a</c> the scale.</summary>
    public double Scale { get; }

    /// <summary><c>dL/dt = a dL/da</c>, with <c>t = ln a</c> the learnable log-scale (what a model's <c>t</c> receives).</summary>
    public double LogScale { get; }

    /// <summary><c>dL/dc</c>, with <c>c</c> the bias.</summary>
    public double Bias { get; }

    /// <summary>The gradients of a sum of two losses.</summary>
    public static LogitGradients operator +(LogitGradients left, LogitGradients right) =>
        new(left.Scale + right.Scale, left.LogScale + right.LogScale, left.Bias + right.Bias);

    /// <summary>The gradients of a weighted loss <c>weight * L</c>.</summary>
    public static LogitGradients operator *(double weight, LogitGradients gradients) =>
        new(weight * gradients.Scale, weight * gradients.LogScale, weight * gradients.Bias);

    /// <summary>The gradients of the sum of two losses (<c>left + right</c>).</summary>
    public static LogitGradients Add(LogitGradients left, LogitGradients right) => left + right;

    /// <summary>The gradients of <c>weight * L</c>.</summary>
    public static LogitGradients Multiply(double weight, LogitGradients gradients) => weight * gradients;

    /// <inheritdoc/>
    public bool Equals(LogitGradients other) => Scale.Equals(other.Scale) && LogScale.Equals(other.LogScale) && Bias.Equals(other.Bias);

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is LogitGradients other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Scale, LogScale, Bias);

    /// <summary>Equality of all three gradients.</summary>
    public static bool operator ==(LogitGradients left, LogitGradients right) => left.Equals(right);

    /// <summary>Inequality of any of the three gradients.</summary>
    public static bool operator !=(LogitGradients left, LogitGradients right) => !left.Equals(right);

    /// <inheritdoc/>
    public override string ToString() => FormattableString.Invariant($"dL/da={Scale}, dL/dt={LogScale}, dL/dc={Bias}");
}
