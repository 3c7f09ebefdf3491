using System;
using System.Globalization;
using System.IO;
using System.Text.RegularExpressions;
using Aced.Pipeline.Evaluation;
using Aced.Pipeline.Reports;

namespace Aced.Pipeline.Tests.Evaluation;

public class ReportTests
{
    [Fact]
    public void ToCsv_DoneCells_OneRowPerTaskWithStableAverageAndRetrieval()
    {
        CompareResults r = ReportTestData.Make(["iid", "h-acid"], 3);
        string[] lines = r.ToCsv().TrimEnd('\n').Split('\n');
        Assert.Equal("method,seed,task,value", lines[0]);
        int tasks = r.ReportedTasks().Count;
        Assert.Equal(1 + (6 * tasks), lines.Length); // the failed cell has no rows
        Assert.Contains(lines, l => l.StartsWith("h-acid,2,stable_average,", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("iid,0,i2t_r5,", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("iid,1,t2i_r5,", StringComparison.Ordinal));
        Assert.DoesNotContain(lines, l => l.Contains("mean_rank", StringComparison.Ordinal));
        string avgLine = Array.Find(lines, l => l.StartsWith("iid,0,stable_average,", StringComparison.Ordinal))!;
        double avg = double.Parse(avgLine.Split(',')[3], CultureInfo.InvariantCulture);
        Assert.Equal(r.Suite.Average(r.Cells[0].Values), avg, 12);
    }

    [Fact]
    public void ToCsv_CommaInArmLabel_Quoted()
    {
        CompareResults r = ReportTestData.Make(["iid", "h-acid f=0.5,tau=10"], 2, withFailure: false);
        Assert.Contains("\"h-acid f=0.5,tau=10\",0,stable_average,", r.ToCsv(), StringComparison.Ordinal);
    }

    [Fact]
    public void Json_RoundTrip_SameCellsAndSuite()
    {
        CompareResults r = ReportTestData.Make(["iid", "h-acid"], 2);
        string path = Path.Combine(Path.GetTempPath(), $"aced-results-{Guid.NewGuid():N}.json");
        try
        {
            AtomicFile.WriteAllText(path, r.ToJson());
            CompareResults back = CompareResults.Load(path);
            Assert.Equal(r.Cells.Count, back.Cells.Count);
            Assert.Equal(r.Suite.Tasks, back.Suite.Tasks);
            Assert.Equal(r.Cells[1].Values[EvaluationTasks.StableAverage], back.Cells[1].Values[EvaluationTasks.StableAverage], 15);
            Assert.Equal(r.Cells[1].Curve[2].Flops, back.Cells[1].Curve[2].Flops);
            Assert.Equal("failed", back.Cells[^1].Status);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Render_Results_EveryPlotIsInlineSvgAndNothingExternal()
    {
        CompareResults r = ReportTestData.Make(["iid", "softmax-kd", "h-acid"], 3);
        string html = HtmlReport.Render(r);
        foreach (string id in HtmlReport.PlotIds)
        {
            Match m = Regex.Match(html, $"<figure class=\"plot\" id=\"{id}\">\\s*<svg[^>]*>(.*?)</svg>", RegexOptions.Singleline);
            Assert.True(m.Success, id);
            Assert.Contains("<path", m.Groups[1].Value, StringComparison.Ordinal);
        }

        Assert.DoesNotContain("<script", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("http://", Regex.Replace(html, "xmlns(:xlink)?=\"http://www.w3.org/[^\"]*\"", ""), StringComparison.Ordinal);
        Assert.DoesNotContain("https://", html, StringComparison.Ordinal);
        Assert.DoesNotContain("<?xml", html, StringComparison.Ordinal);
        Assert.Contains("boom &lt;b&gt;not html&lt;/b&gt;", html, StringComparison.Ordinal);
        Assert.Contains("Per task (Figure 6)", html, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("plot-samples")]
    [InlineData("plot-flops")]
    public void Render_CurvePlots_LegendOutsideTheDataArea(string id)
    {
        // The legend must not hide the curves: a legend inside the data area covered the arms' final points (where
        // the comparison is read) in the shapes report.
        CompareResults r = ReportTestData.Make(["iid", "softmax-kd", "h-acid"], 3);
        string html = HtmlReport.Render(r);
        string svg = Regex.Match(html, $"<figure class=\"plot\" id=\"{id}\">\\s*(<svg.*?</svg>)", RegexOptions.Singleline).Groups[1].Value;
        Match data = Regex.Match(svg, "<clipPath[^>]*>\\s*<rect x=\"([0-9.]+)\" y=\"([0-9.]+)\" width=\"([0-9.]+)\" height=\"([0-9.]+)\"");
        Assert.True(data.Success, "data-area clip rectangle");
        double dataRight = double.Parse(data.Groups[1].Value, CultureInfo.InvariantCulture) + double.Parse(data.Groups[3].Value, CultureInfo.InvariantCulture);
        Match legend = Regex.Match(svg, "<rect fill=\"none\" stroke=\"black\"[^>]* x=\"([0-9.]+)\" y=\"([0-9.]+)\" width=\"([0-9.]+)\"");
        Assert.True(legend.Success, "legend frame");
        Assert.True(double.Parse(legend.Groups[1].Value, CultureInfo.InvariantCulture) >= dataRight, $"legend at x = {legend.Groups[1].Value} overlaps the data area ending at {dataRight}");
        Assert.Contains("softmax-kd", svg, StringComparison.Ordinal);
    }

    [Fact]
    public void ArmCurve_ThreeSeeds_MeanAndStdPerCheckpoint()
    {
        CompareResults r = ReportTestData.Make(["iid", "h-acid"], 3);
        (double[] x, double[] mean, double[] std) = HtmlReport.ArmCurve(r, "h-acid", p => p.SamplesSeen);
        Assert.Equal([640.0, 1280.0, 1920.0], x);
        var values = new double[3];
        int k = 0;
        foreach (CellRecord c in r.Cells)
        {
            if (c.IsDone && c.Arm == "h-acid")
            {
                values[k++] = c.Curve[1].Values[EvaluationTasks.StableAverage];
            }
        }

        (double m, double s) = StableEval.MeanStd(values);
        Assert.Equal(m, mean[1], 12);
        Assert.Equal(s, std[1], 12);
    }
}
