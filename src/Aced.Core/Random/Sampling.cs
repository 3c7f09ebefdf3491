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
        OfferGumbelKeys(logits, 0, logits.Length, k, max, ref rng, ref heap);
        heap.SortDescending();
    }

    /// <summary>
    /// Whether <see cref="GumbelTopKInHalves"/>
    /// draws the two halves of the items on two threads (default true; the same indices in the same order and the same
    /// generator state either way): the switch of a same-process A/B measurement.
    /// </summary>
    internal static bool ParallelGumbel { get; set; } = true;

    /// <summary>
    /// <see cref="GumbelTopK(ReadOnlySpan{float}, int, ref CounterRng, Span{int}, Span{float})"/> (the same indices in
    /// the same order, the generator left in the same state), with the items' two halves drawn on two threads of
    /// <see cref="ParallelPartition"/> when <see cref="AcedControl.MaxDegreeOfParallelism"/> allows and there are at
    /// least two chunks of variates: the generator is counter-based, so the second half's variates are those at its
    /// offset in the stream, and the halves split at a chunk boundary, so every variate goes through the same vector
    /// logarithms. Each half keeps its own top k; the second's are then offered to the first's, and the kept items
    /// sorted: the ranking (key, then lower index) is a strict total order, so the k kept items and their order do not
    /// depend on the order of the offers.
    /// </summary>
    /// <param name="logits">As for the serial overload.</param>
    /// <param name="k">As for the serial overload.</param>
    /// <param name="rng">As for the serial overload.</param>
    /// <param name="destination">As for the serial overload.</param>
    /// <param name="scratch">As for the serial overload.</param>
    /// <param name="halfIndices">At least k ints of working memory (the second half's kept items).</param>
    /// <param name="halfKeys">At least k floats of working memory (the second half's kept keys).</param>
    internal static unsafe void GumbelTopKInHalves(ReadOnlySpan<float> logits, int k, ref CounterRng rng, Span<int> destination, Span<float> scratch, Span<int> halfIndices, Span<float> halfKeys)
    {
        int chunks = (logits.Length + GumbelChunk - 1) / GumbelChunk;
        if (!ParallelGumbel || k == 0 || chunks < 2 || AcedControl.MaxDegreeOfParallelism < 2)
        {
            GumbelTopK(logits, k, ref rng, destination, scratch);
            return;
        }

        ValidateTopK(logits.Length, k, destination.Length, scratch.Length);
        ValidateTopK(logits.Length, k, halfIndices.Length, halfKeys.Length);
        float max = ValidateScores(logits, k, nameof(logits));
        int split = chunks / 2 * GumbelChunk;
        int* counts = stackalloc int[2];
        CounterRng* generators = stackalloc CounterRng[2];
        generators[0] = rng;
        generators[1] = rng.AheadByDoubles(split);
        fixed (float* pLogits = logits, pKeys = scratch, pHalfKeys = halfKeys)
        fixed (int* pIndices = destination, pHalfIndices = halfIndices)
        {
            var halves = new GumbelHalves(pLogits, logits.Length, split, k, max, generators, counts, pIndices, pKeys, pHalfIndices, pHalfKeys);
            ParallelPartition.Run(2, halves);
        }

        rng = generators[1];
        var heap = new TopKHeap(destination.Slice(0, k), scratch.Slice(0, k), counts[0]);
        for (int i = 0; i < counts[1]; i++)
        {
            heap.Offer(halfKeys[i], halfIndices[i]);
        }

        heap.SortDescending();
    }

    /// <summary>
    /// Offers the Gumbel keys of items [<paramref name="start"/>, <paramref name="end"/>) to <paramref name="heap"/>,
    /// drawing one variate per item from <paramref name="rng"/> in chunks of <see cref="GumbelChunk"/> from
    /// <paramref name="start"/> (a multiple of it, so a split run draws and transforms every variate as the whole run does).
    /// </summary>
    private static void OfferGumbelKeys(ReadOnlySpan<float> logits, int start, int end, int k, float max, ref CounterRng rng, ref TopKHeap heap)
    {
        Span<double> gumbel = stackalloc double[GumbelChunk];
        for (; start < end; start += GumbelChunk)
        {
            int count = Math.Min(GumbelChunk, end - start);
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
    }

    /// <summary>
    /// Writes the indices of the <paramref name="k"/> largest <paramref name="values"/> to
    /// <paramref name="destination"/>, largest first; ties go to the lower index (-0 and +0 tie). NaN and +Inf are
    /// rejected (also when k = 0); negative infinity is never chosen.
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

        if (values.IsEmpty)
        {
            return;
        }

        // Validated even for k = 0, like GumbelTopK: NaN in the scores is a caller bug whatever k is.
        ValidateScores(values, k, nameof(values));
        if (k == 0)
        {
            return;
        }

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

        /// <summary>A heap whose first <paramref name="count"/> items (a heap left by <see cref="Offer"/>) are already in place.</summary>
        public TopKHeap(Span<int> index, Span<float> key, int count)
        {
            _index = index;
            _key = key;
            Count = count;
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

    /// <summary>The two halves of a parallel <see cref="GumbelTopKInHalves"/>: half h draws with <c>generators[h]</c> into its own heap and leaves its count in <c>counts[h]</c>.</summary>
    private readonly unsafe struct GumbelHalves : IPartitionBody
    {
        private readonly float* _logits;
        private readonly int _length;
        private readonly int _split;
        private readonly int _k;
        private readonly float _max;
        private readonly CounterRng* _generators;
        private readonly int* _counts;
        private readonly int* _indices;
        private readonly float* _keys;
        private readonly int* _halfIndices;
        private readonly float* _halfKeys;

        public GumbelHalves(float* logits, int length, int split, int k, float max, CounterRng* generators, int* counts, int* indices, float* keys, int* halfIndices, float* halfKeys)
        {
            _logits = logits;
            _length = length;
            _split = split;
            _k = k;
            _max = max;
            _generators = generators;
            _counts = counts;
            _indices = indices;
            _keys = keys;
            _halfIndices = halfIndices;
            _halfKeys = halfKeys;
        }

        public void Execute(int partition)
        {
            var heap = partition == 0
                ? new TopKHeap(new Span<int>(_indices, _k), new Span<float>(_keys, _k))
                : new TopKHeap(new Span<int>(_halfIndices, _k), new Span<float>(_halfKeys, _k));
            int start = partition == 0 ? 0 : _split;
            int end = partition == 0 ? _split : _length;
            OfferGumbelKeys(new ReadOnlySpan<float>(_logits, _length), start, end, _k, _max, ref _generators[partition], ref heap);
            _counts[partition] = heap.Count;
        }
    }
}
