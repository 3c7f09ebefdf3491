using System;
using System.Runtime.CompilerServices;

namespace Aced.Core;

/// <summary>
/// A counter-based random number generator: Philox4x32-10 (Salmon et al., SC'11), keyed by a 64-bit
/// seed, with a 64-bit stream id and a 64-bit block counter. The n-th number of a stream depends only
/// on (seed, stream, n), so work split across threads draws identical numbers whatever the thread
/// count when each fixed work item uses its own stream (see <see cref="Fork"/>). The state is four
/// integers (<see cref="State"/>), so it can be checkpointed and restored exactly.
/// </summary>
public struct CounterRng
{
    private const uint M0 = 0xD2511F53;
    private const uint M1 = 0xCD9E8D57;
    private const uint W0 = 0x9E3779B9;
    private const uint W1 = 0xBB67AE85;

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
        : this(new RngState(seed, stream, 0, 4))
    {
    }

    /// <summary>Restores a generator from a saved <see cref="State"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The state's index is outside [0, 4].</exception>
    public CounterRng(RngState state)
    {
        if ((uint)state.Index > 4u)
        {
            Guard.ThrowOutOfRange(nameof(state), state.Index, "has an Index outside [0, 4]; it was not produced by CounterRng.State");
        }

        _seed = state.Seed;
        _stream = state.Stream;
        _block = state.Block;
        _index = 4;
        _r0 = _r1 = _r2 = _r3 = 0;
        if (state.Index < 4)
        {
            // Regenerate the partially consumed block.
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

    /// <summary>A generator with the same seed on another stream (independent of this one's position).</summary>
    public readonly CounterRng Fork(ulong stream) => new(_seed, stream);

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

    /// <summary>The next uniformly distributed 64-bit integer.</summary>
    public ulong NextUInt64() => ((ulong)NextUInt32() << 32) | NextUInt32();

    /// <summary>A uniform float in the open interval (0, 1): never 0 and never 1, so logs are finite.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float NextFloat() => ((NextUInt32() >> 8) + 0.5f) * (1f / 16777216f);

    /// <summary>A uniform double in the open interval (0, 1).</summary>
    public double NextDouble() => ((NextUInt64() >> 11) + 0.5) * (1.0 / 9007199254740992.0);

    /// <summary>A uniform integer in [0, <paramref name="maxExclusive"/>), without modulo bias (Lemire's method).</summary>
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

    /// <summary>A standard normal variate (Box–Muller in double precision; one variate per call).</summary>
    public float NextNormal()
    {
        double u1 = NextDouble();
        double u2 = NextDouble();
        return (float)(Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2));
    }

    /// <summary>A standard Gumbel variate <c>-log(-log(u))</c>, always finite.</summary>
    public float NextGumbel() => (float)-Math.Log(-Math.Log(NextDouble()));

    private void Refill()
    {
        ulong counter = _block++;
        uint c0 = (uint)counter;
        uint c1 = (uint)(counter >> 32);
        uint c2 = (uint)_stream;
        uint c3 = (uint)(_stream >> 32);
        uint k0 = (uint)_seed;
        uint k1 = (uint)(_seed >> 32);
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

        _r0 = c0;
        _r1 = c1;
        _r2 = c2;
        _r3 = c3;
        _index = 0;
    }
}

/// <summary>The exact position of a <see cref="CounterRng"/>: seed, stream, next block and index within the current block.</summary>
/// <param name="Seed">The generator's seed.</param>
/// <param name="Stream">The stream id.</param>
/// <param name="Block">The counter of the next block to generate.</param>
/// <param name="Index">How many of the current block's four words were consumed (4 = none buffered).</param>
public readonly record struct RngState(ulong Seed, ulong Stream, ulong Block, int Index);
