using System;
using System.Collections.Generic;
using Aced.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Aced.TorchSharp.Models;

/// <summary>
/// The ViT image tower of Aced.Models (<see cref="VisionTransformer"/>) as a TorchSharp module: same config, same
/// parameter names and shapes (inside the module '.' becomes '_'), same forward, same initialisation for the same
/// seed (the values are taken from a managed tower built with that seed).
/// </summary>
public sealed class TorchVisionTransformer : torch.nn.Module<Tensor, Tensor>
{
    private readonly List<string> _managedNames = new();

    /// <summary>Creates the tower (float32, CPU; move it with <c>to(device)</c>).</summary>
    /// <exception cref="ArgumentException">Invalid config.</exception>
    public TorchVisionTransformer(VisionTransformerConfig config, ulong seed, string prefix = "image")
        : base(nameof(TorchVisionTransformer))
    {
        ArgumentNullException.ThrowIfNull(config);
        Config = config.Validated();
        Prefix = prefix;
        TowerFunctions.Register(this, new VisionTransformer(config, seed, prefix).Parameters, _managedNames);
    }

    /// <summary>The tower's shape.</summary>
    public VisionTransformerConfig Config { get; }

    /// <summary>The prefix of every parameter name.</summary>
    public string Prefix { get; }

    /// <summary>Aced.Models' parameter names in Aced.Models' order.</summary>
    public IReadOnlyList<string> ManagedParameterNames => _managedNames;

    /// <summary>Encodes images given as rows of <c>ImageSize * ImageSize * Channels</c> floats (HWC, row-major), [B, H*W*C]; returns [B, EmbeddingDimension] (not normalised).</summary>
    /// <exception cref="ArgumentException">Wrong shape.</exception>
    public override Tensor forward(Tensor images)
    {
        ArgumentNullException.ThrowIfNull(images);
        VisionTransformerConfig c = Config;
        if (images.dim() != 2 || images.shape[1] != c.InputLength)
        {
            throw new ArgumentException($"must be [B, {c.InputLength}] ({c.ImageSize}x{c.ImageSize}x{c.Channels} HWC floats per image), got [{string.Join(", ", images.shape)}]", nameof(images));
        }

        using var scope = torch.NewDisposeScope();
        Dictionary<string, Tensor> p = TowerFunctions.Lookup(this);
        long batch = images.shape[0];
        int grid = c.ImageSize / c.PatchSize;
        Tensor patches = images
            .reshape(batch, grid, c.PatchSize, grid, c.PatchSize, c.Channels)
            .permute(0, 1, 3, 2, 4, 5)
            .reshape(batch, c.Tokens, (long)c.PatchSize * c.PatchSize * c.Channels);
        Tensor x = TowerFunctions.Linear(patches, p, Prefix + ".patch").add(TowerFunctions.Get(p, Prefix + ".position"));
        return TowerFunctions.EncodePoolAndProject(x, p, Prefix, c.Depth, c.Heads, causal: false, c.Pooling, null).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// The text transformer of Aced.Models (<see cref="TextTransformer"/>) as a TorchSharp module: same config, names,
/// forward (optional causal mask, pooling with the last non-padding token for <see cref="PoolingKind.LastToken"/>)
/// and initialisation for the same seed.
/// </summary>
public sealed class TorchTextTransformer : torch.nn.Module<Tensor, Tensor>
{
    private readonly List<string> _managedNames = new();

    /// <summary>Creates the tower (float32, CPU; move it with <c>to(device)</c>).</summary>
    /// <exception cref="ArgumentException">Invalid config.</exception>
    public TorchTextTransformer(TextTransformerConfig config, ulong seed, string prefix = "text")
        : base(nameof(TorchTextTransformer))
    {
        ArgumentNullException.ThrowIfNull(config);
        Config = config.Validated();
        Prefix = prefix;
        TowerFunctions.Register(this, new TextTransformer(config, seed, prefix).Parameters, _managedNames);
    }

    /// <summary>The tower's shape.</summary>
    public TextTransformerConfig Config { get; }

    /// <summary>The prefix of every parameter name.</summary>
    public string Prefix { get; }

    /// <summary>Aced.Models' parameter names in Aced.Models' order.</summary>
    public IReadOnlyList<string> ManagedParameterNames => _managedNames;

    /// <summary>Encodes token ids [B, ContextLength] (int64, on the module's device); returns [B, EmbeddingDimension] (not normalised).</summary>
    /// <exception cref="ArgumentException">Wrong shape or dtype.</exception>
    public override Tensor forward(Tensor tokens)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        TextTransformerConfig c = Config;
        if (tokens.dim() != 2 || tokens.shape[1] != c.ContextLength || tokens.dtype != ScalarType.Int64)
        {
            throw new ArgumentException($"must be int64 [B, {c.ContextLength}] token ids, got {tokens.dtype} [{string.Join(", ", tokens.shape)}]", nameof(tokens));
        }

        using var scope = torch.NewDisposeScope();
        Dictionary<string, Tensor> p = TowerFunctions.Lookup(this);
        long batch = tokens.shape[0];
        Tensor table = TowerFunctions.Get(p, Prefix + ".token");
        Tensor x = table.index_select(0, tokens.reshape(-1)).reshape(batch, c.ContextLength, c.Width).add(TowerFunctions.Get(p, Prefix + ".position"));

        // Last non-padding position (0 when every token is padding), as the managed tower.
        Tensor positions = torch.arange(c.ContextLength, dtype: ScalarType.Int64, device: tokens.device).reshape(1, c.ContextLength);
        Tensor last = torch.where(tokens.ne(c.PadId), positions.expand(batch, c.ContextLength), torch.zeros_like(tokens)).max(1).values;
        return TowerFunctions.EncodePoolAndProject(x, p, Prefix, c.Depth, c.Heads, c.Causal, c.Pooling, last).MoveToOuterDisposeScope();
    }
}
