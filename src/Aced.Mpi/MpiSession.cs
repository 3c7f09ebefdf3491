using System;

namespace Aced.Mpi;

/// <summary>
/// MPI for the lifetime of a process: <see cref="Start"/> binds MPI.NET to MPICH (<see cref="MpiLibrary"/>),
/// initialises MPI and exposes the world's <see cref="Collectives"/>; <see cref="Dispose"/> finalises MPI.
/// One session per process, started on the main thread before any other MPI call.
/// </summary>
/// <example>
/// <code>
/// using MpiSession mpi = MpiSession.Start(ref args);
/// var sampler = new ShardedBatchSampler(options, mpi.Collectives);
/// SelectionResult chosen = sampler.Sample(myShard); // the same global indices on every rank
/// </code>
/// </example>
public sealed class MpiSession : IDisposable
{
    private readonly MPI.Environment _environment;
    private bool _disposed;

    private MpiSession(MPI.Environment environment, TimeSpan timeout)
    {
        _environment = environment;
        Collectives = new MpiCollectives(MPI.Communicator.world, timeout);
    }

    /// <summary>The collectives over all ranks (MPI_COMM_WORLD).</summary>
    public MpiCollectives Collectives { get; }

    /// <summary>This process's rank.</summary>
    public int Rank => Collectives.Rank;

    /// <summary>Number of ranks.</summary>
    public int Size => Collectives.Size;

    /// <summary>Binds MPI.NET to MPICH, initialises MPI and returns the session.</summary>
    /// <param name="args">The command-line arguments (MPI may remove its own).</param>
    /// <param name="timeout">How long one collective may take before the job is aborted (default 120 s).</param>
    /// <exception cref="MpiUnavailableException">MPICH is missing or Open MPI was found (see <see cref="MpiLibrary.EnsureMpich"/>).</exception>
    public static MpiSession Start(ref string[] args, TimeSpan? timeout = null)
    {
        MpiLibrary.EnsureMpich();
        TimeSpan limit = timeout ?? TimeSpan.FromSeconds(120);
        if (limit <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(timeout), timeout, "must be positive (e.g. 120 seconds)");
        }

        // MPI_Init waits for every rank; a rank that dies before it would leave the others waiting forever.
        using var watchdog = new System.Threading.Timer(
            _ =>
            {
                Console.Error.WriteLine($"aced: error: MPI initialisation did not complete within {limit.TotalSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture)} s (another rank failed to start); exiting");
                Console.Error.Flush();
                System.Environment.Exit(3);
            },
            null,
            limit,
            System.Threading.Timeout.InfiniteTimeSpan);
        var environment = new MPI.Environment(ref args);
        watchdog.Change(System.Threading.Timeout.Infinite, System.Threading.Timeout.Infinite);
        return new MpiSession(environment, limit);
    }

    /// <summary>Stops the collectives' watchdog and finalises MPI.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        Collectives.Dispose();
        _environment.Dispose();
    }
}
