using Aced.Core;

namespace Aced.Losses.Internal;

/// <summary>A loss stage split into a fixed number of independent row partitions (implemented explicitly by the losses).</summary>
internal interface IPartitionedWork
{
    /// <summary>Runs partition <paramref name="partition"/>; must write only to that partition's outputs.</summary>
    void Execute(int partition);
}

/// <summary>
/// Runs an <see cref="IPartitionedWork"/> through <see cref="ParallelPartition"/> (Aced's shared worker pool, bounded by
/// <c>GemmControl.MaxDegreeOfParallelism</c>). The partition count depends only on the problem size, so results are
/// bit-identical whatever the number of threads.
/// </summary>
internal static class PartitionWork
{
    /// <summary>Runs partitions [0, <paramref name="count"/>) of <paramref name="work"/> and returns when all are finished.</summary>
    public static void Run(IPartitionedWork work, int count) => ParallelPartition.Run(count, new Adapter(work));

    private readonly struct Adapter : IPartitionBody
    {
        private readonly IPartitionedWork _work;

        public Adapter(IPartitionedWork work) => _work = work;

        public void Execute(int partition) => _work.Execute(partition);
    }
}
