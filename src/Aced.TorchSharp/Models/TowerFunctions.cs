using System;
using System.Collections.Generic;
using Aced.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Aced.TorchSharp.Models;

/// <summary>
/// The layers of Aced.Models' towers as torch ops, with the same layout and formulas: weights stored input-major
/// (<c>y = x W + b</c>), pre-LN blocks <c>u = x + Attn(LN1(x))</c>, <c>x' = u + MLP(LN2(u))</c>, layer norm with
/// biased variance and eps 1e-6, GELU in its tanh form, attention scaled by <c>1/sqrt(head width)</c>, final norm,
/// pooling (GAP, first, last, MAP with a learned probe and no extra MLP) and a linear projection.
/// </summary>
internal static class TowerFunctions
{
    private const double LayerNormEpsilon = 1e-6;
    private const double GeluC = 0.7978845608028654;
    private const double GeluA = 0.044715;

    /// <summary>The parameter name inside a TorchSharp module: Aced's name with '.' replaced by '_' (torch forbids dots).</summary>
    public static string LocalName(string managedName) => managedName.Replace('.', '_');

    /// <summary>Creates torch parameters with the values, names and shapes of managed parameters (float32, CPU).</summary>
    public static void Register(torch.nn.Module module, IReadOnlyList<Aced.Models.Parameter> parameters, List<string> managedNames)
    {
        foreach (Aced.Models.Parameter p in parameters)
        {
            long[] shape = new long[p.Shape.Length];
            for (int i = 0; i < shape.Length; i++)
            {
                shape[i] = p.Shape[i];
            }

            Tensor value = torch.tensor(p.Value, shape);
            module.register_parameter(LocalName(p.Name), new global::TorchSharp.Modules.Parameter(value, requires_grad: true));
            managedNames.Add(p.Name);
        }
    }

    /// <summary>The module's own parameters by local name (looked up at each forward, so <c>to(device)</c> is honoured).</summary>
    public static Dictionary<string, Tensor> Lookup(torch.nn.Module module)
    {
        var map = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach ((string name, global::TorchSharp.Modules.Parameter parameter) in module.named_parameters(recurse: false))
        {
            map[name] = parameter;
        }

        return map;
    }

    public static Tensor Get(Dictionary<string, Tensor> p, string managedName)
    {
        if (!p.TryGetValue(LocalName(managedName), out Tensor? t))
        {
            throw new InvalidOperationException($"parameter '{managedName}' is missing from the module");
        }

        return t;
    }

    public static Tensor Linear(Tensor x, Dictionary<string, Tensor> p, string name) =>
        x.matmul(Get(p, name + ".weight")).add(Get(p, name + ".bias"));

    public static Tensor LayerNorm(Tensor x, Dictionary<string, Tensor> p, string name)
    {
        long d = x.shape[^1];
        return torch.nn.functional.layer_norm(x, new[] { d }, Get(p, name + ".scale"), Get(p, name + ".bias"), LayerNormEpsilon);
    }

    /// <summary>GELU, tanh form: <c>0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))</c>.</summary>
    public static Tensor Gelu(Tensor x)
    {
        Tensor inner = x.add(x.pow(3).mul(GeluA)).mul(GeluC);
        return x.mul(0.5).mul(inner.tanh().add(1.0));
    }

    /// <summary>The transformer stack and the final norm over <c>x</c> [B, T, d].</summary>
    public static Tensor Encode(Tensor x, Dictionary<string, Tensor> p, string prefix, int depth, int heads, bool causal)
    {
        long batch = x.shape[0];
        long t = x.shape[1];
        long d = x.shape[2];
        long hd = d / heads;
        double scale = 1.0 / Math.Sqrt(hd);
        Tensor? mask = causal ? torch.ones(t, t, dtype: ScalarType.Bool, device: x.device).triu(1) : null;
        for (int l = 0; l < depth; l++)
        {
            string block = $"{prefix}.block{l}";
            Tensor h = LayerNorm(x, p, block + ".ln1");
            Tensor qkv = Linear(h, p, block + ".attn.qkv");
            Tensor q = qkv.narrow(2, 0, d).reshape(batch, t, heads, hd).transpose(1, 2);
            Tensor k = qkv.narrow(2, d, d).reshape(batch, t, heads, hd).transpose(1, 2);
            Tensor v = qkv.narrow(2, 2 * d, d).reshape(batch, t, heads, hd).transpose(1, 2);
            Tensor scores = q.matmul(k.transpose(2, 3)).mul(scale);
            if (mask is not null)
            {
                scores = scores.masked_fill(mask, double.NegativeInfinity);
            }

            Tensor attended = scores.softmax(-1).matmul(v).transpose(1, 2).reshape(batch, t, d);
            x = x.add(Linear(attended, p, block + ".attn.out"));
            Tensor h2 = LayerNorm(x, p, block + ".ln2");
            x = x.add(Linear(Gelu(Linear(h2, p, block + ".mlp.fc1")), p, block + ".mlp.fc2"));
        }

        return LayerNorm(x, p, prefix + ".norm");
    }

    /// <summary>Pools [B, T, d] to [B, d] and projects to the embedding width.</summary>
    public static Tensor PoolAndProject(Tensor x, Dictionary<string, Tensor> p, string prefix, PoolingKind pooling, int heads, Tensor? lastIndex)
    {
        long batch = x.shape[0];
        long t = x.shape[1];
        long d = x.shape[2];
        Tensor pooled;
        switch (pooling)
        {
            case PoolingKind.GlobalAverage:
                pooled = x.mean(new long[] { 1 });
                break;
            case PoolingKind.FirstToken:
                pooled = x.select(1, 0);
                break;
            case PoolingKind.LastToken:
                pooled = lastIndex is null
                    ? x.select(1, t - 1)
                    : x.gather(1, lastIndex.reshape(batch, 1, 1).expand(batch, 1, d)).squeeze(1);
                break;
            default:
            {
                long hd = d / heads;
                Tensor kv = Linear(x, p, prefix + ".map.kv");
                Tensor k = kv.narrow(2, 0, d).reshape(batch, t, heads, hd);
                Tensor v = kv.narrow(2, d, d).reshape(batch, t, heads, hd);
                Tensor probe = Get(p, prefix + ".map.probe").reshape(1, 1, heads, hd);
                Tensor weights = k.mul(probe).sum(3).mul(1.0 / Math.Sqrt(hd)).softmax(1);
                Tensor attended = weights.unsqueeze(3).mul(v).sum(1).reshape(batch, d);
                pooled = Linear(attended, p, prefix + ".map.out");
                break;
            }
        }

        return Linear(pooled, p, prefix + ".head");
    }
}
