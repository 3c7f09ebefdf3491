using System;
using System.Threading;
using System.Threading.Tasks;
using Aced.Core;

namespace Aced.Core.Tests;

/// <summary>Tests that change process-wide GEMM settings run in this collection, one at a time.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class GemmGlobalStateCollection
{
    public const string Name = "GEMM global settings";
}

[Collection(GemmGlobalStateCollection.Name)]
public sealed class GemmGlobalStateTests
{
    private static float[] RunPlain(Transpose ta, Transpose tb, int m, int n, int k, int seed)
    {
        var rng = new System.Random(seed);
        MatrixView a = ta == Transpose.None ? GemmTestHelpers.RandomView(rng, m, k, 3) : GemmTestHelpers.RandomView(rng, k, m, 3);
        MatrixView b = tb == Transpose.None ? GemmTestHelpers.RandomView(rng, k, n) : GemmTestHelpers.RandomView(rng, n, k);
        MatrixView c = GemmTestHelpers.RandomView(rng, m, n, 1);
        Gemm.Multiply(ta, tb, 1.25f, a, b, 0.5f, c);
        return c.Array;
    }

    [Theory]
    [InlineData(Transpose.None, Transpose.None)]
    [InlineData(Transpose.None, Transpose.Transposed)]
    [InlineData(Transpose.Transposed, Transpose.None)]
    [InlineData(Transpose.Transposed, Transpose.Transposed)]
    public void Multiply_DegreeOfParallelism123_BitIdentical(Transpose ta, Transpose tb)
    {
        const int m = 389, n = 301, k = 411; // parallel (above threshold, many tiles, two k blocks)
        float[] reference = Array.Empty<float>();
        GemmTestHelpers.WithSettings(1, 0, GemmIsa.Auto, () => reference = RunPlain(ta, tb, m, n, k, 11));
        foreach (int degree in new[] { 2, 3 })
        {
            float[] result = Array.Empty<float>();
            GemmTestHelpers.WithSettings(degree, 0, GemmIsa.Auto, () => result = RunPlain(ta, tb, m, n, k, 11));
            GemmTestHelpers.AssertBitIdentical(reference, result, $"degree {degree}");
        }

        Assert.True(WorkerPool.WorkerCount >= 2, "degree 3 should have started two pool threads");
    }

    public static TheoryData<int> AvailableIsas()
    {
        var data = new TheoryData<int> { (int)GemmIsa.Vector256, (int)GemmIsa.Scalar, (int)GemmIsa.Vector256Quarters };
        if (System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated)
        {
            data.Add((int)GemmIsa.Vector512);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(AvailableIsas))]
    public void Multiply_EveryIsa_RandomShapesMatchDoubleReference(int isaCode)
    {
        // The FsCheck SGEMM-vs-double property through each kernel, serial and through the worker pool.
        GemmTestHelpers.WithSettings(1, double.MaxValue, (GemmIsa)isaCode, () => GemmCorrectnessTests.CheckProperty(maxTest: 60, maxSize: 70));
        GemmTestHelpers.WithSettings(2, 0, (GemmIsa)isaCode, () => GemmCorrectnessTests.CheckProperty(maxTest: 20, maxSize: 70));
    }

    [Theory]
    [MemberData(nameof(AvailableIsas))]
    public void Multiply_TileEdgeShapes_BitIdenticalAcrossIsas(int isaCode)
    {
        // Rows around the 6 | 2 split of the AVX2 tile and the 8-row panel, columns around the 16 | 16 split
        // and the 32-column panel, k around the k block (384): every element must be the same FMA chain.
        int[] ms = { 1, 2, 5, 6, 7, 8, 9, 14, 15, 16, 22 };
        int[] ns = { 1, 8, 15, 16, 17, 24, 31, 32, 33, 48, 65 };
        int[] ks = { 0, 1, 7, 383, 385 };
        var isa = (GemmIsa)isaCode;
        int seed = 0;
        foreach (int m in ms)
        {
            foreach (int n in ns)
            {
                int k = ks[seed % ks.Length];
                Transpose ta = (seed & 1) == 0 ? Transpose.None : Transpose.Transposed;
                Transpose tb = (seed & 2) == 0 ? Transpose.None : Transpose.Transposed;
                float[] scalar = Array.Empty<float>();
                float[] result = Array.Empty<float>();
                GemmTestHelpers.WithSettings(1, double.MaxValue, GemmIsa.Scalar, () => scalar = RunPlain(ta, tb, m, n, k, seed));
                GemmTestHelpers.WithSettings(1, double.MaxValue, isa, () => result = RunPlain(ta, tb, m, n, k, seed));
                GemmTestHelpers.AssertBitIdentical(scalar, result, $"{isa} m={m} n={n} k={k} {ta}/{tb}");
                seed++;
            }
        }
    }

    [Theory]
    [MemberData(nameof(AvailableIsas))]
    public void Multiply_RowBlocksWithEveryStripRemainder_BitIdenticalToScalarAtAnyDegree(int isaCode)
    {
        // The AVX2 path runs 6-row strips across a whole packed row block (strips straddle the 8-row panels) and
        // 2 x 32 or padded 6 x 16 blocks for the 1..5 rows left; m = 6q + r for every r, several row blocks and
        // column blocks, two k blocks, partial column panels: bit-identical to scalar serially and on 2 and 3 threads.
        var isa = (GemmIsa)isaCode;
        int[] ms = { 36, 37, 38, 39, 40, 41, 131, 263 };
        int seed = 100;
        foreach (int m in ms)
        {
            int n = 289 + (seed % 3) * 17;
            int k = seed % 2 == 0 ? 400 : 130;
            Transpose ta = (seed & 1) == 0 ? Transpose.None : Transpose.Transposed;
            Transpose tb = (seed & 2) == 0 ? Transpose.None : Transpose.Transposed;
            float[] scalar = Array.Empty<float>();
            GemmTestHelpers.WithSettings(1, double.MaxValue, GemmIsa.Scalar, () => scalar = RunPlain(ta, tb, m, n, k, seed));
            foreach (int degree in new[] { 1, 2, 3 })
            {
                float[] result = Array.Empty<float>();
                GemmTestHelpers.WithSettings(degree, 0, isa, () => result = RunPlain(ta, tb, m, n, k, seed));
                GemmTestHelpers.AssertBitIdentical(scalar, result, $"{isa} degree={degree} m={m} n={n} k={k} {ta}/{tb}");
            }

            seed++;
        }
    }

    [Fact]
    public void TailTiles_ByDegree_SplitOnlyWithHelpersAndAtMostHalf()
    {
        // Plans made for a kernel without the AVX2 strips (whose row blocks are multiples of 24, see below).
        GemmPlan big = default, one = default, shortRows = default;
        GemmTestHelpers.WithSettings(1, double.MaxValue, GemmIsa.Scalar, () =>
        {
            big = new GemmPlan(1024, 1024, 1024, epilogue: false);
            one = new GemmPlan(40, 64, 64, epilogue: false);
            // Two column blocks on any L2 (nc follows it), so the partition wants 6 row blocks of 128 rows: 4 of 32.
            shortRows = new GemmPlan(128, 2 * GemmPlan.NcPlain, 512, epilogue: false);
        });
        Assert.Equal(4, GemmDriver.TailParts(big));
        Assert.Equal(0, GemmDriver.TailTiles(big, 1));
        Assert.Equal(2, GemmDriver.TailTiles(big, 2));
        Assert.Equal(4, GemmDriver.TailTiles(big, 3));
        Assert.Equal(0, GemmDriver.TailTiles(one, 8));
        Assert.Equal(32, shortRows.Mc);
        Assert.Equal(0, GemmDriver.TailTiles(shortRows, 2));
        int tiles = big.RowTiles * big.ColTiles;
        Assert.Equal(tiles + (2 * (GemmDriver.TailParts(big) - 1)), GemmDriver.PlainItemCount(big, 2));
    }

    [Fact]
    public void GemmPlan_AvxStrips_RowBlocksAreMultiplesOf24ElseOf8()
    {
        // With the AVX2 strips every plain row block but the last is whole 6-row strips of whole 8-row panels, so no
        // tile runs the 2-row remainder kernel; the epilogue path and the other ISAs keep multiples of 8.
        (int M, int N)[] shapes = { (1024, 1024), (4096, 4096), (777, 601), (128, 512), (100, 64), (20480, 256) };
        GemmTestHelpers.WithSettings(1, double.MaxValue, GemmIsa.Vector256, () =>
        {
            foreach ((int m, int n) in shapes)
            {
                var plan = new GemmPlan(m, n, 300, epilogue: false);
                Assert.True(plan.Mc % GemmPlan.StripQuantum == 0, $"m={m} n={n}: mc={plan.Mc}");
                Assert.True(plan.Mc <= Math.Max(GemmPlan.StripQuantum, GemmPlan.McPlain), $"m={m} n={n}: mc={plan.Mc}");
                Assert.True((long)plan.Mc * plan.RowTiles >= m && (long)plan.Mc * (plan.RowTiles - 1) < m, $"m={m}: {plan.RowTiles} x {plan.Mc}");
                Assert.Equal(0, new GemmPlan(m, n, 300, epilogue: true).Mc % GemmPlan.MR);
            }

            Assert.Equal(120, new GemmPlan(1024, 1024, 1024, epilogue: false).Mc);
        });
        GemmTestHelpers.WithSettings(1, double.MaxValue, GemmIsa.Scalar, () =>
            Assert.Equal(GemmPlan.McPlain, new GemmPlan(4096, 4096, 4096, epilogue: false).Mc));
    }

    [Theory]
    [MemberData(nameof(AvailableIsas))]
    public void Multiply_SplitTailTilesWithShortLastRowBlock_BitIdenticalToScalarAtAnyDegree(int isaCode)
    {
        // The last tiles run as row parts on 2 and 3 threads (mc 40, 72, 112, 128: 1, 2, 3, 4 parts); short last row
        // blocks leave empty and partial parts. Every element must still be computed once, with the scalar kernel's bits.
        var isa = (GemmIsa)isaCode;
        foreach (int m in new[] { 137, 273, 417, 1020 })
        {
            const int n = 520, k = 401;
            float[] scalar = Array.Empty<float>();
            GemmTestHelpers.WithSettings(1, double.MaxValue, GemmIsa.Scalar, () => scalar = RunPlain(Transpose.None, Transpose.None, m, n, k, m));
            foreach (int degree in new[] { 1, 2, 3 })
            {
                float[] result = Array.Empty<float>();
                GemmTestHelpers.WithSettings(degree, 0, isa, () => result = RunPlain(Transpose.None, Transpose.None, m, n, k, m));
                GemmTestHelpers.AssertBitIdentical(scalar, result, $"{isa} degree={degree} m={m}");
            }
        }
    }

    [Fact]
    public void SharesB_ByDegreeAndShape_OnlyWithHelpersEnoughRowBlocksAndOneColumnGroup()
    {
        var big = new GemmPlan(1024, 1024, 1024, epilogue: false);
        var huge = new GemmPlan(4096, 4096, 4096, epilogue: false);
        var shortRows = new GemmPlan(100, 512, 512, epilogue: false);
        Assert.Equal(3, shortRows.RowTiles);
        Assert.False(GemmDriver.SharesB(big, 1));
        Assert.True(GemmDriver.SharesB(big, 2));
        Assert.Equal(big.RowTiles - 2, GemmDriver.RowBlockItems(big, 2));
        Assert.Equal(big.RowTiles - 4, GemmDriver.RowBlockItems(big, 3));
        Assert.Equal(0, GemmDriver.RowBlockItems(big, 1));
        Assert.False(GemmDriver.SharesB(huge, 2)); // B (64 MiB) is more than one column group
        Assert.False(GemmDriver.SharesB(shortRows, 2)); // fewer than two row blocks per thread
    }

    [Theory]
    [MemberData(nameof(AvailableIsas))]
    public void Multiply_SharedPackedBOddSizes_BitIdenticalToSingleThreadAndNearDoubleReference(int isaCode)
    {
        // Shapes with at least 6 row blocks, so 2 and 3 threads share one packed B and run whole row blocks as items,
        // with a partial last row block, column block, micro-panel and k block; both B layouts.
        var isa = (GemmIsa)isaCode;
        int seed = 11;
        foreach ((int m, int n, int k, Transpose tb) in new[] { (777, 601, 803, Transpose.None), (801, 297, 385, Transpose.Transposed), (1031, 70, 33, Transpose.None) })
        {
            var plan = new GemmPlan(m, n, k, epilogue: false);
            Assert.True(GemmDriver.SharesB(plan, 3), $"m={m} n={n} k={k} must take the shared-B path on 3 threads");
            var rng = new System.Random(seed++);
            MatrixView a = GemmTestHelpers.RandomView(rng, m, k, 3);
            MatrixView b = tb == Transpose.None ? GemmTestHelpers.RandomView(rng, k, n, 1) : GemmTestHelpers.RandomView(rng, n, k, 1);
            MatrixView c0 = GemmTestHelpers.RandomView(rng, m, n, 2);
            (double[] expected, double[] scale) = GemmTestHelpers.Reference(Transpose.None, tb, 1.25f, a, b, 0.5f, c0, m, n, k);
            float[] single = Array.Empty<float>();
            foreach (int degree in new[] { 1, 2, 3 })
            {
                var c = new MatrixView((float[])c0.Array.Clone(), c0.Offset, c0.Rows, c0.Columns, c0.Stride);
                GemmTestHelpers.WithSettings(degree, 0, isa, () => Gemm.Multiply(Transpose.None, tb, 1.25f, a, b, 0.5f, c));
                GemmTestHelpers.AssertClose(expected, scale, c, m, n, k, $"{isa} degree={degree} m={m} n={n} k={k} {tb}");
                if (degree == 1)
                {
                    single = c.Array;
                }
                else
                {
                    GemmTestHelpers.AssertBitIdentical(single, c.Array, $"{isa} degree={degree} m={m} n={n} k={k} {tb}");
                }
            }
        }
    }

    [Fact]
    public void Multiply_SharedBCallsWhoseHelpersNeverJoin_CompleteBitIdentical()
    {
        // Several callers at once on 2 threads: one call gets the worker pool, the others run alone with a partition made
        // for 2 threads (shared B, row-block items) and no helper ever joining. Each must finish with single-thread bits.
        const int m = 520, n = 300, k = 700;
        var rng = new System.Random(5);
        MatrixView a = GemmTestHelpers.RandomView(rng, m, k);
        MatrixView b = GemmTestHelpers.RandomView(rng, k, n);
        float[] expected = new float[m * n];
        GemmTestHelpers.WithSettings(1, double.MaxValue, GemmIsa.Auto, () => Gemm.Multiply(Transpose.None, Transpose.None, 1f, a, b, 0f, new MatrixView(expected, m, n)));
        Assert.True(GemmDriver.SharesB(new GemmPlan(m, n, k, epilogue: false), 2));
        GemmTestHelpers.WithSettings(2, 0, GemmIsa.Auto, () =>
        {
            var results = new float[4][];
            var tasks = new Task[results.Length];
            for (int t = 0; t < tasks.Length; t++)
            {
                int index = t;
                tasks[t] = Task.Run(() =>
                {
                    var c = new float[m * n];
                    for (int r = 0; r < 5; r++)
                    {
                        Gemm.Multiply(Transpose.None, Transpose.None, 1f, a, b, 0f, new MatrixView(c, m, n));
                    }

                    results[index] = c;
                });
            }

            Assert.True(Task.WaitAll(tasks, TimeSpan.FromMinutes(2)), "a shared-B call did not finish");
            foreach (float[] c in results)
            {
                GemmTestHelpers.AssertBitIdentical(expected, c, "concurrent shared-B call");
            }
        });
    }

    [Fact]
    public void ProviderName_Avx2Forced_NamesTheSixBySixteenTile()
    {
        string avx2 = string.Empty;
        string avx512 = string.Empty;
        GemmTestHelpers.WithSettings(1, 0, GemmIsa.Vector256, () => avx2 = ManagedGemmProvider.Instance.Name);
        GemmTestHelpers.WithSettings(1, 0, GemmIsa.Vector512, () => avx512 = ManagedGemmProvider.Instance.Name);
        Assert.Contains("Vector256, 6x16 register tile", avx2, StringComparison.Ordinal);
        Assert.DoesNotContain("8x32 register tile", avx2, StringComparison.Ordinal);
        Assert.Contains("Vector512, 8x32 register tile", avx512, StringComparison.Ordinal);
    }

    [Fact]
    public void Multiply_ParallelOnSmallShapes_MatchesReference()
    {
        // Threshold 0 sends even tiny products through the worker pool.
        GemmTestHelpers.WithSettings(3, 0, GemmIsa.Auto, () => GemmCorrectnessTests.CheckProperty(maxTest: 60, maxSize: 70));
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void Multiply_FallbackKernels_BitIdenticalToDefault(int isaCode)
    {
        var isa = (GemmIsa)isaCode; // 2 = Vector256 (6x16 + 2x32), 3 = scalar, 4 = Vector256 quarters (bench yardstick)
        float[] reference = Array.Empty<float>();
        GemmTestHelpers.WithSettings(2, 0, GemmIsa.Auto, () => reference = RunPlain(Transpose.None, Transpose.Transposed, 77, 131, 400, 3));
        float[] result = Array.Empty<float>();
        GemmTestHelpers.WithSettings(2, 0, isa, () => result = RunPlain(Transpose.None, Transpose.Transposed, 77, 131, 400, 3));
        GemmTestHelpers.AssertBitIdentical(reference, result, isa.ToString());
        GemmTestHelpers.WithSettings(1, 0, isa, () => GemmTestHelpers.CheckCase(new System.Random(8), Transpose.Transposed, Transpose.None, 45, 70, 33, -1f, 0.5f, 2));
    }

    [Fact]
    public void MultiplyWithEpilogue_DegreeOfParallelism123_BitIdenticalAndOrdered()
    {
        const int m = 300, n = 530, k = 70;
        var rng = new System.Random(4);
        MatrixView a = GemmTestHelpers.RandomView(rng, m, k);
        MatrixView b = GemmTestHelpers.RandomView(rng, n, k);
        float[]? reference = null;
        foreach (int degree in new[] { 1, 2, 3 })
        {
            GemmTestHelpers.WithSettings(degree, 0, GemmIsa.Auto, () =>
            {
                var recorder = new RecordingEpilogue(m, n);
                Gemm.MultiplyWithEpilogue(Transpose.None, Transpose.Transposed, 1f, a, b, recorder);
                recorder.AssertCompleteAndOrdered();
                if (reference is null)
                {
                    reference = recorder.Product;
                }
                else
                {
                    GemmTestHelpers.AssertBitIdentical(reference, recorder.Product, $"epilogue degree {degree}");
                }
            });
        }
    }

    [Fact]
    public void Multiply_ConcurrentCallers_AllCorrect()
    {
        GemmTestHelpers.WithSettings(2, 0, GemmIsa.Auto, () =>
        {
            float[] expected = RunPlain(Transpose.None, Transpose.None, 150, 170, 90, 21);
            var results = new float[4][];
            Parallel.For(0, 4, i => results[i] = RunPlain(Transpose.None, Transpose.None, 150, 170, 90, 21));
            foreach (float[] r in results)
            {
                GemmTestHelpers.AssertBitIdentical(expected, r, "concurrent caller");
            }
        });
    }

    [Fact]
    public void MultiplyWithEpilogue_NestedGemmInsideEpilogue_DoesNotDeadlockAndIsCorrect()
    {
        GemmTestHelpers.WithSettings(2, 0, GemmIsa.Auto, () =>
        {
            var rng = new System.Random(6);
            MatrixView a = GemmTestHelpers.RandomView(rng, 200, 40);
            MatrixView b = GemmTestHelpers.RandomView(rng, 40, 90);
            var small = GemmTestHelpers.RandomView(rng, 33, 35);
            var failures = new int[1];
            var nested = new NestedEpilogue(small, failures);
            var task = Task.Run(() => Gemm.MultiplyWithEpilogue(Transpose.None, Transpose.None, 1f, a, b, nested));
            Assert.True(task.Wait(TimeSpan.FromSeconds(60)), "nested GEMM deadlocked");
            Assert.Equal(0, failures[0]);
        });
    }

    [Fact]
    public void MultiplyWithEpilogue_EpilogueThrows_ExceptionPropagatesAndPoolRecovers()
    {
        GemmTestHelpers.WithSettings(2, 0, GemmIsa.Auto, () =>
        {
            var rng = new System.Random(2);
            MatrixView a = GemmTestHelpers.RandomView(rng, 400, 20);
            MatrixView b = GemmTestHelpers.RandomView(rng, 20, 50);
            Assert.Throws<InvalidOperationException>(() => Gemm.MultiplyWithEpilogue(Transpose.None, Transpose.None, 1f, a, b, new ThrowingEpilogue(130)));
            GemmTestHelpers.CheckCase(rng, Transpose.None, Transpose.None, 200, 100, 50, 1f, 0f, 0);
        });
    }

    [Fact]
    public void Multiply_SteadyState_AllocatesNothing()
    {
        GemmTestHelpers.WithSettings(2, 0, GemmIsa.Auto, () =>
        {
            var rng = new System.Random(3);
            MatrixView a = GemmTestHelpers.RandomView(rng, 300, 200);
            MatrixView b = GemmTestHelpers.RandomView(rng, 250, 200);
            var c = new Matrix(300, 250);
            var sums = new double[300];
            var epilogue = new SumEpilogue(sums);
            // One-time buffer growth happens when a worker first gets a tile, which under load may be late:
            // the steady state is reached when some round of 10 calls allocates (almost) nothing.
            long allocated = SteadyStateAllocation.MinimumBytes(
                () =>
                {
                    Gemm.Multiply(Transpose.None, Transpose.Transposed, 1f, a, b, 0f, c);
                    Gemm.MultiplyWithEpilogue(Transpose.None, Transpose.Transposed, 1f, a, b, epilogue);
                },
                callsPerRound: 10,
                enough: 1023,
                warmUp: 3);

            Assert.True(allocated < 1024, $"20 steady-state calls allocated {allocated} bytes");
        });
    }

    [Theory]
    [InlineData(1L << 20)] // every column block cached
    [InlineData(400_000L)] // two of the three column blocks cached (groups of 2, then 1)
    [InlineData(300_000L)] // one column block (all of k) cached at a time
    [InlineData(1_000L)] // one k block at a time
    public void Multiply_PackedBCacheModes_MatchReferenceAndEachOther(long budget)
    {
        long old = GemmWorkspace.MultiSlotBudget;
        try
        {
            GemmWorkspace.MultiSlotBudget = budget;
            // k = 800 gives 3 k blocks, n = 600 gives 3 column blocks: k * nc = 800 * 224 = 179200 floats per block.
            GemmTestHelpers.WithSettings(2, 0, GemmIsa.Auto, () =>
            {
                GemmTestHelpers.CheckCase(new System.Random(17), Transpose.None, Transpose.Transposed, 150, 600, 800, 1f, 0.5f, 1);
                var rng = new System.Random(18);
                MatrixView a = GemmTestHelpers.RandomView(rng, 90, 800);
                MatrixView b = GemmTestHelpers.RandomView(rng, 800, 600);
                var recorder = new RecordingEpilogue(90, 600);
                Gemm.MultiplyWithEpilogue(Transpose.None, Transpose.None, 1f, a, b, recorder);
                recorder.AssertCompleteAndOrdered();
                var c = new Matrix(90, 600);
                Gemm.Multiply(a, b, c);
                GemmTestHelpers.AssertBitIdentical(c.Data, recorder.Product, "epilogue vs plain");
            });
        }
        finally
        {
            GemmWorkspace.MultiSlotBudget = old;
        }
    }

    [Fact]
    public void ParallelThreshold_Invalid_Throws()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => GemmControl.ParallelThreshold = -1);
        Assert.Throws<ArgumentOutOfRangeException>(() => GemmControl.ParallelThreshold = double.NaN);
        Assert.Throws<ArgumentOutOfRangeException>(() => GemmControl.MaxDegreeOfParallelism = 0);
    }

    private readonly struct NestedEpilogue : IGemmEpilogue
    {
        private readonly MatrixView _small;
        private readonly int[] _failures;

        public NestedEpilogue(MatrixView small, int[] failures)
        {
            _small = small;
            _failures = failures;
        }

        public void Apply(int rowStart, int columnStart, int rows, int columns, Span<float> tile, int stride)
        {
            var c = new Matrix(_small.Rows, _small.Rows);
            Gemm.Multiply(Transpose.None, Transpose.Transposed, 1f, _small, _small, 0f, c);
            for (int i = 0; i < c.Rows; i++)
            {
                double expected = 0;
                for (int p = 0; p < _small.Columns; p++)
                {
                    expected += (double)_small[i, p] * _small[i, p];
                }

                if (Math.Abs(c[i, i] - expected) > 1e-4 * expected)
                {
                    Interlocked.Increment(ref _failures[0]);
                }
            }
        }
    }

    private readonly struct SumEpilogue : IGemmEpilogue
    {
        private readonly double[] _sums;

        public SumEpilogue(double[] sums) => _sums = sums;

        public void Apply(int rowStart, int columnStart, int rows, int columns, Span<float> tile, int stride)
        {
            for (int r = 0; r < rows; r++)
            {
                _sums[rowStart + r] = System.Numerics.Tensors.TensorPrimitives.Sum(tile.Slice(r * stride, columns));
            }
        }
    }

    private readonly struct ThrowingEpilogue : IGemmEpilogue
    {
        private readonly int _failRow;

        public ThrowingEpilogue(int failRow) => _failRow = failRow;

        public void Apply(int rowStart, int columnStart, int rows, int columns, Span<float> tile, int stride)
        {
            if (rowStart <= _failRow && _failRow < rowStart + rows)
            {
                throw new InvalidOperationException("epilogue failure");
            }
        }
    }
}
