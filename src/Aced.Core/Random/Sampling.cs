using System;

namespace Aced.Core;

/// <summary>
/// Sampling without replacement: Gumbel-top-k (a Plackett–Luce draw with probabilities proportional
/// to <c>exp(logit)</c>, done in log space so large logits never overflow), deterministic top-k, and
/// uniform sampling. All methods are allocation-free given the documented scratch.
/// </summary>
public static class Sampling
{
    /// <summary>
    /// Draws <paramref name="k"/> distinct indices of <paramref name="logits"/> as k sequential draws
    /// without replacement, each with probability proportional to <c>exp(logit)</c> among the remaining
    /// items, by taking the k largest <c>logit_i + Gumbel_i</c>. Indices are written to
    /// <paramref name="destination"/> in draw order (largest perturbed key first).
    /// Items with logit negative infinity are never drawn.
    /// </summary>
    /// <param name="logits">Unnormalised log-probabilities; NaN and positive infinity are rejected.</param>
    /// <param name="k">How many to draw; at most the number of items with a finite logit.</param>
    /// <param name="rng">The generator; advanced by exactly <c>logits.Length</c> Gumbel draws.</param>
    /// <param name="destination">Receives the k indices.</param>
    /// <param name="scratch">At least k floats of working memory.</param>
    /// <exception cref="ArgumentException">A logit is NaN or +Inf, k exceeds the drawable items, or a span is too short.</exception>
    public static void GumbelTopK(ReadOnlySpan<float> logits, int k, ref CounterRng rng, Span<int> destination, Span<float> scratch)
    {
        ValidateTopK(logits.Length, k, destination.Length, scratch.Length);
        var heap = new TopKHeap(destination.Slice(0, k), scratch.Slice(0, k));
        for (int i = 0; i < logits.Length; i++)
        {
            float logit = logits[i];
            float noise = rng.NextGumbel();
            if (float.IsNegativeInfinity(logit))
            {
                continue;
            }

            if (!float.IsFinite(logit))
            {
                Guard.ThrowArgument(nameof(logits), $"has a non-finite value ({logit}) at index {i}; scores must be finite (negative infinity excludes an item)");
            }

            heap.Offer(logit + noise, i);
        }

        if (heap.Count < k)
        {
            Guard.ThrowArgument(nameof(k), $"asks for {k} items but only {heap.Count} have a finite logit");
        }

        heap.SortDescending();
    }

    /// <summary>
    /// Writes the indices of the <paramref name="k"/> largest <paramref name="values"/> to
    /// <paramref name="destination"/>, largest first; ties go to the lower index. NaN is rejected;
    /// negative infinity is never chosen.
    /// </summary>
    /// <exception cref="ArgumentException">A value is NaN or +Inf, k exceeds the eligible items, or a span is too short.</exception>
    public static void TopK(ReadOnlySpan<float> values, int k, Span<int> destination, Span<float> scratch)
    {
        ValidateTopK(values.Length, k, destination.Length, scratch.Length);
        var heap = new TopKHeap(destination.Slice(0, k), scratch.Slice(0, k));
        for (int i = 0; i < values.Length; i++)
        {
            float v = values[i];
            if (float.IsNegativeInfinity(v))
            {
                continue;
            }

            if (!float.IsFinite(v))
            {
                Guard.ThrowArgument(nameof(values), $"has a non-finite value ({v}) at index {i}");
            }

            heap.Offer(v, i);
        }

        if (heap.Count < k)
        {
            Guard.ThrowArgument(nameof(k), $"asks for {k} items but only {heap.Count} are eligible");
        }

        heap.SortDescending();
    }

    /// <summary>
    /// Draws <paramref name="k"/> distinct indices uniformly from [0, <paramref name="n"/>) (every k-subset
    /// and order equally likely) with a partial Fisher–Yates shuffle, written in draw order.
    /// </summary>
    /// <param name="n">Population size.</param>
    /// <param name="k">Sample size, at most n.</param>
    /// <param name="rng">The generator.</param>
    /// <param name="destination">Receives the k indices.</param>
    /// <param name="scratch">At least n ints of working memory.</param>
    /// <exception cref="ArgumentException">k &gt; n or a span is too short.</exception>
    public static void UniformWithoutReplacement(int n, int k, ref CounterRng rng, Span<int> destination, Span<int> scratch)
    {
        Guard.NonNegative(n);
        Guard.NonNegative(k);
        if (k > n)
        {
            Guard.ThrowOutOfRange(nameof(k), k, $"must not exceed the population size {n}");
        }

        if (destination.Length < k || scratch.Length < n)
        {
            Guard.ThrowArgument(destination.Length < k ? nameof(destination) : nameof(scratch), $"is too short (need destination >= {k}, scratch >= {n})");
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
