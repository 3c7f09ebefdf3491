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

    /// <summary>
    /// Whether a token pooling (<see cref="PoolingKind.FirstToken"/>, <see cref="PoolingKind.LastToken"/>) runs the last
    /// block after its attention, and the final norm, on the pooled row of each example only
    /// (<see cref="EncodePoolAndProject"/>): on by default, off in tests that compare both forms.
    /// </summary>
    internal static bool PooledRowsOnly { get; set; } = true;

    /// <summary>
    /// The tower after its input embedding: the transformer stack, the final norm, pooling and the projection, from
    /// <c>x</c> [B, T, d] to [B, EmbeddingDimension]. A token pooling reads one row per example, so (with
    /// <see cref="PooledRowsOnly"/>) the last block runs its attention over every token, whose keys and values the
    /// pooled row attends to, and everything after it (the out projection, both residuals, LN2, the MLP and the final
    /// norm) on the pooled row only: the same function, about three quarters of the last block's dense products left
    /// out for the other T - 1 rows, forward and backward.
    /// </summary>
    /// <remarks>
    /// <paramref name="x"/> is [B, T, d]; <paramref name="pooling"/>'s last-token form reads each example's row at
    /// <paramref name="lastIndex"/> ([B] int64, the last non-padding position), or position T - 1 when it is null.
    /// </remarks>
    public static Tensor EncodePoolAndProject(Tensor x, Dictionary<string, Tensor> p, string prefix, int depth, int heads, bool causal, PoolingKind pooling, Tensor? lastIndex)
    {
        bool tokenPooling = pooling is PoolingKind.FirstToken or PoolingKind.LastToken;
        if (!PooledRowsOnly || !tokenPooling || depth == 0)
        {
            return PoolAndProject(Encode(x, p, prefix, depth, heads, causal, finalNorm: true), p, prefix, pooling, heads, lastIndex);
        }

        x = Encode(x, p, prefix, depth - 1, heads, causal, finalNorm: false);
        string block = $"{prefix}.block{depth - 1}";
        Tensor attended = Attend(x, p, block, heads, causal);
        Tensor row = PooledRow(x, pooling, lastIndex).add(Linear(PooledRow(attended, pooling, lastIndex), p, block + ".attn.out"));
        row = row.add(Mlp(row, p, block));
        return Linear(LayerNorm(row, p, prefix + ".norm"), p, prefix + ".head");
    }

    /// <summary>The stack's first <paramref name="depth"/> blocks over <c>x</c> [B, T, d], then the final norm if <paramref name="finalNorm"/>.</summary>
    private static Tensor Encode(Tensor x, Dictionary<string, Tensor> p, string prefix, int depth, int heads, bool causal, bool finalNorm)
    {
        for (int l = 0; l < depth; l++)
        {
            string block = $"{prefix}.block{l}";
            x = x.add(Linear(Attend(x, p, block, heads, causal), p, block + ".attn.out"));
            x = x.add(Mlp(x, p, block));
        }

        return finalNorm ? LayerNorm(x, p, prefix + ".norm") : x;
    }

    /// <summary>A block's multi-head self-attention over <c>LN1(x)</c>, before the out projection: [B, T, d].</summary>
    private static Tensor Attend(Tensor x, Dictionary<string, Tensor> p, string block, int heads, bool causal)
    {
        long batch = x.shape[0];
        long t = x.shape[1];
        long d = x.shape[2];
        long hd = d / heads;
        Tensor h = LayerNorm(x, p, block + ".ln1");
        Tensor qkv = Linear(h, p, block + ".attn.qkv");
        Tensor q = qkv.narrow(2, 0, d).reshape(batch, t, heads, hd).transpose(1, 2);
        Tensor k = qkv.narrow(2, d, d).reshape(batch, t, heads, hd).transpose(1, 2);
        Tensor v = qkv.narrow(2, 2 * d, d).reshape(batch, t, heads, hd).transpose(1, 2);
        Tensor scores = q.matmul(k.transpose(2, 3)).mul(1.0 / Math.Sqrt(hd));
        if (causal)
        {
            scores = scores.masked_fill(torch.ones(t, t, dtype: ScalarType.Bool, device: x.device).triu(1), double.NegativeInfinity);
        }

        return scores.softmax(-1).matmul(v).transpose(1, 2).reshape(batch, t, d);
    }

    /// <summary>A block's MLP branch <c>fc2(GELU(fc1(LN2(x))))</c>.</summary>
    private static Tensor Mlp(Tensor x, Dictionary<string, Tensor> p, string block) =>
        Linear(Gelu(Linear(LayerNorm(x, p, block + ".ln2"), p, block + ".mlp.fc1")), p, block + ".mlp.fc2");

    /// <summary>The row a token pooling reads from [B, T, d], as [B, d].</summary>
    private static Tensor PooledRow(Tensor x, PoolingKind pooling, Tensor? lastIndex)
    {
        long batch = x.shape[0];
        long t = x.shape[1];
        long d = x.shape[2];
        return pooling == PoolingKind.FirstToken ? x.select(1, 0)
            : lastIndex is null ? x.select(1, t - 1)
            : x.gather(1, lastIndex.reshape(batch, 1, 1).expand(batch, 1, d)).squeeze(1);
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
            case PoolingKind.LastToken:
                pooled = PooledRow(x, pooling, lastIndex);
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
