using System;
using Aced.Core;

namespace Aced.Models;

/// <summary>
/// CPU-scale size presets of the towers, keeping the ViT family ratios (MLP = 4 D, head width fixed, Ti:S:B widths
/// 1:2:4). See <see cref="VisionTransformerConfig.Preset"/>, <see cref="TextTransformerConfig.Preset"/> and
/// <see cref="TwoTowerConfig.Preset"/>; <see cref="ModelSizes.Parse"/> reads the names from text (command lines).
/// </summary>
public enum ModelSize
{
    /// <summary>Width 48, depth 2, 3 heads.</summary>
    Mu = 0,

    /// <summary>Width 64, depth 4, 2 heads.</summary>
    Ti = 1,

    /// <summary>Width 128, depth 4, 4 heads (the reference shape).</summary>
    S = 2,

    /// <summary>Width 256, depth 4, 8 heads.</summary>
    B = 3,
}

/// <summary>Conversions of <see cref="ModelSize"/> for command lines and configuration files.</summary>
public static class ModelSizes
{
    /// <summary>Reads <c>Mu</c>, <c>Ti</c>, <c>S</c> or <c>B</c>, case-insensitively (surrounding white space ignored).</summary>
    /// <param name="text">The size name.</param>
    /// <param name="name">Argument or option name for the error message (for example <c>--size</c>).</param>
    /// <exception cref="ArgumentException">Not one of the four names (the message lists them).</exception>
    public static ModelSize Parse(string text, string name = "text")
    {
        if (!TryParse(text, out ModelSize size))
        {
            Guard.ThrowArgument(name, $"is '{text}', not a size preset; use Mu, Ti, S or B");
        }

        return size;
    }

    /// <summary>Reads a size name as <see cref="Parse"/> does; false when it is not one.</summary>
    public static bool TryParse(string? text, out ModelSize size)
    {
        switch (text?.Trim().ToUpperInvariant())
        {
            case "MU":
                size = ModelSize.Mu;
                return true;
            case "TI":
                size = ModelSize.Ti;
                return true;
            case "S":
                size = ModelSize.S;
                return true;
            case "B":
                size = ModelSize.B;
                return true;
            default:
                size = default;
                return false;
        }
    }

    /// <summary>(width, depth, heads) of a preset.</summary>
    internal static (int Width, int Depth, int Heads) Shape(ModelSize size) => size switch
    {
        ModelSize.Mu => (48, 2, 3),
        ModelSize.Ti => (64, 4, 2),
        ModelSize.S => (128, 4, 4),
        ModelSize.B => (256, 4, 8),
        _ => throw new ArgumentOutOfRangeException(nameof(size), size, "is not a defined ModelSize (Mu, Ti, S or B)"),
    };
}
