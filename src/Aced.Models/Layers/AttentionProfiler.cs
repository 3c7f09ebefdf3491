using Aced.Core;

namespace Aced.Models.Layers;

/// <summary>
/// Receives the fused attention's timings (profiling only). A GEMM provider that wraps the managed provider to time its
/// products (the benchmarks' <c>TimingGemmProvider</c>) implements it, so that under the profile the attention keeps the
/// fused path it runs in production (instead of the batched calls, which only another provider gets) and reports that
/// path's products per shape, as the batched path would have issued them, and its row passes.
/// </summary>
internal interface IAttentionProfiler
{
    /// <summary>Whether the wrapped provider is the managed one; only then does the attention run its fused path and report here.</summary>
    bool WrapsManagedProvider { get; }

    /// <summary>A layer call (forward or backward, all its work items) starts on the calling thread.</summary>
    void EnterLayer();

    /// <summary>The layer call started by <see cref="EnterLayer"/> has finished.</summary>
    void ExitLayer();

    /// <summary>
    /// <paramref name="count"/> products <c>op(A) op(B)</c> of shape m x n x k took <paramref name="ticks"/>
    /// (<see cref="System.Diagnostics.Stopwatch"/> ticks, thread time of one work item); an NT product's time includes its
    /// transposed copy of B.
    /// </summary>
    void RecordProducts(Transpose transA, Transpose transB, int m, int n, int k, long count, long ticks);

    /// <summary><paramref name="count"/> heads' pass <paramref name="name"/> (softmax, packing) took <paramref name="ticks"/>.</summary>
    void RecordPass(string name, long count, long ticks);
}
