using System;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using System.Threading.Tasks;

namespace Aced.Core;

/// <summary>
/// A counter-based random number generator: Philox4x32-10 (Salmon et al., SC'11, "Parallel random
/// numbers: as easy as 1, 2, 3"), keyed by a 64-bit seed, with a 64-bit stream id and a 64-bit block
/// counter. Block <c>n</c> of a stream is <c>Philox(counter = (n_lo, n_hi, stream_lo, stream_hi),
/// key = (seed_lo, seed_hi))</c> and yields four 32-bit words, so the n-th number of a stream depends
/// only on (seed, stream, n): work split across threads draws identical numbers whatever the thread
/// count when each fixed work item uses its own stream (see <see cref="Fork"/>) or its own block range
/// (see <see cref="FillUniform"/> and <see cref="FillNormal"/>). The state is four integers
/// (<see cref="State"/>), so it can be checkpointed and restored exactly.
/// </summary>
/// <remarks>
/// <see cref="CounterRng"/> is a mutable struct: pass it by <c>ref</c> (a copy continues independently
/// from the same position and therefore repeats the same numbers).
/// </remarks>
public struct CounterRng
{
    private const uint M0 = 0xD2511F53;
    private const uint M1 = 0xCD9E8D57;
    private const uint W0 = 0x9E3779B9;
    private const uint W1 = 0xBB67AE85;

    // Elements per parallel work item of FillUniform/FillNormal; fixed so results never depend on the thread count.
    private const int FillChunk = 1 << 15;

    // Philox blocks generated per bulk step (on the stack: 4 words each).
    private const int BulkBlocks = 64;

    private readonly ulong _seed;
    private readonly ulong _stream;
    private ulong _block;
    private int _index;
    private uint _r0;
    private uint _r1;
    private uint _r2;
    private uint _r3;

    /// <summary>Creates a generator at the start of stream <paramref name="stream"/> of seed <paramref name="seed"/>.</summary>
    public CounterRng(ulong seed, ulong stream = 0)
    {
        _seed = seed;
        _stream = stream;
        _block = 0;
        _index = 4;
        _r0 = _r1 = _r2 = _r3 = 0;
    }

    /// <summary>Restores a generator from a saved <see cref="State"/>; it continues bit-identically.</summary>
    /// <exception cref="ArgumentOutOfRangeException">
    /// The state's index is outside [0, 4], or it claims a partly consumed block (index below 4) before block 0.
    /// </exception>
    public CounterRng(RngState state)
    {
        if ((uint)state.Index > 4u)
        {
            Guard.ThrowOutOfRange(nameof(state), state.Index, "has an Index outside [0, 4]; pass a value read from CounterRng.State");
        }

        if (state.Index < 4 && state.Block == 0)
        {
            Guard.ThrowOutOfRange(nameof(state), state.Block, "has Block 0 with a partly consumed block (Index < 4); pass a value read from CounterRng.State");
        }

        _seed = state.Seed;
        _stream = state.Stream;
        _block = state.Block;
        _index = 4;
        _r0 = _r1 = _r2 = _r3 = 0;
        if (state.Index < 4)
        {
            // Regenerate the partly consumed block (the one before Block), then skip its used words.
            _block = state.Block - 1;
            Refill();
            _index = state.Index;
        }
    }

    /// <summary>The seed.</summary>
    public readonly ulong Seed => _seed;

    /// <summary>The stream id.</summary>
    public readonly ulong Stream => _stream;

    /// <summary>The exact position of the generator, for checkpoints.</summary>
    public readonly RngState State => new(_seed, _stream, _block, _index);

    /// <summary>
    /// A generator with the same seed at the start of stream <paramref name="stream"/>. It does not depend on
    /// this generator's position, and distinct streams never share a Philox block.
    /// </summary>
    public readonly CounterRng Fork(ulong stream) => new(_seed, stream);

    /// <summary>
    /// A generator at this one's position plus <paramref name="count"/> doubles (<see cref="NextDouble"/>, two words each):
    /// it continues exactly as this one would after drawing them.
    /// </summary>
    internal readonly CounterRng AheadByDoubles(int count)
    {
        Guard.NonNegative(count);
        ulong position = (_block * 4) + (ulong)_index - 4 + (2 * (ulong)count);
        ulong block = (position + 3) / 4;
        int index = (int)(position % 4);
        return new CounterRng(new RngState(_seed, _stream, block, index == 0 ? 4 : index));
    }

    /// <summary>The next uniformly distributed 32-bit integer.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public uint NextUInt32()
    {
        if (_index >= 4)
        {
            Refill();
        }

        int i = _index++;
        return i switch
        {
            0 => _r0,
            1 => _r1,
            2 => _r2,
            _ => _r3,
        };
    }

    /// <summary>The next uniformly distributed 64-bit integer (two 32-bit words, the first one high).</summary>
    public ulong NextUInt64()
    {
        ulong high = NextUInt32();
        return (high << 32) | NextUInt32();
    }

    /// <summary>
    /// A uniform float in the open interval (0, 1): <c>(j + 0.5) / 2^23</c> for a uniform 23-bit <c>j</c>,
    /// so never 0 and never 1 (logs are finite). Uses one 32-bit word.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float NextFloat() => WordToFloat(NextUInt32());

    /// <summary>
    /// A uniform double in the open interval (0, 1): <c>(j + 0.5) / 2^52</c> for a uniform 52-bit <c>j</c>,
    /// so never 0 and never 1. Uses two 32-bit words.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public double NextDouble() => WordsToDouble(NextUInt64());

    /// <summary>A uniform integer in [0, <paramref name="maxExclusive"/>), without modulo bias (Lemire's multiply-and-reject method).</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxExclusive"/> is not positive.</exception>
    public int NextInt(int maxExclusive)
    {
        Guard.Positive(maxExclusive);
        uint range = (uint)maxExclusive;
        ulong product = (ulong)NextUInt32() * range;
        uint low = (uint)product;
        if (low < range)
        {
            uint threshold = (0u - range) % range;
            while (low < threshold)
            {
                product = (ulong)NextUInt32() * range;
                low = (uint)product;
            }
        }

        return (int)(product >> 32);
    }

    /// <summary>
    /// A standard normal variate: Box–Muller in double precision, <c>sqrt(-2 ln u1) cos(2 pi u2)</c>, one
    /// variate per call (four 32-bit words), always finite (|z| &lt; 8.6).
    /// </summary>
    public float NextNormal()
    {
        double u1 = NextDouble();
        double u2 = NextDouble();
        return (float)(Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2));
    }

    /// <summary>A standard Gumbel variate <c>-ln(-ln u)</c> for a uniform double <c>u</c> in (0, 1), always finite (two 32-bit words).</summary>
    public float NextGumbel() => (float)-Math.Log(-Math.Log(NextDouble()));

    /// <summary>
    /// Writes the next <c>destination.Length</c> values of <see cref="NextDouble"/> (bit-identical to calling it that
    /// many times, and leaving the same state), generating whole Philox blocks eight at a time with SIMD when the
    /// generator sits on a double boundary.
    /// </summary>
    internal void NextDoubles(Span<double> destination)
    {
        int i = 0;
        if ((_index & 1) != 0)
        {
            // An odd number of words of the current block was consumed: doubles straddle blocks, take the plain path.
            for (; i < destination.Length; i++)
            {
                destination[i] = NextDouble();
            }

            return;
        }

        while (i < destination.Length && _index < 4)
        {
            destination[i++] = NextDouble();
        }

        Span<uint> words = stackalloc uint[4 * BulkBlocks];
        while (destination.Length - i >= 2)
        {
            int blocks = Math.Min(BulkBlocks, (destination.Length - i) / 2);
            Span<uint> chunk = words.Slice(0, 4 * blocks);
            PhiloxBlocks(_seed, _stream, _block, chunk);
            _block += (ulong)blocks;
            for (int w = 0; w < chunk.Length; w += 2)
            {
                destination[i++] = WordsToDouble(((ulong)chunk[w] << 32) | chunk[w + 1]);
            }
        }

        if (i < destination.Length)
        {
            destination[i] = NextDouble();
        }
    }

    /// <summary>
    /// Fills <paramref name="destination"/> with elements <c>[startIndex, startIndex + destination.Length)</c>
    /// of the uniform (0, 1) sequence of (<paramref name="seed"/>, <paramref name="stream"/>): element <c>i</c>
    /// is word <c>i mod 4</c> of Philox block <c>i / 4</c>, mapped as in <see cref="NextFloat"/>. Because every
    /// element depends only on its index, any split of the work (chunks, offsets, threads) gives identical
    /// numbers; large fills run in parallel over fixed chunks, up to <paramref name="maxDegreeOfParallelism"/> threads.
    /// </summary>
    /// <param name="seed">The key.</param>
    /// <param name="stream">The stream id (use a distinct stream per tensor).</param>
    /// <param name="destination">Receives the numbers.</param>
    /// <param name="startIndex">Index of the first element in the logical sequence.</param>
    /// <param name="maxDegreeOfParallelism">Upper bound on worker threads (1 = this thread only); does not change the result.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="startIndex"/> is negative or <paramref name="maxDegreeOfParallelism"/> is not positive.</exception>
    public static void FillUniform(ulong seed, ulong stream, Span<float> destination, long startIndex = 0, int maxDegreeOfParallelism = 1)
    {
        Guard.NonNegative(startIndex);
        Guard.Positive(maxDegreeOfParallelism);
        Fill(seed, stream, destination, startIndex, maxDegreeOfParallelism, normal: false);
    }

    /// <summary>
    /// Fills <paramref name="destination"/> with elements <c>[startIndex, startIndex + destination.Length)</c>
    /// of the standard normal sequence of (<paramref name="seed"/>, <paramref name="stream"/>): elements
    /// <c>2m</c> and <c>2m + 1</c> are the Box–Muller pair <c>r cos(2 pi u2)</c>, <c>r sin(2 pi u2)</c> with
    /// <c>r = sqrt(-2 ln u1)</c> and <c>(u1, u2)</c> the two doubles of Philox block <c>m</c>. Any split of the
    /// work gives identical numbers (see <see cref="FillUniform"/>), so model initialisation is reproducible
    /// whatever the thread count. Multiply by a standard deviation afterwards (e.g. with
    /// <c>TensorPrimitives.Multiply</c>) for other scales.
    /// </summary>
    /// <param name="seed">The key.</param>
    /// <param name="stream">The stream id (use a distinct stream per tensor).</param>
    /// <param name="destination">Receives the numbers.</param>
    /// <param name="startIndex">Index of the first element in the logical sequence.</param>
    /// <param name="maxDegreeOfParallelism">Upper bound on worker threads (1 = this thread only); does not change the result.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="startIndex"/> is negative or <paramref name="maxDegreeOfParallelism"/> is not positive.</exception>
    public static void FillNormal(ulong seed, ulong stream, Span<float> destination, long startIndex = 0, int maxDegreeOfParallelism = 1)
    {
        Guard.NonNegative(startIndex);
        Guard.Positive(maxDegreeOfParallelism);
        Fill(seed, stream, destination, startIndex, maxDegreeOfParallelism, normal: true);
    }

    /// <summary>
    /// The Philox4x32-10 block function: ten rounds of the Philox S-box on the counter <c>(c0, c1, c2, c3)</c> and key <c>(k0, k1)</c> with the
    /// Weyl key schedule, exactly as Random123's <c>philox4x32_R(10, ctr, key)</c>.
    /// </summary>
    internal static (uint X0, uint X1, uint X2, uint X3) Philox4x32x10(uint c0, uint c1, uint c2, uint c3, uint k0, uint k1)
    {
        for (int round = 0; round < 10; round++)
        {
            ulong p0 = (ulong)M0 * c0;
            ulong p1 = (ulong)M1 * c2;
            uint n0 = (uint)(p1 >> 32) ^ c1 ^ k0;
            uint n1 = (uint)p1;
            uint n2 = (uint)(p0 >> 32) ^ c3 ^ k1;
            uint n3 = (uint)p0;
            c0 = n0;
            c1 = n1;
            c2 = n2;
            c3 = n3;
            k0 += W0;
            k1 += W1;
        }

        return (c0, c1, c2, c3);
    }

    /// <summary>
    /// Philox blocks <c>firstBlock, firstBlock + 1, ...</c> of (<paramref name="seed"/>, <paramref name="stream"/>):
    /// block <c>firstBlock + b</c> goes to <c>words[4b .. 4b + 3]</c>. <c>words.Length</c> must be a multiple of 4.
    /// Eight (AVX-512) or four (AVX2) blocks run side by side in 64-bit lanes with a 32x32-&gt;64-bit multiply;
    /// results are bit-identical to <see cref="Philox4x32x10"/>.
    /// </summary>
    internal static void PhiloxBlocks(ulong seed, ulong stream, ulong firstBlock, Span<uint> words)
    {
        int blocks = words.Length / 4;
        int b = 0;
        uint k0Start = (uint)seed;
        uint k1Start = (uint)(seed >> 32);
        if (Avx512F.IsSupported && blocks >= 8)
        {
            Span<ulong> lanes = stackalloc ulong[32];
            Vector512<ulong> low = Vector512.Create(0xFFFFFFFFUL);
            Vector512<uint> m0 = Vector512.Create((ulong)M0).AsUInt32();
            Vector512<uint> m1 = Vector512.Create((ulong)M1).AsUInt32();
            Vector512<ulong> laneOffsets = Vector512.Create(0UL, 1, 2, 3, 4, 5, 6, 7);
            for (; b + 8 <= blocks; b += 8)
            {
                Vector512<ulong> counter = Vector512.Create(firstBlock + (ulong)b) + laneOffsets;
                Vector512<ulong> c0 = counter & low;
                Vector512<ulong> c1 = counter >>> 32;
                Vector512<ulong> c2 = Vector512.Create((ulong)(uint)stream);
                Vector512<ulong> c3 = Vector512.Create(stream >> 32);
                uint k0 = k0Start;
                uint k1 = k1Start;
                for (int round = 0; round < 10; round++)
                {
                    Vector512<ulong> p0 = Avx512F.Multiply(c0.AsUInt32(), m0);
                    Vector512<ulong> p1 = Avx512F.Multiply(c2.AsUInt32(), m1);
                    c0 = (p1 >>> 32) ^ c1 ^ Vector512.Create((ulong)k0);
                    c1 = p1 & low;
                    c2 = (p0 >>> 32) ^ c3 ^ Vector512.Create((ulong)k1);
                    c3 = p0 & low;
                    k0 += W0;
                    k1 += W1;
                }

                c0.StoreUnsafe(ref lanes[0]);
                c1.StoreUnsafe(ref lanes[8]);
                c2.StoreUnsafe(ref lanes[16]);
                c3.StoreUnsafe(ref lanes[24]);
                Interleave(lanes, words.Slice(4 * b, 32), 8);
            }
        }

        if (Avx2.IsSupported && blocks - b >= 4)
        {
            Span<ulong> lanes = stackalloc ulong[16];
            Vector256<ulong> low = Vector256.Create(0xFFFFFFFFUL);
            Vector256<uint> m0 = Vector256.Create((ulong)M0).AsUInt32();
            Vector256<uint> m1 = Vector256.Create((ulong)M1).AsUInt32();
            Vector256<ulong> laneOffsets = Vector256.Create(0UL, 1, 2, 3);
            for (; b + 4 <= blocks; b += 4)
            {
                Vector256<ulong> counter = Vector256.Create(firstBlock + (ulong)b) + laneOffsets;
                Vector256<ulong> c0 = counter & low;
                Vector256<ulong> c1 = counter >>> 32;
                Vector256<ulong> c2 = Vector256.Create((ulong)(uint)stream);
                Vector256<ulong> c3 = Vector256.Create(stream >> 32);
                uint k0 = k0Start;
                uint k1 = k1Start;
                for (int round = 0; round < 10; round++)
                {
                    Vector256<ulong> p0 = Avx2.Multiply(c0.AsUInt32(), m0);
                    Vector256<ulong> p1 = Avx2.Multiply(c2.AsUInt32(), m1);
                    c0 = (p1 >>> 32) ^ c1 ^ Vector256.Create((ulong)k0);
                    c1 = p1 & low;
                    c2 = (p0 >>> 32) ^ c3 ^ Vector256.Create((ulong)k1);
                    c3 = p0 & low;
                    k0 += W0;
                    k1 += W1;
                }

                c0.StoreUnsafe(ref lanes[0]);
                c1.StoreUnsafe(ref lanes[4]);
                c2.StoreUnsafe(ref lanes[8]);
                c3.StoreUnsafe(ref lanes[12]);
                Interleave(lanes, words.Slice(4 * b, 16), 4);
            }
        }

        for (; b < blocks; b++)
        {
            (uint x0, uint x1, uint x2, uint x3) = Block(seed, stream, firstBlock + (ulong)b);
            words[4 * b] = x0;
            words[(4 * b) + 1] = x1;
            words[(4 * b) + 2] = x2;
            words[(4 * b) + 3] = x3;
        }
    }

    /// <summary>Lane-major words (word w of lane j at <c>lanes[w * width + j]</c>) to block-major order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Interleave(ReadOnlySpan<ulong> lanes, Span<uint> words, int width)
    {
        for (int j = 0; j < width; j++)
        {
            words[4 * j] = (uint)lanes[j];
            words[(4 * j) + 1] = (uint)lanes[width + j];
            words[(4 * j) + 2] = (uint)lanes[(2 * width) + j];
            words[(4 * j) + 3] = (uint)lanes[(3 * width) + j];
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float WordToFloat(uint word) => ((word >> 9) + 0.5f) * (1f / 8388608f);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static double WordsToDouble(ulong words) => ((words >> 12) + 0.5) * (1.0 / 4503599627370496.0);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (uint X0, uint X1, uint X2, uint X3) Block(ulong seed, ulong stream, ulong block) =>
        Philox4x32x10((uint)block, (uint)(block >> 32), (uint)stream, (uint)(stream >> 32), (uint)seed, (uint)(seed >> 32));

    private static void Fill(ulong seed, ulong stream, Span<float> destination, long startIndex, int maxDegreeOfParallelism, bool normal)
    {
        int chunks = (destination.Length + FillChunk - 1) / FillChunk;
        if (chunks <= 1 || maxDegreeOfParallelism == 1)
        {
            FillRange(seed, stream, destination, (ulong)startIndex, normal);
            return;
        }

        unsafe
        {
            fixed (float* pointer = destination)
            {
                var job = new FillJob(seed, stream, pointer, destination.Length, (ulong)startIndex, normal);
                Parallel.For(0, chunks, new ParallelOptions { MaxDegreeOfParallelism = maxDegreeOfParallelism }, job.Run);
            }
        }
    }

    private static void FillRange(ulong seed, ulong stream, Span<float> destination, ulong startIndex, bool normal)
    {
        int perBlock = normal ? 2 : 4;
        Span<uint> words = stackalloc uint[4 * BulkBlocks];
        int i = 0;
        ulong index = startIndex;
        while (i < destination.Length)
        {
            ulong firstBlock = index / (ulong)perBlock;
            int skip = (int)(index % (ulong)perBlock);
            int blocks = (int)Math.Min(BulkBlocks, ((long)skip + (destination.Length - i) + perBlock - 1) / perBlock);
            Span<uint> chunk = words.Slice(0, 4 * blocks);
            PhiloxBlocks(seed, stream, firstBlock, chunk);
            for (int b = 0; b < blocks && i < destination.Length; b++)
            {
                int word = b == 0 ? skip : 0;
                if (normal)
                {
                    double u1 = WordsToDouble(((ulong)chunk[4 * b] << 32) | chunk[(4 * b) + 1]);
                    double u2 = WordsToDouble(((ulong)chunk[(4 * b) + 2] << 32) | chunk[(4 * b) + 3]);
                    double r = Math.Sqrt(-2.0 * Math.Log(u1));
                    (double sin, double cos) = Math.SinCos(2.0 * Math.PI * u2);
                    for (; word < 2 && i < destination.Length; word++, i++, index++)
                    {
                        destination[i] = (float)(word == 0 ? r * cos : r * sin);
                    }
                }
                else
                {
                    for (; word < 4 && i < destination.Length; word++, i++, index++)
                    {
                        destination[i] = WordToFloat(chunk[(4 * b) + word]);
                    }
                }
            }
        }
    }

    private void Refill()
    {
        (_r0, _r1, _r2, _r3) = Block(_seed, _stream, _block);
        _block++;
        _index = 0;
    }

    private sealed unsafe class FillJob
    {
        private readonly ulong _seed;
        private readonly ulong _stream;
        private readonly float* _destination;
        private readonly int _length;
        private readonly ulong _startIndex;
        private readonly bool _normal;

        public FillJob(ulong seed, ulong stream, float* destination, int length, ulong startIndex, bool normal)
        {
            _seed = seed;
            _stream = stream;
            _destination = destination;
            _length = length;
            _startIndex = startIndex;
            _normal = normal;
        }

        public void Run(int chunk)
        {
            int start = chunk * FillChunk;
            int count = Math.Min(FillChunk, _length - start);
            FillRange(_seed, _stream, new Span<float>(_destination + start, count), _startIndex + (ulong)start, _normal);
        }
    }
}

/// <summary>The exact position of a <see cref="CounterRng"/>: seed, stream, next block and index within the current block.</summary>
/// <param name="Seed">The generator's seed.</param>
/// <param name="Stream">The stream id.</param>
/// <param name="Block">The counter of the next block to generate.</param>
/// <param name="Index">How many of the current block's four words were consumed (4 = none buffered).</param>
public readonly record struct RngState(ulong Seed, ulong Stream, ulong Block, int Index);
