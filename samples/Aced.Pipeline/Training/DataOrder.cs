using System;
using Aced.Core;

namespace Aced.Pipeline.Training;

/// <summary>
/// The deterministic data order of a run: an endless sequence of epochs, each a seeded permutation of the pool;
/// step s reads positions [s B, (s + 1) B). A pure function of (seed, step), so a resumed run reads exactly what an
/// uninterrupted one would.
/// </summary>
internal sealed class DataOrder
{
    private readonly int _count;
    private readonly ulong _seed;
    private readonly int[] _a;
    private readonly int[] _b;
    private long _epochA = -1;
    private long _epochB = -1;

    public DataOrder(int count, ulong seed)
    {
        _count = count;
        _seed = seed;
        _a = new int[count];
        _b = new int[count];
    }

    /// <summary>Writes the pool indices of step <paramref name="step"/>'s super-batch of <paramref name="destination"/>.Length examples.</summary>
    public void Fill(long step, Span<int> destination)
    {
        long start = step * destination.Length;
        for (int i = 0; i < destination.Length; i++)
        {
            long position = start + i;
            destination[i] = Permutation(position / _count)[(int)(position % _count)];
        }
    }

    private int[] Permutation(long epoch)
    {
        if (epoch == _epochA)
        {
            return _a;
        }

        if (epoch == _epochB)
        {
            return _b;
        }

        // Keep the two most recent epochs (a super-batch spans at most two when B <= pool size).
        int[] target = epoch > _epochA && _epochA >= _epochB ? _b : _a;
        if (ReferenceEquals(target, _a))
        {
            _epochA = epoch;
        }
        else
        {
            _epochB = epoch;
        }

        var rng = new CounterRng(_seed, unchecked((ulong)epoch));
        for (int i = 0; i < _count; i++)
        {
            target[i] = i;
        }

        for (int i = _count - 1; i > 0; i--)
        {
            int j = rng.NextInt(i + 1);
            (target[i], target[j]) = (target[j], target[i]);
        }

        return target;
    }
}
