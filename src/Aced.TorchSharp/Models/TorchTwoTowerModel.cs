using System;
using System.Collections.Generic;
using System.IO;
using Aced.Core;
using Aced.Models;
using Aced.Models.Checkpoints;
using Aced.TorchSharp.Losses;
using TorchSharp;
using static TorchSharp.torch;

namespace Aced.TorchSharp.Models;

/// <summary>
/// Aced.Models' <see cref="TwoTowerModel"/> as a TorchSharp module: the ViT and text towers, L2-normalised
/// embeddings (<c>x / max(||x||, 1e-12)</c>) and the learnable log-scale <c>t</c> (<c>logit.scale</c>) and bias
/// <c>c</c> (<c>logit.bias</c>), initialised for <see cref="TwoTowerConfig.Kind"/>. Parameters carry Aced.Models'
/// names, so <see cref="CopyTo"/>/<see cref="CopyFrom"/> and <see cref="TorchCheckpoint"/> move weights both ways:
/// train on a GPU, deploy on the managed towers with no native dependency, or fine-tune a managed checkpoint here.
/// </summary>
public sealed class TorchTwoTowerModel : torch.nn.Module
{
    private const string LogScaleName = "logit.scale";
    private const string BiasName = "logit.bias";

    /// <summary>Creates the model with the same initial values as <c>new TwoTowerModel(config, seed)</c> (float32, CPU).</summary>
    /// <exception cref="ArgumentException">Invalid config.</exception>
    public TorchTwoTowerModel(TwoTowerConfig config, ulong seed)
        : base(nameof(TorchTwoTowerModel))
    {
        ArgumentNullException.ThrowIfNull(config);
        Config = config.Validated();
        Image = new TorchVisionTransformer(config.Image, seed);
        Text = new TorchTextTransformer(config.Text, seed);
        LogitParameters initial = LogitParameters.Initial(config.Kind);
        register_module("image", Image);
        register_module("text", Text);
        register_parameter(TowerFunctions.LocalName(LogScaleName), new global::TorchSharp.Modules.Parameter(torch.tensor(new[] { initial.LogScale }, new long[] { 1 }), requires_grad: true));
        register_parameter(TowerFunctions.LocalName(BiasName), new global::TorchSharp.Modules.Parameter(torch.tensor(new[] { initial.Bias }, new long[] { 1 }), requires_grad: true));
    }

    /// <summary>The configuration.</summary>
    public TwoTowerConfig Config { get; }

    /// <summary>The image tower.</summary>
    public TorchVisionTransformer Image { get; }

    /// <summary>The text tower.</summary>
    public TorchTextTransformer Text { get; }

    /// <summary>The log-scale parameter <c>t</c> (shape [1]).</summary>
    public Tensor LogScale => Own(LogScaleName);

    /// <summary>The bias parameter <c>c</c> (shape [1]).</summary>
    public Tensor Bias => Own(BiasName);

    /// <summary>The logit parameters as 0-d views for <see cref="TorchLosses"/> (gradients flow into <see cref="LogScale"/> and <see cref="Bias"/>).</summary>
    public TorchLogits Logits => new(LogScale.reshape(Array.Empty<long>()), Bias.reshape(Array.Empty<long>()));

    /// <summary>Encodes a batch: L2-normalised image and text embeddings, each [B, EmbeddingDimension].</summary>
    /// <param name="images">[B, H*W*C] floats (HWC rows).</param>
    /// <param name="tokens">[B, ContextLength] int64 token ids.</param>
    /// <exception cref="ArgumentException">Shapes disagree.</exception>
    public (Tensor Image, Tensor Text) Forward(Tensor images, Tensor tokens)
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(tokens);
        if (images.shape[0] != tokens.shape[0])
        {
            throw new ArgumentException($"has {tokens.shape[0]} captions but there are {images.shape[0]} images", nameof(tokens));
        }

        using var scope = torch.NewDisposeScope();
        Tensor image = Normalize(Image.forward(images));
        Tensor text = Normalize(Text.forward(tokens));
        return (image.MoveToOuterDisposeScope(), text.MoveToOuterDisposeScope());
    }

    /// <summary>Copies every parameter into a managed model of the same configuration (by name; shapes checked first).</summary>
    /// <exception cref="ArgumentException">A name is missing or a shape differs (nothing is copied then).</exception>
    public void CopyTo(TwoTowerModel managed)
    {
        ArgumentNullException.ThrowIfNull(managed);
        List<(Aced.Models.Parameter Managed, Tensor Torch)> pairs = Pair(managed);
        foreach ((Aced.Models.Parameter m, Tensor t) in pairs)
        {
            using Tensor host = t.detach().to_type(ScalarType.Float32).cpu().contiguous();
            host.data<float>().CopyTo(m.Value);
        }
    }

    /// <summary>Copies every parameter from a managed model of the same configuration (by name; shapes checked first).</summary>
    /// <exception cref="ArgumentException">A name is missing or a shape differs (nothing is copied then).</exception>
    public void CopyFrom(TwoTowerModel managed)
    {
        ArgumentNullException.ThrowIfNull(managed);
        List<(Aced.Models.Parameter Managed, Tensor Torch)> pairs = Pair(managed);
        using (torch.no_grad())
        {
            foreach ((Aced.Models.Parameter m, Tensor t) in pairs)
            {
                using Tensor host = torch.tensor(m.Value, t.shape);
                t.copy_(host);
            }
        }
    }

    /// <summary>A new managed model (same config) holding this model's current parameters.</summary>
    public TwoTowerModel ToManaged()
    {
        var managed = new TwoTowerModel(Config, 0);
        CopyTo(managed);
        return managed;
    }

    private static Tensor Normalize(Tensor x) =>
        x.div(x.norm(1, keepdim: true).clamp_min(StableMath.NormalizeEpsilon));

    private Tensor Own(string managedName) => TowerFunctions.Get(TowerFunctions.Lookup(this), managedName);

    private List<(Aced.Models.Parameter Managed, Tensor Torch)> Pair(TwoTowerModel managed)
    {
        Dictionary<string, Tensor> image = TowerFunctions.Lookup(Image);
        Dictionary<string, Tensor> text = TowerFunctions.Lookup(Text);
        Dictionary<string, Tensor> own = TowerFunctions.Lookup(this);
        var pairs = new List<(Aced.Models.Parameter, Tensor)>();
        int expected = image.Count + text.Count + own.Count;
        if (managed.Parameters.Count != expected)
        {
            throw new ArgumentException($"has {managed.Parameters.Count} parameters but this model has {expected}; build both from the same TwoTowerConfig", nameof(managed));
        }

        foreach (Aced.Models.Parameter m in managed.Parameters)
        {
            string local = TowerFunctions.LocalName(m.Name);
            if (!image.TryGetValue(local, out Tensor? t) && !text.TryGetValue(local, out t) && !own.TryGetValue(local, out t))
            {
                throw new ArgumentException($"parameter '{m.Name}' has no counterpart in the TorchSharp model; build both from the same TwoTowerConfig", nameof(managed));
            }

            if (t.numel() != m.Length || t.dim() != m.Shape.Length)
            {
                throw new ArgumentException($"parameter '{m.Name}' is [{string.Join(", ", m.Shape)}] but the TorchSharp one is [{string.Join(", ", t.shape)}]", nameof(managed));
            }

            for (int i = 0; i < m.Shape.Length; i++)
            {
                if (t.shape[i] != m.Shape[i])
                {
                    throw new ArgumentException($"parameter '{m.Name}' is [{string.Join(", ", m.Shape)}] but the TorchSharp one is [{string.Join(", ", t.shape)}]", nameof(managed));
                }
            }

            pairs.Add((m, t));
        }

        return pairs;
    }
}

/// <summary>
/// Checkpoints of a <see cref="TorchTwoTowerModel"/> in Aced.Models' <see cref="Checkpoint"/> format (the same
/// file either side can read). Parameters only: AdamW moments are not carried across (a TorchSharp optimizer keeps
/// its own state).
/// </summary>
public static class TorchCheckpoint
{
    /// <summary>Writes <paramref name="model"/>'s parameters atomically (temporary file + rename) as an Aced checkpoint.</summary>
    public static void Save(string path, TorchTwoTowerModel model, long step, RngState? rng = null, Aced.Models.Text.Tokenizer? tokenizer = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(model);
        Checkpoint.Save(path, model.ToManaged(), null, step, rng, tokenizer);
    }

    /// <summary>Loads an Aced checkpoint (written by either side) into <paramref name="model"/>; verified first, nothing changes on failure.</summary>
    /// <exception cref="InvalidDataException">Corrupted, truncated or mismatched file.</exception>
    public static CheckpointInfo Load(string path, TorchTwoTowerModel model)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(model);
        var managed = new TwoTowerModel(model.Config, 0);
        CheckpointInfo info = Checkpoint.Load(path, managed);
        model.CopyFrom(managed);
        return info;
    }
}
