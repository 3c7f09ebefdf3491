using System;
using System.Text.RegularExpressions;

namespace Aced.Mpi.Tests;

public class MpiSamplerTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(2);

    [MpiFact]
    public void Sample_TwoRanksUnderMpiexec_EqualsSingleProcessEveryStep()
    {
        (int code, string output) = MpiProcess.Run(2, $"\"{MpiProcess.SamplePath()}\" --check --steps 2 --super-batch 600", Limit);
        Assert.True(code == 0, $"exit code {code}:\n{output}");
        Assert.Equal(2, Regex.Matches(output, "over 2 rank\\(s\\) equals the single-process selection").Count);
        Assert.DoesNotContain("DIFFERS", output);
    }

    [MpiFact]
    public void Sample_FourRanksOversubscribed_EqualsSingleProcess()
    {
        (int code, string output) = MpiProcess.Run(4, $"\"{MpiProcess.SamplePath()}\" --check --steps 1 --super-batch 601", Limit);
        Assert.True(code == 0, $"exit code {code}:\n{output}");
        Assert.Contains("over 4 rank(s) equals the single-process selection", output);
        Assert.Equal(4, Regex.Matches(output, "step 0 rank \\d/4").Count);
    }

    [MpiFact]
    public void Sample_RankWithNoCandidates_EveryRankReportsItAndExits()
    {
        // Super-batch of 1 over 2 ranks: rank 0 owns no row.
        (int code, string output) = MpiProcess.Run(2, $"\"{MpiProcess.SamplePath()}\" --steps 1 --super-batch 1", Limit);
        Assert.Equal(2, code);
        Assert.Equal(2, Regex.Matches(output, "rank [01]: .*rank\\(s\\) 0 of 2 have no candidates").Count);
    }

    [Fact]
    public void IsMpichAvailable_AgreesWithLoadingTheLibrary()
    {
        bool available = MpiLibrary.IsMpichAvailable(out string reason);
        bool loads = System.Runtime.InteropServices.NativeLibrary.TryLoad("libmpich.so.12", out _) || System.Runtime.InteropServices.NativeLibrary.TryLoad("libmpi.so.12", out _);
        Assert.Equal(loads, available);
        Assert.Contains(available ? "MPICH" : "apt-get install mpich", reason);
    }
}
