using System;
using System.Globalization;
using System.Text;
using System.Threading;
using Aced.Core;

namespace Aced.Selection.Distributed;

/// <summary>
/// <see cref="ICollectives"/> for W ranks that are threads of one process: <see cref="Create"/> returns one
/// instance per rank; each rank's thread calls the collectives on its own instance. Every operation is a
/// rendezvous of all W ranks; a rank that does not arrive within the timeout (it died, threw, or called a
/// different number of operations) makes the operation throw <see cref="CollectiveException"/> on every waiting
/// rank, and the group is then broken (every later call throws the same error). Ranks that call different
/// operations or sizes also break the group. Meant for tests and for simulating a sharded selection on one
/// machine; it copies every payload once.
/// </summary>
public sealed class InProcessCollectives : ICollectives
{
    private readonly Hub _hub;

    private InProcessCollectives(Hub hub, int rank)
    {
        _hub = hub;
        Rank = rank;
    }

    /// <inheritdoc/>
    public int Rank { get; }

    /// <inheritdoc/>
    public int Size => _hub.Size;

    /// <inheritdoc/>
    public TimeSpan Timeout => _hub.Timeout;

    /// <summary>Creates a group of <paramref name="size"/> ranks; element r is rank r.</summary>
    /// <param name="size">Number of ranks W, at least 1.</param>
    /// <param name="timeout">How long an operation waits for the other ranks (positive).</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="size"/> or <paramref name="timeout"/> is not positive.</exception>
    public static InProcessCollectives[] Create(int size, TimeSpan timeout)
    {
        Guard.Positive(size);
        if (timeout <= TimeSpan.Zero)
        {
            Guard.ThrowOutOfRange(nameof(timeout), timeout, "must be positive (e.g. 30 seconds)");
        }

        var hub = new Hub(size, timeout);
        var ranks = new InProcessCollectives[size];
        for (int r = 0; r < size; r++)
        {
            ranks[r] = new InProcessCollectives(hub, r);
        }

        return ranks;
    }

    /// <inheritdoc/>
    public void AllGather<T>(ReadOnlySpan<T> local, Span<T> destination)
        where T : unmanaged
    {
        CheckType<T>();
        int n = local.Length;
        if (destination.Length < n * Size)
        {
            Guard.ThrowArgument(nameof(destination), $"has {destination.Length} elements but {Size} ranks x {n} need {n * Size}");
        }

        object[] all = _hub.Exchange(Rank, $"AllGather<{typeof(T).Name}>({n})", local.ToArray());
        for (int r = 0; r < Size; r++)
        {
            ((T[])all[r]).CopyTo(destination.Slice(r * n, n));
        }
    }

    /// <inheritdoc/>
    public void AllGatherVariable<T>(ReadOnlySpan<T> local, ReadOnlySpan<int> counts, Span<T> destination)
        where T : unmanaged
    {
        CheckType<T>();
        if (counts.Length != Size)
        {
            Guard.ThrowArgument(nameof(counts), $"has {counts.Length} elements but there are {Size} ranks");
        }

        if (local.Length != counts[Rank])
        {
            Guard.ThrowArgument(nameof(local), $"has {local.Length} elements but counts[{Rank}] = {counts[Rank]}");
        }

        var signature = new StringBuilder("AllGatherVariable<").Append(typeof(T).Name).Append(">(");
        int total = 0;
        for (int r = 0; r < counts.Length; r++)
        {
            signature.Append(counts[r].ToString(CultureInfo.InvariantCulture)).Append(r + 1 < counts.Length ? "," : ")");
            total += counts[r];
        }

        if (destination.Length < total)
        {
            Guard.ThrowArgument(nameof(destination), $"has {destination.Length} elements but the counts sum to {total}");
        }

        object[] all = _hub.Exchange(Rank, signature.ToString(), local.ToArray());
        int offset = 0;
        for (int r = 0; r < Size; r++)
        {
            T[] block = (T[])all[r];
            block.CopyTo(destination.Slice(offset, block.Length));
            offset += block.Length;
        }
    }

    /// <inheritdoc/>
    public void Broadcast<T>(Span<T> buffer, int root)
        where T : unmanaged
    {
        CheckType<T>();
        if ((uint)root >= (uint)Size)
        {
            Guard.ThrowOutOfRange(nameof(root), root, $"must be a rank in [0, {Size})");
        }

        object[] all = _hub.Exchange(Rank, $"Broadcast<{typeof(T).Name}>({buffer.Length}, root {root})", Rank == root ? buffer.ToArray() : Array.Empty<T>());
        ((T[])all[root]).CopyTo(buffer);
    }

    /// <inheritdoc/>
    public void AllReduce(Span<double> values, ReduceOperation operation)
    {
        object[] all = _hub.Exchange(Rank, $"AllReduce({values.Length}, {operation})", values.ToArray());
        for (int i = 0; i < values.Length; i++)
        {
            double v = ((double[])all[0])[i];
            for (int r = 1; r < Size; r++)
            {
                double other = ((double[])all[r])[i];
                v = operation == ReduceOperation.Max ? Math.Max(v, other) : v + other;
            }

            values[i] = v;
        }
    }

    private static void CheckType<T>()
    {
        if (typeof(T) != typeof(float) && typeof(T) != typeof(int) && typeof(T) != typeof(double))
        {
            throw new NotSupportedException($"collectives carry float, int or double elements, not {typeof(T).Name}");
        }
    }

    /// <summary>The rendezvous shared by the ranks of one group.</summary>
    private sealed class Hub
    {
        private readonly object _gate = new();
        private readonly object[] _slots;
        private readonly string[] _operations;
        private readonly bool[] _arrived;
        private object[] _completed = Array.Empty<object>();
        private int _count;
        private long _generation;
        private string? _broken;

        public Hub(int size, TimeSpan timeout)
        {
            Size = size;
            Timeout = timeout;
            _slots = new object[size];
            _operations = new string[size];
            _arrived = new bool[size];
        }

        public int Size { get; }

        public TimeSpan Timeout { get; }

        public object[] Exchange(int rank, string operation, object payload)
        {
            lock (_gate)
            {
                if (_broken is not null)
                {
                    throw new CollectiveException(_broken);
                }

                long generation = _generation;
                _slots[rank] = payload;
                _operations[rank] = operation;
                _arrived[rank] = true;
                _count++;
                if (_count == Size)
                {
                    for (int r = 1; r < Size; r++)
                    {
                        if (_operations[r] != _operations[0])
                        {
                            Break($"the ranks diverged at collective #{generation}: rank 0 called {_operations[0]} but rank {r} called {_operations[r]}; every rank must make the same calls with the same sizes");
                            throw new CollectiveException(_broken!);
                        }
                    }

                    _completed = (object[])_slots.Clone();
                    _count = 0;
                    Array.Clear(_arrived);
                    Array.Clear(_slots);
                    _generation++;
                    Monitor.PulseAll(_gate);
                    return _completed;
                }

                long deadline = Environment.TickCount64 + (long)Timeout.TotalMilliseconds;
                while (_generation == generation && _broken is null)
                {
                    long remaining = deadline - Environment.TickCount64;
                    if (remaining <= 0)
                    {
                        var missing = new StringBuilder();
                        for (int r = 0; r < Size; r++)
                        {
                            if (!_arrived[r])
                            {
                                missing.Append(missing.Length == 0 ? string.Empty : ", ").Append(r.ToString(CultureInfo.InvariantCulture));
                            }
                        }

                        Break($"collective #{generation} ({operation}) timed out after {Timeout.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s: rank(s) {missing} did not arrive (a rank died, threw outside the selection, or made a different number of calls)");
                        break;
                    }

                    Monitor.Wait(_gate, (int)Math.Min(remaining, int.MaxValue));
                }

                if (_generation != generation)
                {
                    return _completed;
                }

                throw new CollectiveException(_broken!);
            }
        }

        private void Break(string message)
        {
            _broken = message;
            Monitor.PulseAll(_gate);
        }
    }
}
