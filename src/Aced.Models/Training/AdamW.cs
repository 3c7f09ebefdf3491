using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Aced.Core;

namespace Aced.Models.Training;

/// <summary>Hyper-parameters of <see cref="AdamW"/> (defaults: the paper's Appendix E).</summary>
public sealed record AdamWOptions
{
    /// <summary>First-moment decay beta1 (0.9).</summary>
    public float Beta1 { get; init; } = 0.9f;

    /// <summary>Second-moment decay beta2 (0.95).</summary>
    public float Beta2 { get; init; } = 0.95f;

    /// <summary>Denominator epsilon (1e-8).</summary>
    public float Epsilon { get; init; } = 1e-8f;

    /// <summary>Decoupled weight decay (1e-4), multiplied by the schedule multiplier, not by the learning rate.</summary>
    public float WeightDecay { get; init; } = 1e-4f;

    /// <summary>Also decay layer-norm parameters, biases, embeddings and model scalars (default false: only <see cref="ParameterKind.Weight"/>).</summary>
    public bool DecayAllParameters { get; init; }

    /// <summary>Global gradient-norm clip (1.0); 0 or less disables clipping.</summary>
    public float MaxGradientNorm { get; init; } = 1f;

    /// <summary>Checks the ranges; returns this.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A beta outside [0, 1), a non-positive epsilon or a negative decay.</exception>
    public AdamWOptions Validated()
    {
        if (!(Beta1 >= 0f && Beta1 < 1f))
        {
            Guard.ThrowOutOfRange(nameof(Beta1), Beta1, "must lie in [0, 1)");
        }

        if (!(Beta2 >= 0f && Beta2 < 1f))
        {
            Guard.ThrowOutOfRange(nameof(Beta2), Beta2, "must lie in [0, 1)");
        }

        if (!(Epsilon > 0f) || !float.IsFinite(Epsilon))
        {
            Guard.ThrowOutOfRange(nameof(Epsilon), Epsilon, "must be positive and finite");
        }

        if (!(WeightDecay >= 0f) || !float.IsFinite(WeightDecay))
        {
            Guard.ThrowOutOfRange(nameof(WeightDecay), WeightDecay, "must be zero or positive and finite");
        }

        Guard.Finite(MaxGradientNorm, nameof(MaxGradientNorm));
        return this;
    }
}

/// <summary>
/// Adam with decoupled weight decay (Loshchilov and Hutter), as in big_vision: at step k (1-based),
/// <c>m = b1 m + (1-b1) g</c>, <c>v = b2 v + (1-b2) g^2</c>, <c>mhat = m/(1-b1^k)</c>, <c>vhat = v/(1-b2^k)</c>,
/// <c>p -= lr * mhat/(sqrt(vhat)+eps) + wd * s * p</c> where <c>lr = peak * s</c> and <c>s</c> is the schedule
/// multiplier; weight decay applies only to weight matrices unless <see cref="AdamWOptions.DecayAllParameters"/>.
/// Gradients are first clipped to a global L2 norm (<see cref="GradientClipping"/>). Updates run in a fixed order,
/// so results are bit-identical across runs and thread counts.
/// </summary>
public sealed class AdamW
{
    /// <summary>Elements per item of the parallel update (a multiple of the vector width).</summary>
    private const int ChunkElements = 1 << 15;

    /// <summary>Fewest parameter elements in all for which <see cref="Update"/> uses the worker pool.</summary>
    private const int ParallelElements = 1 << 17;

    private readonly Parameter[] _parameters;
    private readonly float[][] _m;
    private readonly float[][] _v;

    /// <summary>Per parameter, its gradient's squared norm of the current update (the parallel clip's partial sums).</summary>
    private readonly double[] _squares;

    /// <summary>Items of the parallel update: parameter index and first element of each chunk of at most <see cref="ChunkElements"/>.</summary>
    private readonly (int Parameter, int Start)[] _chunks;

    /// <summary>Parameter indices from the largest to the smallest (the clip's items, the largest claimed first).</summary>
    private readonly int[] _bySize;

    private readonly long _elements;

    /// <summary>Creates the optimizer with zero moments.</summary>
    /// <param name="parameters">Parameters to update (their order is the state order).</param>
    /// <param name="options">Hyper-parameters (defaults when null).</param>
    /// <exception cref="ArgumentException">Invalid options or an empty parameter list.</exception>
    public AdamW(IReadOnlyList<Parameter> parameters, AdamWOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        Guard.That(parameters.Count > 0, "is empty; pass the model's parameters", nameof(parameters));
        Options = (options ?? new AdamWOptions()).Validated();
        _parameters = new Parameter[parameters.Count];
        _m = new float[parameters.Count][];
        _v = new float[parameters.Count][];
        var chunks = new List<(int, int)>();
        for (int i = 0; i < parameters.Count; i++)
        {
            _parameters[i] = parameters[i];
            _m[i] = new float[parameters[i].Length];
            _v[i] = new float[parameters[i].Length];
            _elements += parameters[i].Length;
            for (int start = 0; start == 0 || start < parameters[i].Length; start += ChunkElements)
            {
                chunks.Add((i, start));
            }
        }

        _chunks = [.. chunks];
        _squares = new double[parameters.Count];
        _bySize = new int[parameters.Count];
        for (int i = 0; i < _bySize.Length; i++)
        {
            _bySize[i] = i;
        }

        Array.Sort(_bySize, (a, b) => _parameters[b].Length != _parameters[a].Length ? _parameters[b].Length.CompareTo(_parameters[a].Length) : a.CompareTo(b));
    }

    /// <summary>
    /// Whether <see cref="Update"/> runs its passes on the worker pool (step12; default on) when the parameters hold at
    /// least <see cref="ParallelElements"/> elements and the degree of parallelism is above 1: the gradients' squared
    /// norms one parameter per item (each summed in element order as <see cref="GradientClipping.ClipGlobalNorm"/>
    /// does, then added in parameter order), then the clip's scaling and the update in chunks of
    /// <see cref="ChunkElements"/> elements. Off: one thread. The same bits either way (every element's arithmetic
    /// and every sum's order are those of the serial form).
    /// </summary>
    internal static bool ParallelUpdate { get; set; } = true;

    /// <summary>Hyper-parameters.</summary>
    public AdamWOptions Options { get; }

    /// <summary>Number of completed steps.</summary>
    public long Step { get; private set; }

    /// <summary>Parameters in state order.</summary>
    public IReadOnlyList<Parameter> Parameters => _parameters;

    /// <summary>Global gradient norm measured by the last <see cref="Update"/> (before clipping).</summary>
    public double LastGradientNorm { get; private set; }

    /// <summary>First moment of parameter <paramref name="index"/> (checkpointing).</summary>
    public float[] FirstMoment(int index) => _m[index];

    /// <summary>Second moment of parameter <paramref name="index"/> (checkpointing).</summary>
    public float[] SecondMoment(int index) => _v[index];

    /// <summary>Sets the completed-step count (checkpoint restore).</summary>
    /// <exception cref="ArgumentOutOfRangeException">Negative step.</exception>
    public void RestoreStep(long step)
    {
        if (step < 0)
        {
            Guard.ThrowOutOfRange(nameof(step), step, "must be zero or greater");
        }

        Step = step;
    }

    /// <summary>
    /// Clips gradients, then applies one update with learning rate <c>schedule.Multiplier(Step) * peak</c>.
    /// Gradients are left clipped (not zeroed).
    /// </summary>
    /// <param name="schedule">Learning-rate schedule evaluated at the current step (0-based).</param>
    /// <returns>The learning rate used.</returns>
    /// <exception cref="InvalidOperationException">A gradient is NaN or infinite.</exception>
    public float Update(ILearningRateSchedule schedule)
    {
        ArgumentNullException.ThrowIfNull(schedule);
        float multiplier = schedule.Multiplier(Step);
        float lr = schedule.PeakLearningRate * multiplier;
        bool parallel = ParallelUpdate && AcedControl.MaxDegreeOfParallelism > 1 && _elements >= ParallelElements;
        float scale = 1f;
        if (parallel)
        {
            ParallelPartition.Run(_bySize.Length, new SquaresBody(this));
            double sum = 0;
            for (int i = 0; i < _squares.Length; i++)
            {
                sum += _squares[i];
            }

            LastGradientNorm = Math.Sqrt(sum);
            scale = GradientClipping.Scale(LastGradientNorm, Options.MaxGradientNorm);
        }
        else
        {
            LastGradientNorm = GradientClipping.ClipGlobalNorm(_parameters, Options.MaxGradientNorm);
        }

        if (!double.IsFinite(LastGradientNorm))
        {
            throw new InvalidOperationException($"The global gradient norm is {LastGradientNorm} at step {Step}; a NaN or infinite gradient reached the optimizer.");
        }

        long k = Step + 1;
        float b1 = Options.Beta1;
        float b2 = Options.Beta2;
        float c1 = 1f / (1f - MathF.Pow(b1, k));
        float c2 = 1f / (1f - MathF.Pow(b2, k));
        float eps = Options.Epsilon;
        if (parallel)
        {
            ParallelPartition.Run(_chunks.Length, new UpdateBody(this, new Coefficients(b1, b2, c1, c2, eps, lr, 0f), multiplier, scale));
        }
        else
        {
            for (int i = 0; i < _parameters.Length; i++)
            {
                UpdateParameter(i, 0, _parameters[i].Length, new Coefficients(b1, b2, c1, c2, eps, lr, WeightDecay(i, multiplier)));
            }
        }

        Step = k;
        return lr;
    }

    /// <summary>Parameter <paramref name="parameter"/>'s weight decay at schedule multiplier <paramref name="multiplier"/> (0 for the kinds that do not decay).</summary>
    private float WeightDecay(int parameter, float multiplier) =>
        (Options.DecayAllParameters || _parameters[parameter].Kind == ParameterKind.Weight) ? Options.WeightDecay * multiplier : 0f;

    /// <summary>Item p: the squared norm of the p-th largest parameter's gradient into <see cref="_squares"/>.</summary>
    private readonly struct SquaresBody(AdamW owner) : IPartitionBody
    {
        public void Execute(int partition)
        {
            int i = owner._bySize[partition];
            owner._squares[i] = GradientClipping.SquaredNorm(owner._parameters[i].Gradient);
        }
    }

    /// <summary>Item c: chunk c of the update, its gradient first scaled by the clip (when <c>scale</c> is not 1), with its parameter's weight decay (<see cref="WeightDecay"/>).</summary>
    private readonly struct UpdateBody(AdamW owner, Coefficients k, float multiplier, float scale) : IPartitionBody
    {
        public void Execute(int partition)
        {
            (int i, int start) = owner._chunks[partition];
            int count = Math.Min(ChunkElements, owner._parameters[i].Length - start);
            if (scale != 1f)
            {
                Span<float> g = owner._parameters[i].Gradient.AsSpan(start, count);
                System.Numerics.Tensors.TensorPrimitives.Multiply(g, scale, g);
            }

            owner.UpdateParameter(i, start, count, k with { WeightDecay = owner.WeightDecay(i, multiplier) });
        }
    }

    /// <summary>The per-step constants of the update.</summary>
    private readonly record struct Coefficients(float Beta1, float Beta2, float C1, float C2, float Epsilon, float LearningRate, float WeightDecay);

    /// <summary>
    /// m = b1 m + (1 - b1) g, v = b2 v + (1 - b2) g g, p -= lr (m c1) / (sqrt(v c2) + eps) + wd p for every element, in
    /// Vector256 lanes and a scalar tail with the same operations in the same order (no fused multiply-add), so every
    /// element gets the same bits whichever path runs it.
    /// </summary>
    private void UpdateParameter(int parameter, int start, int count, Coefficients k)
    {
        float[] value = _parameters[parameter].Value;
        float[] grad = _parameters[parameter].Gradient;
        float[] m = _m[parameter];
        float[] v = _v[parameter];
        int n = start + count;
        int j = start;
        if (Vector256.IsHardwareAccelerated)
        {
            ref float pr = ref MemoryMarshal.GetArrayDataReference(value);
            ref float gr = ref MemoryMarshal.GetArrayDataReference(grad);
            ref float mr = ref MemoryMarshal.GetArrayDataReference(m);
            ref float vr = ref MemoryMarshal.GetArrayDataReference(v);
            Vector256<float> b1 = Vector256.Create(k.Beta1);
            Vector256<float> b2 = Vector256.Create(k.Beta2);
            Vector256<float> ob1 = Vector256.Create(1f - k.Beta1);
            Vector256<float> ob2 = Vector256.Create(1f - k.Beta2);
            Vector256<float> c1 = Vector256.Create(k.C1);
            Vector256<float> c2 = Vector256.Create(k.C2);
            Vector256<float> eps = Vector256.Create(k.Epsilon);
            Vector256<float> lr = Vector256.Create(k.LearningRate);
            Vector256<float> wd = Vector256.Create(k.WeightDecay);
            for (; j + Vector256<float>.Count <= n; j += Vector256<float>.Count)
            {
                Vector256<float> g = Vector256.LoadUnsafe(ref gr, (nuint)j);
                Vector256<float> mj = (b1 * Vector256.LoadUnsafe(ref mr, (nuint)j)) + (ob1 * g);
                Vector256<float> vj = (b2 * Vector256.LoadUnsafe(ref vr, (nuint)j)) + (ob2 * g * g);
                mj.StoreUnsafe(ref mr, (nuint)j);
                vj.StoreUnsafe(ref vr, (nuint)j);
                Vector256<float> update = (mj * c1) / (Vector256.Sqrt(vj * c2) + eps);
                Vector256<float> p = Vector256.LoadUnsafe(ref pr, (nuint)j);
                (p - ((lr * update) + (wd * p))).StoreUnsafe(ref pr, (nuint)j);
            }
        }

        for (; j < n; j++)
        {
            float g = grad[j];
            float mj = (k.Beta1 * m[j]) + ((1f - k.Beta1) * g);
            float vj = (k.Beta2 * v[j]) + ((1f - k.Beta2) * g * g);
            m[j] = mj;
            v[j] = vj;
            float update = (mj * k.C1) / (MathF.Sqrt(vj * k.C2) + k.Epsilon);
            value[j] -= (k.LearningRate * update) + (k.WeightDecay * value[j]);
        }
    }
}

/// <summary>Global gradient-norm clipping.</summary>
public static class GradientClipping
{
    /// <summary>
    /// Computes <c>n = sqrt(sum_p ||g_p||^2)</c> (in double, in parameter order) and, when <c>n &gt; maxNorm &gt; 0</c>,
    /// scales every gradient by <c>maxNorm / n</c>. Returns n (NaN if any gradient is NaN; nothing is scaled then).
    /// </summary>
    /// <param name="parameters">Parameters whose gradients are clipped.</param>
    /// <param name="maxNorm">Maximum norm; 0 or less only measures.</param>
    public static double ClipGlobalNorm(IReadOnlyList<Parameter> parameters, float maxNorm)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        double sum = 0;
        for (int i = 0; i < parameters.Count; i++)
        {
            sum += SquaredNorm(parameters[i].Gradient);
        }

        double norm = Math.Sqrt(sum);
        float scale = Scale(norm, maxNorm);
        if (scale != 1f)
        {
            for (int i = 0; i < parameters.Count; i++)
            {
                System.Numerics.Tensors.TensorPrimitives.Multiply(parameters[i].Gradient, scale, parameters[i].Gradient);
            }
        }

        return norm;
    }

    /// <summary><c>sum_j g[j]^2</c> in double, in element order (one parameter's share of the global norm).</summary>
    internal static double SquaredNorm(float[] g)
    {
        double local = 0;
        for (int j = 0; j < g.Length; j++)
        {
            local += (double)g[j] * g[j];
        }

        return local;
    }

    /// <summary>The clip's factor for global norm <paramref name="norm"/>: <c>maxNorm / norm</c> when it clips, else 1.</summary>
    internal static float Scale(double norm, float maxNorm) =>
        maxNorm > 0f && norm > maxNorm && double.IsFinite(norm) ? (float)(maxNorm / norm) : 1f;
}
