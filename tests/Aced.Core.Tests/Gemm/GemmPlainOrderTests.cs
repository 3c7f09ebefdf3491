using System;
using Aced.Core;

namespace Aced.Core.Tests;

/// <summary>
/// The plain path's column groups (<see cref="GemmDriver.SmallGroups"/>: smaller groups on several threads, so tiles run
/// column-block-major with A packed micro-panel by micro-panel) change only which thread computes which tile and in
/// which order: results must be the same bits as the scalar kernel with the switches off, for every transpose, partial tile and
/// thread count 1/2/3, with the default group budget and one small enough that every call takes the new paths; likewise
/// the one-thread column-block-major order over A packed once per call (<see cref="GemmDriver.CallAPacking"/>), with and
/// without the prefetching kernel that reads that A back (<see cref="GemmDriver.CallAStream"/>).
/// </summary>
[Collection(GemmGlobalStateCollection.Name)]
public sealed class GemmPlainOrderTests
{
    private static float[] Run(bool smallGroups, long groupFloats, GemmIsa isa, int degree, Transpose ta, Transpose tb, int m, int n, int k, int seed, bool callA = false, bool callAStream = true)
    {
        bool oldCallA = GemmDriver.CallAPacking;
        bool oldStream = GemmDriver.CallAStream;
        long oldBudget = GemmWorkspace.MultiSlotBudget;
        bool oldSmall = GemmDriver.SmallGroups;
        long oldFloats = GemmDriver.PlainGroupFloats;
        float[] result = Array.Empty<float>();
        try
        {
            GemmDriver.SmallGroups = smallGroups;
            GemmDriver.PlainGroupFloats = groupFloats;
            GemmDriver.CallAPacking = callA;
            GemmDriver.CallAStream = callAStream;

            // With call-long A packing, a budget of a few column blocks so that the test shapes have several column groups.
            GemmWorkspace.MultiSlotBudget = callA ? 2L * k * 256 : oldBudget;
            GemmTestHelpers.WithSettings(degree, degree == 1 ? double.MaxValue : 0, isa, () =>
            {
                var rng = new System.Random(seed);
                MatrixView a = ta == Transpose.None ? GemmTestHelpers.RandomView(rng, m, k, 3) : GemmTestHelpers.RandomView(rng, k, m, 3);
                MatrixView b = tb == Transpose.None ? GemmTestHelpers.RandomView(rng, k, n, 5) : GemmTestHelpers.RandomView(rng, n, k, 5);
                MatrixView c = GemmTestHelpers.RandomView(rng, m, n, 1);
                Gemm.Multiply(ta, tb, 1.25f, a, b, 0.5f, c);
                result = c.Array;
            });
            return result;
        }
        finally
        {
            GemmDriver.SmallGroups = oldSmall;
            GemmDriver.PlainGroupFloats = oldFloats;
            GemmDriver.CallAPacking = oldCallA;
            GemmDriver.CallAStream = oldStream;
            GemmWorkspace.MultiSlotBudget = oldBudget;
        }
    }

    [Theory]
    [InlineData(Transpose.None, Transpose.None)]
    [InlineData(Transpose.None, Transpose.Transposed)]
    [InlineData(Transpose.Transposed, Transpose.None)]
    [InlineData(Transpose.Transposed, Transpose.Transposed)]
    public void Multiply_SmallGroupsAndCallLongAOnAndOff_BitIdenticalToScalarAtAnyDegree(Transpose ta, Transpose tb)
    {
        // Several k blocks, several column blocks (n > 256: groups), partial row
        // and column tiles, a shared-B shape on 2 threads (301 x 289) and one too large for a shared B at the small budget.
        (int M, int N, int K)[] shapes = { (301, 289, 800), (131, 600, 1000), (77, 530, 385), (263, 536, 97), (40, 70, 769), (300, 1100, 420) };
        int seed = 70;
        foreach ((int m, int n, int k) in shapes)
        {
            float[] scalar = Run(false, 1L << 20, GemmIsa.Scalar, 1, ta, tb, m, n, k, seed);
            foreach (int degree in new[] { 1, 2, 3 })
            {
                string label = $"m={m} n={n} k={k} {ta}/{tb} degree={degree}";
                GemmTestHelpers.AssertBitIdentical(scalar, Run(false, 1L << 20, GemmIsa.Vector512, degree, ta, tb, m, n, k, seed), "switches off " + label);
                GemmTestHelpers.AssertBitIdentical(scalar, Run(true, 1L << 20, GemmIsa.Vector512, degree, ta, tb, m, n, k, seed), "default budget " + label);
                GemmTestHelpers.AssertBitIdentical(scalar, Run(true, 4096, GemmIsa.Vector512, degree, ta, tb, m, n, k, seed), "small budget " + label);
                GemmTestHelpers.AssertBitIdentical(scalar, Run(true, 4096, GemmIsa.Vector256, degree, ta, tb, m, n, k, seed), "AVX2, switches on " + label);
                float[] callAOn = Run(true, 1L << 20, GemmIsa.Vector512, degree, ta, tb, m, n, k, seed, callA: true);
                GemmTestHelpers.AssertBitIdentical(scalar, callAOn, "call-long A " + label);
                GemmTestHelpers.AssertBitIdentical(scalar, Run(true, 4096, GemmIsa.Vector512, degree, ta, tb, m, n, k, seed, callA: true), "call-long A, small budget " + label);
                GemmTestHelpers.AssertBitIdentical(Run(true, 1L << 20, GemmIsa.Vector512, degree, ta, tb, m, n, k, seed, callA: true, callAStream: false), callAOn, "call-long A, its A stream off vs on " + label);
            }

            seed++;
        }
    }

    [Fact]
    public void CallAOrder_OnlyOneThreadAvx512WithSeveralGroups()
    {
        var large = new GemmPlan(4096, 4096, 4096, epilogue: false);
        Assert.True(GemmWorkspace.BSlots(large) > 1 && GemmWorkspace.BSlots(large) < large.ColTiles);
        Assert.True(GemmDriver.CallAOrder(large, 1, GemmIsa.Vector512));
        Assert.False(GemmDriver.CallAOrder(large, 2, GemmIsa.Vector512));
        Assert.False(GemmDriver.CallAOrder(large, 1, GemmIsa.Vector256));
        Assert.False(GemmDriver.CallAOrder(new GemmPlan(1024, 1024, 1024, epilogue: false), 1, GemmIsa.Vector512));
    }

    [Fact]
    public void PlainGroup_SmallOnlyOnSeveralAvx512ThreadsWithoutSharedB()
    {
        var plan = new GemmPlan(4096, 4096, 4096, epilogue: false);
        int slots = Math.Max(1, GemmWorkspace.BSlots(plan));
        Assert.Equal(slots, GemmDriver.PlainGroup(plan, 1, sharedB: false, GemmIsa.Vector512));
        Assert.Equal(slots, GemmDriver.PlainGroup(plan, 2, sharedB: true, GemmIsa.Vector512));
        Assert.Equal(slots, GemmDriver.PlainGroup(plan, 2, sharedB: false, GemmIsa.Vector256));
        Assert.Equal((int)Math.Clamp(GemmDriver.PlainGroupFloats / plan.PackedBlockFloats, 1, slots), GemmDriver.PlainGroup(plan, 2, sharedB: false, GemmIsa.Vector512));
        Assert.True(GemmDriver.PlainGroup(plan, 2, sharedB: false, GemmIsa.Vector512) < slots);
    }
}
