using System;
using System.Collections.Generic;
using System.IO;
using Aced.Pipeline.Data;
using Aced.Pipeline.Evaluation;
using Aced.Pipeline.Reports;
using Aced.Pipeline.Tests.Training;
using Aced.Pipeline.Training;

namespace Aced.Pipeline.Tests.Evaluation;

/// <summary>Records what a grid reported.</summary>
internal sealed class RecordingObserver : ICompareObserver
{
    public List<string> Messages { get; } = [];

    public List<CellRecord> Ended { get; } = [];

    public int Steps { get; private set; }

    public int Cells { get; private set; }

    public void OnGridStart(int cells) => Cells = cells;

    public void OnCellStart(string label, int seed, int index)
    {
    }

    public void OnCellEnd(CellRecord cell) => Ended.Add(cell);

    public void OnStart(TrainingStart start)
    {
    }

    public void OnStep(StepMetrics metrics) => Steps++;

    public void OnMessage(string message) => Messages.Add(message);
}

/// <summary>One tiny grid (iid, h-acid, iid at matched compute, a rho-loss arm that must fail) x 2 seeds, run once.</summary>
public sealed class TinyGridFixture : IDisposable
{
    public TinyGridFixture()
    {
        OutDir = Path.Combine(Path.GetTempPath(), "aced-compare-tests-" + Guid.NewGuid().ToString("N"));
        Options = Grid(OutDir);
        First = new RecordingObserver();
        Results = CompareRunner.Run(Options, First);
    }

    internal static CompareGridOptions Grid(string outDir) => new()
    {
        Dataset = "shapes",
        Methods = ["iid", "h-acid", "rho-loss", "iid:matched"],
        Seeds = 2,
        Steps = 4,
        BatchSize = 16,
        ReferenceSteps = 6,
        ReferenceBatchSize = 16,
        ReferenceSize = "Mu",
        EvalEvery = 2,
        OutDir = outDir,
        Data = TrainingFixture.TinyData,
        Base = TrainingFixture.Options(outDir),
    };

    public string OutDir { get; }

    internal CompareGridOptions Options { get; }

    internal RecordingObserver First { get; }

    public CompareResults Results { get; }

    public void Dispose()
    {
        try
        {
            Directory.Delete(OutDir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

public class CompareRunnerTests(TinyGridFixture grid) : IClassFixture<TinyGridFixture>
{
    [Fact]
    public void Run_TinyGrid_FailedCellReportedAndOthersFinished()
    {
        CompareResults r = grid.Results;
        Assert.Equal(8, grid.First.Cells);
        Assert.Equal(["iid", "h-acid", "rho-loss", "iid matched"], r.Arms);
        int done = 0;
        foreach (CellRecord c in r.Cells)
        {
            if (c.Arm == "rho-loss")
            {
                Assert.Equal("failed", c.Status);
                Assert.Contains("holdout", c.Error!, StringComparison.OrdinalIgnoreCase);
            }
            else
            {
                Assert.True(c.IsDone, $"{c.Arm} seed {c.Seed}: {c.Error}");
                Assert.True(File.Exists(Path.Combine(c.RunDirectory, CompareRunner.CellFile)));
                Assert.True(File.Exists(Path.Combine(c.RunDirectory, RunEvaluation.EvalFile)));
                Assert.True(c.Values.ContainsKey(EvaluationTasks.StableAverage));
                done++;
            }
        }

        Assert.Equal(6, done);
    }

    [Fact]
    public void Run_TinyGrid_CurvesFollowCheckpointsAndFlopsGrow()
    {
        foreach (CellRecord c in grid.Results.Cells)
        {
            if (c.Arm != "iid" && c.Arm != "h-acid")
            {
                continue;
            }

            // EvalEvery = 2 with 4 steps: the step-2 checkpoint and the final model.
            Assert.Equal([2L, 4L], new[] { c.Curve[0].Step, c.Curve[1].Step });
            Assert.True(c.Curve[0].SamplesSeen > 0 && c.Curve[1].SamplesSeen == 2 * c.Curve[0].SamplesSeen);
            Assert.True(c.Curve[1].Flops > c.Curve[0].Flops);
            Assert.Equal(c.Values[EvaluationTasks.StableAverage], c.Curve[^1].Values[EvaluationTasks.StableAverage], 12);
        }
    }

    [Fact]
    public void Run_MatchedComputeArm_TrainsMoreStepsAtAboutTheSelectingArmsFlops()
    {
        CellRecord? iid = null;
        CellRecord? hacid = null;
        CellRecord? matched = null;
        foreach (CellRecord c in grid.Results.Cells)
        {
            if (c.Seed == 1)
            {
                switch (c.Arm)
                {
                    case "iid": iid = c; break;
                    case "h-acid": hacid = c; break;
                    case "iid matched": matched = c; break;
                }
            }
        }

        Assert.True(hacid!.Flops > iid!.Flops, "h-acid scores the super-batch with the student, so costs more per step");
        Assert.True(matched!.Steps > iid.Steps);
        Assert.InRange(matched.Flops / hacid.Flops, 0.75, 1.25);
    }

    [Fact]
    public void Run_Outputs_CsvJsonSuiteAndReportWritten()
    {
        string csv = File.ReadAllText(Path.Combine(grid.OutDir, "results.csv"));
        Assert.StartsWith("method,seed,task,value\n", csv, StringComparison.Ordinal);
        Assert.Contains("\niid,2,stable_average,", csv, StringComparison.Ordinal);
        Assert.Contains("\nh-acid,1,i2t_r5,", csv, StringComparison.Ordinal);
        Assert.Contains("\niid matched,1,t2i_r5,", csv, StringComparison.Ordinal);
        Assert.DoesNotContain("\nrho-loss,", csv, StringComparison.Ordinal);
        CompareResults back = CompareResults.Load(Path.Combine(grid.OutDir, "results.json"));
        Assert.Equal(grid.Results.Cells.Count, back.Cells.Count);
        StableSuite suite = StableSuite.Load(Path.Combine(grid.OutDir, "suite.json"));
        Assert.NotEmpty(suite.Tasks);
        string html = File.ReadAllText(Path.Combine(grid.OutDir, "report.html"));
        foreach (string id in HtmlReport.PlotIds)
        {
            Assert.Contains($"id=\"{id}\"", html, StringComparison.Ordinal);
        }

        Assert.Contains("rho-loss seed 1", html, StringComparison.Ordinal);
    }

    [Fact]
    public void Run_Again_ReusesFinishedCellsWithSameValues()
    {
        var second = new RecordingObserver();
        CompareResults again = CompareRunner.Run(grid.Options, second);
        int reused = 0;
        foreach (string m in second.Messages)
        {
            reused += m.Contains("finished before", StringComparison.Ordinal) ? 1 : 0;
        }

        Assert.Equal(6, reused);
        Assert.Equal(0, second.Steps); // no done cell trained again; rho-loss fails before its first step
        for (int i = 0; i < again.Cells.Count; i++)
        {
            if (again.Cells[i].IsDone)
            {
                Assert.Equal(grid.Results.Cells[i].Values[EvaluationTasks.StableAverage], again.Cells[i].Values[EvaluationTasks.StableAverage], 15);
            }
        }
    }

    [ChromiumFact]
    public void Report_OfRealGrid_LoadsCleanlyInChromium() =>
        BrowserTests.AssertReportLoadsCleanly(Path.Combine(grid.OutDir, "report.html"));

    [Fact]
    public void Run_UnknownMethodOrModifier_ThrowsNamingMethodsBeforeTraining()
    {
        string dir = Path.Combine(Path.GetTempPath(), "aced-bad-" + Guid.NewGuid().ToString("N"));
        var ex = Assert.Throws<TrainingConfigurationException>(() => CompareRunner.Run(TinyGridFixture.Grid(dir) with { Methods = ["iid", "nope"] }, new RecordingObserver()));
        Assert.Equal("--methods", ex.Option);
        Assert.Contains("nope", ex.Message, StringComparison.Ordinal);
        ex = Assert.Throws<TrainingConfigurationException>(() => CompareRunner.Run(TinyGridFixture.Grid(dir) with { Methods = ["iid:fast"] }, new RecordingObserver()));
        Assert.Contains("fast", ex.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(dir));
    }
}

public class CompareArmTests
{
    [Fact]
    public void Run_FixedDataOrder_SeedsChangeOnlyTheInitialisation()
    {
        string dir = Path.Combine(Path.GetTempPath(), "aced-compare-order-" + Guid.NewGuid().ToString("N"));
        try
        {
            CompareGridOptions options = TinyGridFixture.Grid(dir) with { Methods = ["iid"], Steps = 2, EvalEvery = 0, FixedDataOrder = true };
            CompareRunner.Run(options, new RecordingObserver());
            TrainOptions first = TrainingRun.Load(Path.Combine(dir, "runs", "iid", "seed-1")).Options;
            TrainOptions second = TrainingRun.Load(Path.Combine(dir, "runs", "iid", "seed-2")).Options;
            Assert.Equal(first.Seed, second.Seed);
            Assert.NotEqual(first.ResolvedInitSeed, second.ResolvedInitSeed);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Expand_Sweeps_OneFactorArmsForSelectingAndReferenceMethods()
    {
        List<CompareArm> arms = CompareArm.Expand(["iid", "h-acid", "iid:matched", "softmax-kd"], [0.5, 0.9], [1], ["S"]);
        var labels = new List<string>();
        foreach (CompareArm a in arms)
        {
            labels.Add(a.Label);
        }

        Assert.Equal(["iid", "h-acid", "softmax-kd", "h-acid f=0.5", "h-acid f=0.9", "h-acid tau=1", "h-acid ref=S", "softmax-kd ref=S", "iid matched"], labels);
        CompareArm f = arms[3];
        Assert.Equal(0.5, f.FilterRatio);
        Assert.Equal("h-acid", f.Method);
        Assert.Equal("h-acid_f_0.5", f.DirectoryName);
    }

    [Fact]
    public void Parse_Modifiers_AllRecognised()
    {
        CompareArm a = CompareArm.Parse("aced-acidistill:clean:tau=100:lambda=0.5:ref=Ti:f=0.9");
        Assert.True(a.CleanPool);
        Assert.Equal(100, a.Temperature);
        Assert.Equal(0.5, a.Lambda);
        Assert.Equal("Ti", a.ReferenceSize);
        Assert.Equal(0.9, a.FilterRatio);
        Assert.Throws<ArgumentException>(() => CompareArm.Parse("h-acid:f=abc"));
        Assert.Throws<ArgumentException>(() => CompareArm.Parse(":clean"));
    }
}
