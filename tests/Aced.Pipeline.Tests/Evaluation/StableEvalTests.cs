using System;
using System.Collections.Generic;
using System.IO;
using Aced.Pipeline.Evaluation;

namespace Aced.Pipeline.Tests.Evaluation;

public class StableEvalTests
{
    [Fact]
    public void PrefixLength_HandMadeStds_StopsAtFirstCrossing()
    {
        // std 1, 1.2: sqrt(1 + 1.44)/2 = 0.781 <= 1; + 2: sqrt(6.44)/3 = 0.846 <= 1; + 3: sqrt(15.44)/4 = 0.982 <= 1;
        // + 4: sqrt(31.44)/5 = 1.121 > 1 -> keep 4.
        Assert.Equal(4, StableEval.PrefixLength([1.0, 1.2, 2.0, 3.0, 4.0]));
    }

    [Fact]
    public void PrefixLength_AverageDipsBackBelowAfterCrossing_KeepsPrefixBeforeCrossing()
    {
        // var 1, 3.5, 3.5: n=2 -> sqrt(4.5)/2 = 1.061 > 1 (crossing); n=3 -> sqrt(8)/3 = 0.943 < 1 again.
        // The rule keeps the prefix before the first crossing (the paper's critical point): 1 task.
        double s = Math.Sqrt(3.5);
        Assert.Equal(1, StableEval.PrefixLength([1.0, s, s]));
    }

    [Fact]
    public void PrefixLength_EqualStds_KeepsAll()
    {
        // n equal stds: sqrt(n s^2)/n = s/sqrt(n) <= s for every n.
        Assert.Equal(6, StableEval.PrefixLength([0.5, 0.5, 0.5, 0.5, 0.5, 0.5]));
    }

    [Fact]
    public void PrefixLength_ExactlyAtThreshold_Included()
    {
        // std 1 then sqrt(3): sqrt(1 + 3)/2 = 1 exactly -> still "not above" the threshold.
        Assert.Equal(2, StableEval.PrefixLength([1.0, Math.Sqrt(3.0), 10.0]));
    }

    [Fact]
    public void PrefixLength_NotAscendingOrNegative_Throws()
    {
        Assert.Throws<ArgumentException>(() => StableEval.PrefixLength([2.0, 1.0]));
        Assert.Throws<ArgumentException>(() => StableEval.PrefixLength([-1.0]));
        Assert.Throws<ArgumentException>(() => StableEval.PrefixLength([]));
        Assert.Throws<ArgumentException>(() => StableEval.PrefixLength([1.0, double.NaN]));
    }

    [Fact]
    public void MeanStd_HandComputed_SampleStd()
    {
        (double mean, double std) = StableEval.MeanStd([2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]);
        Assert.Equal(5.0, mean, 12);
        Assert.Equal(Math.Sqrt(32.0 / 7), std, 12);
    }

    [Fact]
    public void Select_SeedRuns_OrdersByStdSkipsRanksAndConstantsAndAverages()
    {
        // a: std 0.01, b: std 0.012, c: std 0.1 (too noisy), d: constant, i2t_mean_rank: not a score.
        var group = new Dictionary<string, double[]>
        {
            ["x/c/top1"] = [0.3, 0.4, 0.5],
            ["x/a/top1"] = [0.50, 0.51, 0.52],
            ["i2t_r5"] = [0.600, 0.612, 0.624],
            ["x/d/top5"] = [1.0, 1.0, 1.0],
            ["i2t_mean_rank"] = [3.0, 9.0, 20.0],
        };
        StableSuite suite = StableEval.Select([group], "shapes");
        Assert.Equal(["x/a/top1", "i2t_r5"], suite.Tasks);
        Assert.Equal(0.01, suite.ThresholdStd, 9);
        Assert.Equal(Math.Sqrt((0.01 * 0.01) + (0.012 * 0.012)) / 2, suite.SuiteStd, 9);
        Assert.Equal(4, suite.Candidates.Count);
        Assert.Equal("x/c/top1", suite.Candidates[2].Name);
        Assert.False(suite.Candidates[2].Included);
        Assert.Equal("constant across seeds", suite.Candidates[3].Reason);
        double avg = suite.Average(new Dictionary<string, double> { ["x/a/top1"] = 0.5, ["i2t_r5"] = 0.7, ["x/c/top1"] = 0.0 });
        Assert.Equal(0.6, avg, 12);
    }

    [Theory]
    [InlineData(0.2)]   // 3 x 0.2 sums to 0.6000000000000001: the naive mean is not 0.2 and the naive std is ~3e-17
    [InlineData(0.1)]
    [InlineData(1.0 / 3)]
    public void MeanStd_EqualValues_StdExactlyZero(double value)
    {
        (double mean, double std) = StableEval.MeanStd([value, value, value]);
        Assert.Equal(0.0, std);
        Assert.Equal(value, mean);
    }

    [Fact]
    public void Select_EqualValuesAcrossSeeds_ConstantNotTheThreshold()
    {
        // A collapsed model's mean per-class recall is exactly 1/C for every seed (seen with 5 classes: 0.2, three seeds).
        // Floating-point rounding must not turn it into the "most reliable task" with std ~1e-17, which would make the
        // threshold ~0 and the suite that single degenerate task.
        var group = new Dictionary<string, double[]>
        {
            ["eval/position/mpcr"] = [0.2, 0.2, 0.2],
            ["i2t_r5"] = [0.600, 0.612, 0.624],
            ["t2i_r5"] = [0.500, 0.513, 0.526],
        };
        StableSuite suite = StableEval.Select([group], "shapes");
        Assert.Equal(["i2t_r5", "t2i_r5"], suite.Tasks);
        Assert.Equal(0.012, suite.ThresholdStd, 9);
        StableTask position = Assert.Single(suite.Candidates, static c => c.Name == "eval/position/mpcr");
        Assert.False(position.Included);
        Assert.Equal("constant across seeds", position.Reason);
    }

    [Fact]
    public void Select_TwoGroups_AveragesPerGroupStds()
    {
        var g1 = new Dictionary<string, double[]> { ["a/t/top1"] = [0.0, 0.2], ["b/t/top1"] = [0.0, 0.1] };
        var g2 = new Dictionary<string, double[]> { ["a/t/top1"] = [0.0, 0.0 + 1e-9], ["b/t/top1"] = [0.0, 0.3] };
        StableSuite suite = StableEval.Select([g1, g2]);
        // a: (0.1414 + ~0) / 2 = 0.0707; b: (0.0707 + 0.2121) / 2 = 0.1414 -> a first.
        Assert.Equal("a/t/top1", suite.Candidates[0].Name);
        Assert.Equal(0.2 / Math.Sqrt(2) / 2, suite.Candidates[0].Std, 6);
    }

    [Fact]
    public void Select_OneSeedOrMissingTask_Throws()
    {
        Assert.Throws<ArgumentException>(() => StableEval.Select([new Dictionary<string, double[]> { ["a/t/top1"] = [0.5] }]));
        var g1 = new Dictionary<string, double[]> { ["a/t/top1"] = [0.1, 0.2] };
        var g2 = new Dictionary<string, double[]> { ["b/t/top1"] = [0.1, 0.2] };
        Assert.Throws<ArgumentException>(() => StableEval.Select([g1, g2]));
        Assert.Throws<ArgumentException>(() => StableEval.Select([new Dictionary<string, double[]> { ["a/t/top1"] = [0.5, 0.5] }]));
    }

    [Fact]
    public void SaveLoad_RoundTrip_SameSuiteAndAverageNamesMissingTask()
    {
        var group = new Dictionary<string, double[]> { ["a/t/top1"] = [0.1, 0.2, 0.25], ["t2i_r5"] = [0.3, 0.35, 0.4] };
        StableSuite suite = StableEval.Select([group], "emoji");
        string path = Path.Combine(Path.GetTempPath(), $"aced-suite-{Guid.NewGuid():N}.json");
        try
        {
            suite.Save(path);
            StableSuite back = StableSuite.Load(path);
            Assert.Equal(suite.Tasks, back.Tasks);
            Assert.Equal("emoji", back.Dataset);
            Assert.Equal(suite.SuiteStd, back.SuiteStd, 12);
            var ex = Assert.Throws<ArgumentException>(() => back.Average(new Dictionary<string, double>()));
            Assert.Contains(back.Tasks[0], ex.Message);
            File.WriteAllText(path, "{ not json");
            Assert.Contains(path, Assert.Throws<InvalidDataException>(() => StableSuite.Load(path)).Message);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void KindOf_Names_Classified()
    {
        Assert.Equal(TaskKind.ZeroShot, EvaluationTasks.KindOf("facebook/group/top1"));
        Assert.Equal(TaskKind.RetrievalRecall, EvaluationTasks.KindOf("i2t_r5"));
        Assert.Equal(TaskKind.RetrievalRecall, EvaluationTasks.KindOf("facebook/t2i_r10"));
        Assert.Equal(TaskKind.RetrievalRank, EvaluationTasks.KindOf("t2i_median_rank"));
        Assert.Equal(TaskKind.Aggregate, EvaluationTasks.KindOf("stable_average"));
        Assert.True(EvaluationTasks.Matches("facebook/group/top1", ["facebook/*"]));
        Assert.False(EvaluationTasks.Matches("i2t_r5", ["facebook/*", "t2i_r5"]));
        Assert.Equal("facebook", EvaluationTasks.SplitPrefix("emoji/facebook"));
    }
}
