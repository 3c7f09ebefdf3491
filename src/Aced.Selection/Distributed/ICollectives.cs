using System;

namespace Aced.Selection.Distributed;

/// <summary>
/// The collective operations a sharded selection needs from a distributed engine: the rank of this process, the
/// number of ranks, all-gather (equal and variable counts), broadcast and all-reduce. Every rank must call the
/// same operations in the same order with matching sizes (the usual MPI contract). Implementations:
/// <see cref="InProcessCollectives"/> (W threads as ranks, for tests and single-machine simulation) and
/// <c>Aced.Mpi.MpiCollectives</c> (MPI.NET over MPICH).
/// </summary>
/// <remarks>
/// Element types are <see cref="float"/>, <see cref="int"/> and <see cref="double"/>; others throw
/// <see cref="NotSupportedException"/>. An operation that cannot complete within <see cref="Timeout"/> (a rank
/// died, threw before reaching it, or called a different operation) throws <see cref="CollectiveException"/> on
/// every rank still waiting, instead of hanging.
/// </remarks>
public interface ICollectives
{
    /// <summary>This process's rank in [0, <see cref="Size"/>).</summary>
    int Rank { get; }

    /// <summary>Number of ranks W (at least 1).</summary>
    int Size { get; }

    /// <summary>How long one operation may wait for the other ranks before it fails.</summary>
    TimeSpan Timeout { get; }

    /// <summary>
    /// Gathers <paramref name="local"/> (the same length n on every rank) from every rank into
    /// <paramref name="destination"/> (W·n elements, rank r's block at r·n) on every rank.
    /// </summary>
    /// <exception cref="CollectiveException">The ranks disagree on n, or a rank did not arrive within <see cref="Timeout"/>.</exception>
    void AllGather<T>(ReadOnlySpan<T> local, Span<T> destination)
        where T : unmanaged;

    /// <summary>
    /// Gathers a variable number of elements per rank: rank r contributes <c>counts[r]</c> elements
    /// (<paramref name="local"/> has exactly <c>counts[Rank]</c>), and <paramref name="destination"/> receives the
    /// blocks in rank order (at least <c>sum(counts)</c> elements). Every rank passes the same counts.
    /// </summary>
    /// <exception cref="CollectiveException">The ranks disagree on the counts, or a rank did not arrive in time.</exception>
    void AllGatherVariable<T>(ReadOnlySpan<T> local, ReadOnlySpan<int> counts, Span<T> destination)
        where T : unmanaged;

    /// <summary>Copies <paramref name="buffer"/> of rank <paramref name="root"/> into <paramref name="buffer"/> of every rank (same length everywhere).</summary>
    /// <exception cref="CollectiveException">The ranks disagree on the length or root, or a rank did not arrive in time.</exception>
    void Broadcast<T>(Span<T> buffer, int root)
        where T : unmanaged;

    /// <summary>Replaces <paramref name="values"/> (same length on every rank) element-wise by their sum or maximum over the ranks.</summary>
    /// <exception cref="CollectiveException">The ranks disagree on the length or operation, or a rank did not arrive in time.</exception>
    void AllReduce(Span<double> values, ReduceOperation operation);
}

/// <summary>The reduction of <see cref="ICollectives.AllReduce"/>.</summary>
public enum ReduceOperation
{
    /// <summary>Element-wise sum (the order of the additions is the implementation's; not bit-reproducible across W).</summary>
    Sum = 0,

    /// <summary>Element-wise maximum (exact).</summary>
    Max = 1,
}

/// <summary>
/// A collective operation failed: a rank did not arrive within the timeout, the ranks called different operations
/// or sizes, or another rank reported an error during a sharded selection (the message names the rank).
/// </summary>
public sealed class CollectiveException : Exception
{
    /// <summary>Creates the exception with a message.</summary>
    public CollectiveException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and the cause.</summary>
    public CollectiveException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception with a generic message.</summary>
    public CollectiveException()
        : base("a collective operation failed")
    {
    }
}
