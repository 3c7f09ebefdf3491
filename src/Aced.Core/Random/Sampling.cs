using System;
using System.Numerics.Tensors;

namespace Aced.Core;

/// <summary>
/// Sampling without replacement: Gumbel-top-k (a Plackett–Luce draw with probabilities proportional
/// to <c>exp(logit)</c>, done in log space so large logits never overflow), deterministic top-k, and
/// uniform sampling. All methods are allocation-free given the documented scratch.
/// </summary>
public static class Sampling
{
    // Gumbel variates are generated and transformed (vectorised logs) in chunks of this many doubles on the stack.
    private const int GumbelChunk = 256;

    /// <summary>
    /// Draws <paramref name="k"/> distinct indices of <paramref name="logits"/> as k sequential draws
    /// without replacement, each with probability proportional to <c>exp(logit)</c> among the remaining
    /// items (a Plackett–Luce sample), by taking the k largest keys <c>(logit_i - max_j logit_j) + G_i</c>
    /// with <c>G_i</c> independent standard Gumbel variates. The shift by the maximum and the double-precision
    /// key arithmetic mean logits of any finite magnitude or spread (e.g. 0 and 500, or ±1e30) never overflow.
    /// Indices are written to <paramref name="destination"/> in draw order (largest key first).
    /// Items with logit negative infinity are never drawn.
    /// </summary>
    /// <param name="logits">Unnormalised log-probabilities; NaN and positive infinity are rejected.</param>
    /// <param name="k">How many to draw; at most the number of items with a finite logit.</param>
    /// <param name="rng">
    /// The generator; advanced by exactly <c>logits.Length</c> doubles (one Gumbel variate per item, -Inf items
    /// included, so the stream position does not depend on the logits). Not advanced when an exception is thrown.
    /// </param>
    /// <param name="destination">Receives the k indices.</param>
    /// <param name="scratch">At least k floats of working memory (the kept keys).</param>
    /// <exception cref="ArgumentException">A logit is NaN or +Inf, k exceeds the drawable items, or a span is too short.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="k"/> is negative or exceeds <c>logits.Length</c>.</exception>
    public static void GumbelTopK(ReadOnlySpan<float> logits, int k, ref CounterRng rng, Span<int> destination, Span<float> scratch)
    {
        ValidateTopK(logits.Length, k, destination.Length, scratch.Length);
        if (logits.IsEmpty)
        {
            return;
        }

        float max = ValidateScores(logits, k, nameof(logits));
        var heap = new TopKHeap(destination.Slice(0, k), scratch.Slice(0, k));
        Span<double> gumbel = stackalloc double[GumbelChunk];
        for (int start = 0; start < logits.Length; start += GumbelChunk)
        {
            int count = Math.Min(GumbelChunk, logits.Length - start);
            Span<double> g = gumbel.Slice(0, count);
            rng.NextDoubles(g);

            // G = -log(-log(u)), u in (0, 1): finite, in (-3.6, 36.8).
            TensorPrimitives.Log(g, g);
            TensorPrimitives.Negate(g, g);
            TensorPrimitives.Log(g, g);
            if (k == 0)
            {
                continue;
            }

            ReadOnlySpan<float> chunk = logits.Slice(start, count);
            for (int j = 0; j < chunk.Length; j++)
            {
                float logit = chunk[j];
                if (float.IsNegativeInfinity(logit))
                {
                    continue;
                }

                // key = (logit - max) - log(-log u); g holds log(-log u).
                heap.Offer((float)(((double)logit - max) - g[j]), start + j);
            }
        }

        heap.SortDescending();
    }

    /// <summary>
    /// Writes the indices of the <paramref name="k"/> largest <paramref name="values"/> to
    /// <paramref name="destination"/>, largest first; ties go to the lower index. NaN and +Inf are rejected;
    /// negative infinity is never chosen.
    /// </summary>
    /// <param name="values">The scores.</param>
    /// <param name="k">How many to keep; at most the number of finite values.</param>
    /// <param name="destination">Receives the k indices.</param>
    /// <param name="scratch">At least k floats of working memory.</param>
    /// <exception cref="ArgumentException">A value is NaN or +Inf, k exceeds the eligible items, or a span is too short.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="k"/> is negative or exceeds <c>values.Length</c>.</exception>
    public static void TopK(ReadOnlySpan<float> values, int k, Span<int> destination, Span<float> scratch)
    {
        ValidateTopK(values.Length, k, destination.Length, scratch.Length);
        if (k == 0)
        {
            return;
        }

        ValidateScores(values, k, nameof(values));
        var heap = new TopKHeap(destination.Slice(0, k), scratch.Slice(0, k));
        for (int i = 0; i < values.Length; i++)
        {
            float v = values[i];
            if (!float.IsNegativeInfinity(v))
            {
                heap.Offer(v, i);
            }
        }

        heap.SortDescending();
    }

    /// <summary>
    /// Draws <paramref name="k"/> distinct indices uniformly from [0, <paramref name="n"/>) (every k-subset
    /// and order equally likely) with a partial Fisher–Yates shuffle, written in draw order.
    /// </summary>
    /// <param name="n">Population size.</param>
    /// <param name="k">Sample size, at most n.</param>
    /// <param name="rng">The generator; advanced by k bounded integers (Lemire's method, so occasionally a few more words).</param>
    /// <param name="destination">Receives the k indices.</param>
    /// <param name="scratch">At least n ints of working memory.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="n"/> or <paramref name="k"/> is negative, or k &gt; n.</exception>
    /// <exception cref="ArgumentException">A span is too short.</exception>
    public static void UniformWithoutReplacement(int n, int k, ref CounterRng rng, Span<int> destination, Span<int> scratch)
    {
        Guard.NonNegative(n);
        Guard.NonNegative(k);
        if (k > n)
        {
            Guard.ThrowOutOfRange(nameof(k), k, $"must not exceed the population size {n}");
        }

        if (destination.Length < k)
        {
            Guard.ThrowArgument(nameof(destination), $"has {destination.Length} elements but k = {k}");
        }

        if (scratch.Length < n)
        {
            Guard.ThrowArgument(nameof(scratch), $"has {scratch.Length} elements but the population size n = {n} is needed");
        }

        for (int i = 0; i < n; i++)
        {
            scratch[i] = i;
        }

        for (int i = 0; i < k; i++)
        {
            int j = i + rng.NextInt(n - i);
            (scratch[i], scratch[j]) = (scratch[j], scratch[i]);
            destination[i] = scratch[i];
        }
    }

    /// <summary>
    /// Rejects NaN and +Inf (naming the first offending index) and k larger than the number of finite scores;
    /// returns the maximum score (-Inf when every score is -Inf).
    /// </summary>
    private static float ValidateScores(ReadOnlySpan<float> scores, int k, string name)
    {
        float max = TensorPrimitives.Max(scores);
        if (float.IsNaN(max) || float.IsPositiveInfinity(max))
        {
            for (int i = 0; i < scores.Length; i++)
            {
                if (float.IsNaN(scores[i]) || float.IsPositiveInfinity(scores[i]))
                {
                    Guard.ThrowArgument(name, $"has a non-finite value ({scores[i]}) at index {i}; scores must be finite (negative infinity excludes an item)");
                }
            }
        }

        if (k > 0)
        {
            int eligible = CountFinite(scores);
            if (eligible < k)
            {
                Guard.ThrowArgument(nameof(k), $"asks for {k} items but only {eligible} of {scores.Length} have a finite score (the rest are negative infinity); lower k or unmask more items");
            }
        }

        return max;
    }

    private static int CountFinite(ReadOnlySpan<float> scores)
    {
        int count = 0;
        for (int i = 0; i < scores.Length; i++)
        {
            if (!float.IsNegativeInfinity(scores[i]))
            {
                count++;
            }
        }

        return count;
    }

    private static void ValidateTopK(int n, int k, int destinationLength, int scratchLength)
    {
        Guard.NonNegative(k);
        if (k > n)
        {
            Guard.ThrowOutOfRange(nameof(k), k, $"must not exceed the number of items {n}");
        }

        if (destinationLength < k)
        {
            Guard.ThrowArgument("destination", $"has {destinationLength} elements but k = {k}");
        }

        if (scratchLength < k)
        {
            Guard.ThrowArgument("scratch", $"has {scratchLength} elements but k = {k}");
        }
    }

    /// <summary>A bounded min-heap of (key, index) keeping the k largest keys; ties keep the lower index.</summary>
    private ref struct TopKHeap
    {
        private readonly Span<int> _index;
        private readonly Span<float> _key;

        public TopKHeap(Span<int> index, Span<float> key)
        {
            _index = index;
            _key = key;
            Count = 0;
        }

        public int Count { get; private set; }

        public void Offer(float key, int index)
        {
            int capacity = _key.Length;
            if (capacity == 0)
            {
                return;
            }

            if (Count < capacity)
            {
                int i = Count++;
                _key[i] = key;
                _index[i] = index;
                SiftUp(i);
                return;
            }

            // Replace the root (the worst kept item) only if the newcomer is strictly better.
            if (Worse(_key[0], _index[0], key, index))
            {
                _key[0] = key;
                _index[0] = index;
                SiftDown(0, Count);
            }
        }

        /// <summary>Heap-sorts in place so that slot 0 holds the best item.</summary>
        public void SortDescending()
        {
            for (int end = Count - 1; end > 0; end--)
            {
                (_key[0], _key[end]) = (_key[end], _key[0]);
                (_index[0], _index[end]) = (_index[end], _index[0]);
                SiftDown(0, end);
            }
        }

        // (ka, ia) ranks below (kb, ib): smaller key, or equal key and larger index.
        private static bool Worse(float ka, int ia, float kb, int ib) => ka < kb || (ka == kb && ia > ib);

        private void SiftUp(int i)
        {
            while (i > 0)
            {
                int parent = (i - 1) >> 1;
                if (!Worse(_key[i], _index[i], _key[parent], _index[parent]))
                {
                    break;
                }

                Swap(i, parent);
                i = parent;
            }
        }

        private void SiftDown(int i, int count)
        {
            while (true)
            {
                int left = (2 * i) + 1;
                if (left >= count)
                {
                    return;
                }

                int worst = left;
                int right = left + 1;
                if (right < count && Worse(_key[right], _index[right], _key[left], _index[left]))
                {
                    worst = right;
                }

                if (!Worse(_key[worst], _index[worst], _key[i], _index[i]))
                {
                    return;
                }

                Swap(i, worst);
                i = worst;
            }
        }

        private void Swap(int a, int b)
        {
            (_key[a], _key[b]) = (_key[b], _key[a]);
            (_index[a], _index[b]) = (_index[b], _index[a]);
        }
    }
}
