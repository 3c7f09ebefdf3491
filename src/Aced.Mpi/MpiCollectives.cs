using System;
using System.Diagnostics;
using System.Globalization;
using System.Threading;
using Aced.Selection.Distributed;

namespace Aced.Mpi;

/// <summary>
/// <see cref="ICollectives"/> on an MPI.NET intra-communicator over MPICH, using only the primitive-array
/// collectives (<c>AllgatherFlattened</c>, <c>Broadcast</c>, <c>Allreduce</c> of float, int and double arrays; the
/// generic object collectives of MPI.NET serialise with BinaryFormatter, which .NET 10 removed).
/// </summary>
/// <remarks>
/// MPI collectives cannot be cancelled, so the timeout is a watchdog: when one operation has not completed after
/// <see cref="Timeout"/> (a rank hangs or the ranks diverged), the process prints which operation on which rank
/// timed out to stderr and aborts the whole MPI job (<c>MPI_Abort</c>, exit code 3); the launcher then stops every
/// rank. A rank that dies is detected by MPICH's launcher, which ends the other ranks.
/// </remarks>
public sealed class MpiCollectives : ICollectives, IDisposable
{
    private readonly MPI.Intracommunicator _communicator;
    private readonly Timer _watchdog;
    private long _started;
    private string _operation = string.Empty;
    private long _sequence;

    /// <summary>Wraps <paramref name="communicator"/>; prefer <see cref="MpiSession.Collectives"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="timeout"/> is not positive.</exception>
    public MpiCollectives(MPI.Intracommunicator communicator, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(communicator);
        if (timeout <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(timeout), timeout, "must be positive (e.g. 120 seconds)");
        }

        _communicator = communicator;
        Timeout = timeout;
        Rank = communicator.Rank;
        Size = communicator.Size;
        TimeSpan period = TimeSpan.FromMilliseconds(Math.Clamp(timeout.TotalMilliseconds / 4, 50, 1000));
        _watchdog = new Timer(Check, null, period, period);
    }

    /// <inheritdoc/>
    public int Rank { get; }

    /// <inheritdoc/>
    public int Size { get; }

    /// <inheritdoc/>
    public TimeSpan Timeout { get; }

    /// <inheritdoc/>
    public void AllGather<T>(ReadOnlySpan<T> local, Span<T> destination)
        where T : unmanaged
    {
        CheckType<T>();
        int n = local.Length;
        if (destination.Length < n * Size)
        {
            throw new ArgumentException($"has {destination.Length} elements but {Size} ranks x {n} need {n * Size}", nameof(destination));
        }

        T[] input = local.ToArray();
        T[] output = new T[n * Size];
        Enter("AllGather");
        _communicator.AllgatherFlattened(input, n, ref output);
        Leave();
        output.AsSpan(0, n * Size).CopyTo(destination);
    }

    /// <inheritdoc/>
    public void AllGatherVariable<T>(ReadOnlySpan<T> local, ReadOnlySpan<int> counts, Span<T> destination)
        where T : unmanaged
    {
        CheckType<T>();
        if (counts.Length != Size)
        {
            throw new ArgumentException($"has {counts.Length} elements but there are {Size} ranks", nameof(counts));
        }

        if (local.Length != counts[Rank])
        {
            throw new ArgumentException($"has {local.Length} elements but counts[{Rank}] = {counts[Rank]}", nameof(local));
        }

        int total = 0;
        for (int r = 0; r < counts.Length; r++)
        {
            total += counts[r];
        }

        if (destination.Length < total)
        {
            throw new ArgumentException($"has {destination.Length} elements but the counts sum to {total}", nameof(destination));
        }

        T[] input = local.ToArray();
        T[] output = new T[total];
        Enter("AllGatherVariable");
        _communicator.AllgatherFlattened(input, counts.ToArray(), ref output);
        Leave();
        output.AsSpan(0, total).CopyTo(destination);
    }

    /// <inheritdoc/>
    public void Broadcast<T>(Span<T> buffer, int root)
        where T : unmanaged
    {
        CheckType<T>();
        if ((uint)root >= (uint)Size)
        {
            throw new ArgumentOutOfRangeException(nameof(root), root, $"must be a rank in [0, {Size})");
        }

        T[] values = buffer.ToArray();
        Enter("Broadcast");
        _communicator.Broadcast(ref values, root);
        Leave();
        values.AsSpan(0, buffer.Length).CopyTo(buffer);
    }

    /// <inheritdoc/>
    public void AllReduce(Span<double> values, ReduceOperation operation)
    {
        double[] input = values.ToArray();
        double[] output = new double[input.Length];
        Enter("AllReduce");
        _communicator.Allreduce(input, operation == ReduceOperation.Max ? MPI.Operation<double>.Max : MPI.Operation<double>.Add, ref output);
        Leave();
        output.CopyTo(values);
    }

    /// <summary>Stops the watchdog.</summary>
    public void Dispose() => _watchdog.Dispose();

    private static void CheckType<T>()
    {
        if (typeof(T) != typeof(float) && typeof(T) != typeof(int) && typeof(T) != typeof(double))
        {
            throw new NotSupportedException($"collectives carry float, int or double elements, not {typeof(T).Name}");
        }
    }

    private void Enter(string operation)
    {
        _operation = operation;
        _sequence++;
        Volatile.Write(ref _started, Stopwatch.GetTimestamp());
    }

    private void Leave() => Volatile.Write(ref _started, 0);

    private void Check(object? state)
    {
        long started = Volatile.Read(ref _started);
        if (started == 0 || Stopwatch.GetElapsedTime(started) < Timeout)
        {
            return;
        }

        Console.Error.WriteLine($"aced: error: rank {Rank} of {Size}: collective #{_sequence} ({_operation}) did not complete within {Timeout.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s; another rank died, hangs or made different calls; aborting the MPI job");
        Console.Error.Flush();
        try
        {
            _communicator.Abort(3);
        }
        finally
        {
            System.Environment.Exit(3);
        }
    }
}
