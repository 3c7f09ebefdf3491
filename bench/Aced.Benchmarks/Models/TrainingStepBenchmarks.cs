using System;
using System.Diagnostics;
using System.Collections.Generic;
using Aced.Benchmarks.Common;
using Aced.Core;
using Aced.Losses;
using Aced.Models;
using Aced.Models.Training;
using BenchmarkDotNet.Attributes;

namespace Aced.Benchmarks.Models;

/// <summary>
/// One full training step (forward, sigmoid loss, backward, AdamW, clamp) of the reference configuration:
/// ViT-S/4 on 32x32x3 (64 tokens, width 128, depth 4, 4 heads, MLP 512, GAP) and a text tower (vocab 4096,
/// 32 tokens, width 128, depth 4, 4 heads, MLP 512, first-token pooling), embedding 128, sigmoid loss (<see cref="SigmoidContrastiveLoss"/>).
/// The baseline is the forward pass alone (encode of images and captions); <c>Sgemm1024</c> is the in-run yardstick:
/// the "vs SGEMM" column is each case's model GFLOP/s (forward = 1x, step = 3x the towers' forward FLOPs, issue 12's
/// 124.67 GFLOP at batch 256) over the GFLOP/s of one 1024^3 product measured in the same run. <c>OpenBlasSgemm1024</c>
/// is the yardstick issue 12 names ("vs OpenBLAS peak"): the same product by the system's OpenBLAS at the same thread
/// count, in the "vs OpenBLAS" column (the row fails, saying what to install, where libopenblas.so.0 is absent).
/// </summary>
[MemoryDiagnoser]
[GflopsColumn]
[SgemmRatioColumn]
[OpenBlasRatioColumn]
public class TrainingStepBenchmarks : IFlopCount
{
    private Matrix _sa = null!;
    private Matrix _sb = null!;
    private Matrix _sc = null!;
    private MatrixView _zi;
    private MatrixView _zt;
    private TwoTowerModel _model = null!;
    private AdamW _optimizer = null!;
    private ConstantSchedule _schedule = null!;
    private SigmoidContrastiveLoss _loss = null!;
    private Matrix _imageGradient = null!;
    private Matrix _textGradient = null!;
    private Matrix _images = null!;
    private int[] _tokens = [];

    /// <summary>Examples per step (256 is the reference; 61 an odd size).</summary>
    [Params(61, 256)]
    public int Batch { get; set; }

    public static TwoTowerConfig ReferenceConfig() => new()
    {
        Image = new VisionTransformerConfig { ImageSize = 32, Channels = 3, PatchSize = 4, Width = 128, Depth = 4, Heads = 4, MlpWidth = 512, EmbeddingDimension = 128, Pooling = PoolingKind.GlobalAverage },
        Text = new TextTransformerConfig { VocabularySize = 4096, ContextLength = 32, Width = 128, Depth = 4, Heads = 4, MlpWidth = 512, EmbeddingDimension = 128, Pooling = PoolingKind.FirstToken },
    };

    /// <summary>
    /// The step's synthetic batch for <see cref="ReferenceConfig"/> (fixed seed): uniform [0, 1) pixels, and captions of
    /// 32 token ids, each 1 (start), 3 to 30 random ids in [3, 4096), 2 (end), then padding 0.
    /// </summary>
    public static (Matrix Images, int[] Tokens) ReferenceBatch(int batch)
    {
        TwoTowerConfig config = ReferenceConfig();
        int context = config.Text.ContextLength;
        var rng = new CounterRng(2, 0);
        var images = new Matrix(batch, config.Image.InputLength);
        for (int i = 0; i < images.Data.Length; i++)
        {
            images.Data[i] = rng.NextFloat();
        }

        int[] tokens = new int[batch * context];
        for (int e = 0; e < batch; e++)
        {
            int length = 4 + rng.NextInt(28);
            tokens[e * context] = 1;
            for (int j = 1; j < length; j++)
            {
                tokens[(e * context) + j] = 3 + rng.NextInt(4093);
            }

            tokens[(e * context) + length] = 2;
        }

        return (images, tokens);
    }

    /// <summary>Setup of the forward and SGEMM cases (no profile).</summary>
    [GlobalSetup(Targets = [nameof(Forward), nameof(Sgemm1024)])]
    public void Setup() => Initialise();

    /// <summary>
    /// Setup of the training-step case: also prints the per-shape GEMM profile and the component breakdown.
    /// </summary>
    [GlobalSetup(Target = nameof(TrainingStep))]
    public void SetupWithProfile()
    {
        Initialise();
        Profile();
    }

    /// <summary>
    /// After the training-step case's measurement: the interleaved A/B lines of the fused paths against their separate
    /// forms. They run after the measurement because switching paths back and forth leaves the process slower for
    /// the rest of its life (2026-12-01, Zen 3: the measured step 1.69-1.77 s after an A/B against 1.35 s without one,
    /// 1.57 s with <c>DOTNET_TieredPGO=0</c>; the runtime's profile-guided recompilation sees both paths).
    /// </summary>
    [GlobalCleanup(Target = nameof(TrainingStep))]
    public void CleanupWithComparisons() => CompareAllPaths();

    private void Initialise()
    {
        _model = new TwoTowerModel(ReferenceConfig(), 1);
        _optimizer = new AdamW(_model.Parameters);
        _schedule = new ConstantSchedule(1e-4f);
        _loss = new SigmoidContrastiveLoss();
        _imageGradient = new Matrix(Batch, _model.EmbeddingDimension);
        _textGradient = new Matrix(Batch, _model.EmbeddingDimension);
        (_images, _tokens) = ReferenceBatch(Batch);
        _sa = new Matrix(1024, 1024);
        _sb = new Matrix(1024, 1024);
        _sc = new Matrix(1024, 1024);
        _sa.Span.Fill(0.5f);
        _sb.Span.Fill(0.25f);
        Step();
    }

    /// <inheritdoc/>
    public double FlopCount(string method)
    {
        TwoTowerConfig c = ReferenceConfig();
        double forward = Batch * (c.Image.ForwardFlops() + c.Text.ForwardFlops());
        return method switch
        {
            nameof(Forward) => forward,
            nameof(TrainingStep) => 3 * forward,
            nameof(Sgemm1024) or nameof(OpenBlasSgemm1024) => 2.0 * 1024 * 1024 * 1024,
            _ => 0,
        };
    }

    /// <summary>The yardstick: one 1024^3 SGEMM through the active provider, in the same run.</summary>
    [Benchmark]
    public float Sgemm1024()
    {
        Aced.Core.Gemm.Multiply(_sa, _sb, _sc);
        return _sc.Data[0];
    }

    /// <summary>Setup of the OpenBLAS yardstick: the same operands, OpenBLAS at Aced's thread count.</summary>
    [GlobalSetup(Target = nameof(OpenBlasSgemm1024))]
    public void SetupOpenBlas()
    {
        OpenBlas.Initialise();
        Initialise();
    }

    /// <summary>The issue's yardstick: the same 1024^3 SGEMM by the system's OpenBLAS, in the same run.</summary>
    [Benchmark]
    public float OpenBlasSgemm1024()
    {
        OpenBlas.MultiplySquare(_sa, _sb, _sc, 1024);
        return _sc.Data[0];
    }

    [Benchmark(Baseline = true)]
    public float Forward()
    {
        (MatrixView zi, MatrixView zt) = _model.Forward(_images, _tokens);
        return zi[0, 0] + zt[0, 0];
    }

    [Benchmark]
    public float TrainingStep() => Step();

    private float Step()
    {
        _model.ZeroGradients();
        (MatrixView zi, MatrixView zt) = _model.Forward(_images, _tokens);
        LossResult loss = _loss.Compute(zi, zt, LogitParameters.FromLogScale(_model.LogScale.Value[0], _model.Bias.Value[0]), new EmbeddingGradients(_imageGradient, _textGradient));
        _model.Backward(_imageGradient, _textGradient, (float)loss.LogScaleGradient, (float)loss.BiasGradient);
        _optimizer.Update(_schedule);
        _model.ClampLogScale();
        return (float)loss.Loss;
    }

    /// <summary>
    /// Prints the share of the step spent in GEMM, per shape, against a 1024^3 SGEMM in the same process (the attention's
    /// products as its fused path runs them, see <see cref="TimingGemmProvider"/>), then the
    /// non-GEMM components (<see cref="TrainingStepComponents"/>). The step time is that of the fastest of three steps whose every product
    /// (plain, fused with the forward's epilogues, batched attention products) is timed, in the same step, through a
    /// wrapper provider with the managed provider's capabilities (<see cref="TimingGemmProvider"/>).
    /// </summary>
    private void Profile()
    {
        // The fastest of three steps, each timed whole while its products are timed through the wrapper, so the
        // GEMM share and the step time come from the same step (separate steps differ by more than the non-GEMM share
        // on the loaded machine); the 1024^3 yardstick is the best of three products interleaved with the steps.
        const int Repeats = 3;
        IGemmProvider original = GemmControl.Provider;
        TimingGemmProvider timed = null!;
        double stepSeconds = double.MaxValue;
        double squareSeconds = double.MaxValue;
        for (int r = 0; r < Repeats; r++)
        {
            var candidate = new TimingGemmProvider(original);
            GemmControl.Provider = candidate;
            long start = Stopwatch.GetTimestamp();
            try
            {
                Step();
            }
            finally
            {
                GemmControl.Provider = original;
            }

            double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
            if (seconds < stepSeconds)
            {
                stepSeconds = seconds;
                timed = candidate;
            }

            squareSeconds = Math.Min(squareSeconds, TimeSquare(1024));
        }

        var rows = new List<(double Seconds, string Line)>();
        double gemmSeconds = 0;
        double gemmFlops = 0;
        long calls = 0;
        double batchedSeconds = 0;
        foreach (KeyValuePair<(Transpose, Transpose, int, int, int), TimingGemmProvider.ShapeStats> entry in timed.Shapes)
        {
            (Transpose ta, Transpose tb, int m, int n, int k) = entry.Key;
            double seconds = entry.Value.Ticks / (double)Stopwatch.Frequency;
            AddRow(rows, (ta == Transpose.None ? "N" : "T") + (tb == Transpose.None ? "N" : "T"), m, n, k, entry.Value.Calls, seconds, stepSeconds);
            gemmSeconds += seconds;
            gemmFlops += 2.0 * m * n * k * entry.Value.Calls;
            calls += entry.Value.Calls;
        }

        foreach (KeyValuePair<(Transpose, Transpose, int, int, int), TimingGemmProvider.ShapeStats> entry in timed.BatchedShapes)
        {
            (Transpose ta, Transpose tb, int m, int n, int k) = entry.Key;
            double seconds = entry.Value.Ticks / (double)Stopwatch.Frequency;
            AddRow(rows, "batched " + (ta == Transpose.None ? "N" : "T") + (tb == Transpose.None ? "N" : "T"), m, n, k, entry.Value.Calls, seconds, stepSeconds);
            batchedSeconds += seconds;
            gemmSeconds += seconds;
            gemmFlops += 2.0 * m * n * k * entry.Value.Calls;
            calls += entry.Value.Calls;
        }

        TwoTowerConfig c = ReferenceConfig();
        foreach (KeyValuePair<(Transpose, Transpose, int, int, int), TimingGemmProvider.ShapeStats> entry in timed.EpilogueShapes)
        {
            (Transpose _, Transpose _, int m, int n, int k) = entry.Key;
            double seconds = entry.Value.Ticks / (double)Stopwatch.Frequency;
            AddRow(rows, "NN+epilogue", m, n, k, entry.Value.Calls, seconds, stepSeconds);
            gemmSeconds += seconds;
            gemmFlops += 2.0 * m * n * k * entry.Value.Calls;
            calls += entry.Value.Calls;
        }

        rows.Sort((x, y) => y.Seconds.CompareTo(x.Seconds));

        // Products can overlap (concurrent dW / dx items, attention groups): the share and rate use the wall time
        // during which any product ran; the per-shape rows below are thread time.
        double threadSeconds = gemmSeconds;
        gemmSeconds = timed.WallTicks / (double)Stopwatch.Frequency;
        batchedSeconds = timed.BatchedWallTicks / (double)Stopwatch.Frequency;
        double peak = 2.0 * 1024 * 1024 * 1024 / squareSeconds;
        double modelFlops = 3.0 * Batch * (c.Image.ForwardFlops() + c.Text.ForwardFlops());
        Console.WriteLine(
            $"// [models] batch {Batch}: step {stepSeconds * 1e3:F1} ms, {Batch / stepSeconds:F1} examples/s; " +
            $"GEMM {gemmSeconds / stepSeconds:P1} of step time (wall; {threadSeconds / stepSeconds:P1} thread time, rows below) over {calls} calls (batched: products), {gemmFlops / 1e9:F2} GFLOP/step " +
            $"at {gemmFlops / gemmSeconds / 1e9:F1} GFLOP/s = {gemmFlops / gemmSeconds / peak:P1} of the 1024^3 SGEMM ({peak / 1e9:F1} GFLOP/s); " +
            $"model FLOPs 3x forward {modelFlops / 1e9:F2} GFLOP/step -> {modelFlops / stepSeconds / 1e9:F1} GFLOP/s overall = {modelFlops / stepSeconds / peak:F3} of the 1024^3 SGEMM; " +
            $"{GemmControl.Describe()}");
        foreach ((double _, string line) in rows)
        {
            Console.WriteLine(line);
        }

        // The fused attention (the path the step runs) reports its products in the batched rows above and its row
        // passes here (thread time; the attention layer calls' wall time is in the GEMM wall total).
        foreach (KeyValuePair<string, TimingGemmProvider.ShapeStats> pass in timed.AttentionPasses)
        {
            double seconds = pass.Value.Ticks / (double)Stopwatch.Frequency;
            Console.WriteLine($"// [models]   {pass.Key,-40} {pass.Value.Calls,6} heads/step, {seconds * 1e3,7:F1} ms/step ({seconds / stepSeconds,6:P1}) thread time");
        }

        (_zi, _zt) = _model.Forward(_images, _tokens);
        double componentSeconds = 0;
        Console.WriteLine($"// [models] batch {Batch}: non-GEMM components, timed standalone at the step's shapes (best of 3):");
        foreach ((string name, double seconds) in TrainingStepComponents.Measure(_model, c, Batch, LossOnly))
        {
            componentSeconds += seconds;
            Console.WriteLine($"// [models]   {name,-64} {seconds * 1e3,8:F1} ms/step ({seconds / stepSeconds,6:P1})");
        }

        // The attention rows include their batched products, which the GEMM total counts too.
        double rest = stepSeconds - gemmSeconds - componentSeconds + batchedSeconds;
        Console.WriteLine($"// [models]   {"rest (embeddings, patchify, pooling, copies; minus the loss's GEMMs counted twice)",-64} {rest * 1e3,8:F1} ms/step ({rest / stepSeconds,6:P1})");
    }

    /// <summary>The same-process on/off A/B lines (<see cref="CompareFusedPaths"/>), filtered by <c>ACED_AB_FILTER</c>.</summary>
    private void CompareAllPaths()
    {
        CompareFusedPaths("fused paths", SetFusedPaths);
        CompareFusedPaths("attention kernels (AVX2 tiles, interleaved softmax rows, output prefetch)", SetAttentionKernels);
        CompareFusedPaths("attention example packing (head-major Q, K, V, dO, dQKV blocks)", on => Aced.Models.Layers.Attention.PackExamples = on);
        CompareFusedPaths("attention head-major qkv (the qkv projection writes the blocks the attention reads)", on => Aced.Models.Layers.Attention.HeadMajorQkv = on);
        CompareFusedPaths("attention forward in the qkv projection's epilogue (head-major qkv on both sides)", on => Aced.Models.Layers.Attention.ForwardInProjection = on);
        CompareFusedPaths("seventh session's attention paths together (head-major qkv, forward in the projection)", SetSeventhSessionAttention);
        CompareFusedPaths("attention backward prefetch spread over a head's stages (attn8; T = 32)", on => Aced.Models.Layers.Attention.SpreadPrefetch = on);
        CompareFusedPaths("attention backward dO read and dQ, dK, dV written in place (step18)", on => Aced.Models.Layers.Attention.InPlaceGradients = on);
        if (GemmKernels.ActiveIsa == GemmIsa.Vector256)
        {
            CompareFusedPaths("GemmSlices AVX2 six-row strips (dW slices, dx blocks)", on => GemmSlices.SixRowStrips = on);
            CompareFusedPaths("forward epilogues strip by strip with prefetch (NN+epilogue)", SetStripEpilogues);
            CompareFusedPaths("GemmSlices AVX2 pipelined dW packing (next unit packed between kernel calls)", on => GemmSlices.PipelinedPacking = on);
            CompareFusedPaths("sixth session's paths together (example packing, strip epilogues, pipelined dW)", SetSixthSessionPaths);
            CompareFusedPaths("GemmSlices AVX2 dW panels a cache line apart (bwd7)", on => GemmSlices.PaddedPanels = on);
            CompareFusedPaths("GemmSlices AVX2 dx next rows prefetched into L2 (bwd7)", on => GemmSlices.NextRowsPrefetch = on);
            CompareFusedPaths("seventh session's backward hints together (bwd7: padded dW panels, dx next rows)", SetBackwardHints);
            CompareFusedPaths("GemmSlices AVX2 dx W^T packed once per thread and layer (dx8)", on => GemmSlices.SharedTransposedB = on);
        }

        CompareFusedPaths("fused layer norm two rows at a time (residual epilogues)", on => Aced.Models.Layers.LayerNormTarget.PairedRows = on);
        CompareFusedPaths("GELU backward and fc1 bias sums in one software-pipelined pass (epi8)", on => Aced.Models.Layers.RowOps.FusedGeluSums = on);
        CompareFusedPaths("seventh session's step paths together (head-major qkv, forward in the projection, bwd7's hints, paired layer norm)", SetSeventhSessionPaths);
        CompareFusedPaths("eighth session's step paths together (dx8 shared W^T, epi8 GELU backward, attn8 prefetch)", SetEighthSessionPaths);
        CompareFusedPaths("causal softmax rows with the prefix tail as one vector (step9)", on => Aced.Models.Layers.AttentionSoftmax.VectorCausal = on);
        CompareFusedPaths("causal softmax rows with the prefix tail as one vector (step9), forward only", on => Aced.Models.Layers.AttentionSoftmax.VectorCausal = on, () => Forward());
        CompareFusedPaths("causal heads skip the zero triangle in their products (fwd10)", on => Aced.Models.Layers.Attention.CausalTriangles = on);
        CompareFusedPaths("causal softmax rows four at a time (fwd10), forward only", on => Aced.Models.Layers.AttentionSoftmax.CausalGroups = on, () => Forward());
        CompareFusedPaths("tenth session's attention paths together (fwd10: triangles, causal row groups)", SetTenthSessionAttention);
        CompareFusedPaths("backward: dx blocks of 512 rows against 1024 (dx10 rows512)", on => Aced.Models.Layers.Linear.InputGradientRows = on ? 512 : 1024);
        CompareFusedPaths("backward: dx blocks of 256 rows against 1024 (dx10 rows256)", on => Aced.Models.Layers.Linear.InputGradientRows = on ? 256 : 1024);
        CompareFusedPaths("backward: dx blocks of 2048 rows against 1024 (dx10 rows2048)", on => Aced.Models.Layers.Linear.InputGradientRows = on ? 2048 : 1024);
        CompareFusedPaths("backward: db from each dx item's rows of dy, not a separate item (bwd11 dbitems)", on => Aced.Models.Layers.Linear.BiasGradientInInputItems = on);
        CompareFusedPaths("GemmSlices AVX2 dW last strip of at most 4 rows with the 4-row kernel (bwd11 fourtail)", on => GemmSlices.FourRowTail = on);
        CompareFusedPaths("eleventh session's backward paths together (bwd11 both: db in the dx items, 4-row dW tail)", SetEleventhSessionBackward);
    }

    /// <summary>Switches fwd10's attention paths together (both on by default): the causal triangles and the causal softmax row groups.</summary>
    private static void SetTenthSessionAttention(bool on)
    {
        Aced.Models.Layers.Attention.CausalTriangles = on;
        Aced.Models.Layers.AttentionSoftmax.CausalGroups = on;
    }

    /// <summary>Switches the eleventh session's backward paths together (bwd11): db in the dx items, the dW 4-row last strip.</summary>
    private static void SetEleventhSessionBackward(bool on)
    {
        Aced.Models.Layers.Linear.BiasGradientInInputItems = on;
        GemmSlices.FourRowTail = on;
    }

    /// <summary>
    /// Switches every step path added in the eighth session together (all on by default): dx8's W^T packed once per
    /// thread and layer (AVX2 path), epi8's one-pass GELU backward with the bias sums, attn8's spread attention-backward
    /// prefetch.
    /// </summary>
    private static void SetEighthSessionPaths(bool on)
    {
        GemmSlices.SharedTransposedB = on;
        Aced.Models.Layers.RowOps.FusedGeluSums = on;
        Aced.Models.Layers.Attention.SpreadPrefetch = on;
    }

    /// <summary>
    /// Switches every step path added in the seventh session together (all on by default): attn7's head-major qkv and
    /// forward in the projection, bwd7's padded dW panels and dx next-rows prefetch, fwd7's paired-row layer norm.
    /// </summary>
    private static void SetSeventhSessionPaths(bool on)
    {
        SetSeventhSessionAttention(on);
        SetBackwardHints(on);
        Aced.Models.Layers.LayerNormTarget.PairedRows = on;
    }

    /// <summary>Switches bwd7's two backward-product changes together (both on by default).</summary>
    private static void SetBackwardHints(bool on)
    {
        GemmSlices.PaddedPanels = on;
        GemmSlices.NextRowsPrefetch = on;
    }

    /// <summary>Switches the attention paths added in the seventh session together (all on by default).</summary>
    private static void SetSeventhSessionAttention(bool on)
    {
        Aced.Models.Layers.Attention.HeadMajorQkv = on;
        Aced.Models.Layers.Attention.ForwardInProjection = on;
    }

    /// <summary>Switches the three step paths added in the sixth session together (all on by default).</summary>
    private static void SetSixthSessionPaths(bool on)
    {
        Aced.Models.Layers.Attention.PackExamples = on;
        SetStripEpilogues(on);
        GemmSlices.PipelinedPacking = on;
    }

    /// <summary>
    /// In-process A/B of the step's fused paths (fused per-head attention, layer norms in the residual epilogues,
    /// unpacked narrow <c>GemmSlices</c> products; all bit-identical to the separate forms) against the same step with
    /// them switched off, alternating step by step: prints the median of the per-round ratios of CPU time and of wall
    /// time (robust to a neighbour's load drifting between rounds). <paramref name="set"/> switches the paths compared;
    /// <paramref name="work"/> is what each round times (default the whole step; the forward for forward-only paths).
    /// </summary>
    private void CompareFusedPaths(string label, Action<bool> set, Action? work = null)
    {
        work ??= () => Step();
        // ACED_AB_FILTER ("a|b|...") runs only the lines whose label contains one of its parts; ACED_AB_ROUNDS sets the
        // rounds (default 9).
        string? only = Environment.GetEnvironmentVariable("ACED_AB_FILTER");
        if (!string.IsNullOrEmpty(only) && !Array.Exists(only.Split('|'), part => label.Contains(part, StringComparison.OrdinalIgnoreCase)))
        {
            return;
        }

        int roundCount = int.TryParse(Environment.GetEnvironmentVariable("ACED_AB_ROUNDS"), out int rounds) && rounds > 0 ? rounds : 9;
        var cpu = new double[roundCount];
        var wall = new double[roundCount];
        var process = Process.GetCurrentProcess();
        try
        {
            for (int r = 0; r < roundCount; r++)
            {
                double onCpu = 0;
                double onWall = 0;
                for (int on = 1; on >= 0; on--)
                {
                    set(on == 1);
                    process.Refresh();
                    TimeSpan cpu0 = process.TotalProcessorTime;
                    long t0 = Stopwatch.GetTimestamp();
                    work();
                    double seconds = Stopwatch.GetElapsedTime(t0).TotalSeconds;
                    process.Refresh();
                    double cpuSeconds = (process.TotalProcessorTime - cpu0).TotalSeconds;
                    if (on == 1)
                    {
                        onCpu = cpuSeconds;
                        onWall = seconds;
                    }
                    else
                    {
                        cpu[r] = onCpu / cpuSeconds;
                        wall[r] = onWall / seconds;
                    }
                }
            }
        }
        finally
        {
            set(true);
        }

        Array.Sort(cpu);
        Array.Sort(wall);
        Console.WriteLine($"// [models] batch {Batch}: {label} on / off, {roundCount} alternating rounds, median of per-round ratios: CPU time {cpu[roundCount / 2]:F3} (range {cpu[0]:F3}-{cpu[roundCount - 1]:F3}), wall time {wall[roundCount / 2]:F3} (range {wall[0]:F3}-{wall[roundCount - 1]:F3})");
    }

    /// <summary>The library's default width limit of the unpacked <c>GemmSlices</c> products.</summary>
    private static readonly int DirectMaxColumnsDefault = GemmSlices.DirectMaxColumns;

    private static void SetFusedPaths(bool on)
    {
        Aced.Models.Layers.Attention.FusedEnabled = on;
        Aced.Models.Layers.TransformerEncoder.FusedNormEnabled = on;
        GemmSlices.DirectMaxColumns = on ? DirectMaxColumnsDefault : 0;
    }

    /// <summary>The forward products' strip-by-strip epilogue delivery and its prefetches (bit-identical to the band tiles).</summary>
    private static void SetStripEpilogues(bool on)
    {
        GemmKernels.EpilogueStripDelivery = on;
        GemmKernels.EpilogueStripPrefetch = on;
    }

    /// <summary>The attention's kernel choices of this session (all bit-identical to the previous ones).</summary>
    private static void SetAttentionKernels(bool on)
    {
        Aced.Models.Layers.Attention.TunedKernels = on;
    }

    private float LossOnly()
    {
        return (float)_loss.Compute(_zi, _zt, LogitParameters.FromLogScale(_model.LogScale.Value[0], _model.Bias.Value[0]), new EmbeddingGradients(_imageGradient, _textGradient)).Loss;
    }

    private static void AddRow(List<(double Seconds, string Line)> rows, string form, int m, int n, int k, long calls, double seconds, double stepSeconds)
    {
        double flops = 2.0 * m * n * k * calls;
        rows.Add((seconds, $"// [models]   {form,-11} m={m,6} n={n,4} k={k,6}: {calls,3} calls/step, {seconds * 1e3,7:F1} ms/step ({seconds / stepSeconds,6:P1}), {flops / seconds / 1e9,6:F1} GFLOP/s"));
    }

    private static double TimeSquare(int size)
    {
        var a = new Matrix(size, size);
        var b = new Matrix(size, size);
        var p = new Matrix(size, size);
        a.Span.Fill(0.5f);
        b.Span.Fill(0.25f);
        Aced.Core.Gemm.Multiply(a, b, p);
        long t0 = Stopwatch.GetTimestamp();
        Aced.Core.Gemm.Multiply(a, b, p);
        return Stopwatch.GetElapsedTime(t0).TotalSeconds;
    }
}
