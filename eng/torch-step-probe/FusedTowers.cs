using System;
using System.Collections.Generic;
using Aced.Models;
using Aced.TorchSharp.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Aced.TorchStepProbe;

/// <summary>
/// The forward of <see cref="TorchTwoTowerModel"/> (the same parameters, the same function to float rounding) written
/// with libtorch's fused operators, as a PyTorch user would: <c>addmm</c> (bias added by the product), the tanh GELU
/// as one op, <c>scaled_dot_product_attention</c> (one fused kernel per layer instead of scores, softmax and a second
/// product), <c>layer_norm</c>. Aced.TorchSharp's towers spell these out op by op (GELU as six element-wise ops);
/// this is the faster libtorch yardstick. Pooling: mean or first token (the reference configuration's); with first-token
/// pooling the last block runs after its attention on the first row only, as Aced's towers do
/// (<c>TransformerEncoder.PooledRowsOnly</c>), so both sides skip the same dead work.
/// </summary>
internal sealed class FusedTowers
{
    private const double LayerNormEpsilon = 1e-6;

    private readonly TorchTwoTowerModel _model;
    private readonly Dictionary<string, Tensor> _p = new(StringComparer.Ordinal);

    public FusedTowers(TorchTwoTowerModel model)
    {
        _model = model;
        foreach ((string name, global::TorchSharp.Modules.Parameter parameter) in model.named_parameters())
        {
            _p[name[(name.LastIndexOf('.') + 1)..]] = parameter;
        }
    }

    /// <summary>L2-normalised image and text embeddings, [B, EmbeddingDimension] each.</summary>
    public (Tensor Image, Tensor Text) Forward(Tensor images, Tensor tokens)
    {
        VisionTransformerConfig ic = _model.Image.Config;
        TextTransformerConfig tc = _model.Text.Config;
        long batch = images.shape[0];
        int grid = ic.ImageSize / ic.PatchSize;
        Tensor patches = images
            .reshape(batch, grid, ic.PatchSize, grid, ic.PatchSize, ic.Channels)
            .permute(0, 1, 3, 2, 4, 5)
            .reshape(batch, ic.Tokens, (long)ic.PatchSize * ic.PatchSize * ic.Channels);
        string image = _model.Image.Prefix;
        Tensor x = Linear(patches, image + ".patch").add(P(image + ".position"));
        Tensor zi = Pool(Encode(x, image, ic.Depth, ic.Heads, causal: false, ic.Pooling == PoolingKind.FirstToken), image, ic.Pooling);

        string text = _model.Text.Prefix;
        Tensor t = P(text + ".token").index_select(0, tokens.reshape(-1)).reshape(batch, tc.ContextLength, tc.Width).add(P(text + ".position"));
        Tensor zt = Pool(Encode(t, text, tc.Depth, tc.Heads, tc.Causal, tc.Pooling == PoolingKind.FirstToken), text, tc.Pooling);
        return (Normalize(zi), Normalize(zt));
    }

    /// <summary>The blocks and the final norm; with <paramref name="firstRow"/>, the last block after its attention and the norm on row 0 only ([B, 1, d]).</summary>
    private Tensor Encode(Tensor x, string prefix, int depth, int heads, bool causal, bool firstRow)
    {
        long batch = x.shape[0];
        long t = x.shape[1];
        long d = x.shape[2];
        for (int l = 0; l < depth; l++)
        {
            string block = $"{prefix}.block{l}";
            Tensor qkv = Linear(LayerNorm(x, block + ".ln1"), block + ".attn.qkv").reshape(batch, t, 3, heads, d / heads).permute(2, 0, 3, 1, 4);
            Tensor attended = torch.nn.functional.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], null, 0.0, causal);
            Tensor rows = attended.transpose(1, 2).reshape(batch, t, d);
            if (firstRow && l == depth - 1)
            {
                x = x.narrow(1, 0, 1);
                rows = rows.narrow(1, 0, 1);
            }

            x = x.add(Linear(rows, block + ".attn.out"));
            Tensor hidden = Linear(LayerNorm(x, block + ".ln2"), block + ".mlp.fc1").gelu(global::TorchSharp.Modules.GELU.Approximate.tanh);
            x = x.add(Linear(hidden, block + ".mlp.fc2"));
        }

        return LayerNorm(x, prefix + ".norm");
    }

    private Tensor Pool(Tensor x, string prefix, PoolingKind pooling)
    {
        Tensor pooled = pooling switch
        {
            PoolingKind.GlobalAverage => x.mean(new long[] { 1 }),
            PoolingKind.FirstToken => x.select(1, 0),
            _ => throw new NotSupportedException($"pooling {pooling} is not in the probe's fused towers"),
        };
        return Linear(pooled, prefix + ".head");
    }

    /// <summary><c>x W + b</c> over the last dimension by one <c>addmm</c> on the rows.</summary>
    private Tensor Linear(Tensor x, string name)
    {
        Tensor weight = P(name + ".weight");
        long[] shape = (long[])x.shape.Clone();
        Tensor rows = torch.addmm(P(name + ".bias"), x.reshape(-1, shape[^1]), weight, 1f, 1f);
        shape[^1] = weight.shape[1];
        return rows.reshape(shape);
    }

    private Tensor LayerNorm(Tensor x, string name) =>
        torch.nn.functional.layer_norm(x, new[] { x.shape[^1] }, P(name + ".scale"), P(name + ".bias"), LayerNormEpsilon);

    private static Tensor Normalize(Tensor x) =>
        x.div(x.norm(1, keepdim: true).clamp_min(Aced.Core.StableMath.NormalizeEpsilon));

    private Tensor P(string managedName) => _p[managedName.Replace('.', '_')];
}
