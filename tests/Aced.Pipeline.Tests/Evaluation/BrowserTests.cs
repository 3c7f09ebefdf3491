using System;
using System.IO;
using System.Text.RegularExpressions;
using Aced.Pipeline.Reports;

namespace Aced.Pipeline.Tests.Evaluation;

public class BrowserTests
{
    internal static void AssertReportLoadsCleanly(string htmlPath)
    {
        string chromium = BrowserCheck.FindChromium()!;
        (string dom, var console) = BrowserCheck.Load(chromium, htmlPath);
        Assert.True(console.Count == 0, "console output while loading the report:\n" + string.Join('\n', console));
        foreach (string id in HtmlReport.PlotIds)
        {
            Match m = Regex.Match(dom, $"<figure class=\"plot\" id=\"{id}\">\\s*<svg[^>]*>(.*?)</svg>", RegexOptions.Singleline);
            Assert.True(m.Success, $"plot {id} missing from the DOM Chromium built");
            Assert.Contains("<path", m.Groups[1].Value, StringComparison.Ordinal);
        }
    }

    [ChromiumFact]
    public void Report_LoadedInHeadlessChromium_NoConsoleOutputAndEveryPlot()
    {
        string dir = Path.Combine(Path.GetTempPath(), $"aced-report-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        try
        {
            string html = Path.Combine(dir, "report.html");
            AtomicFile.WriteAllText(html, HtmlReport.Render(ReportTestData.Make(["iid", "softmax-kd", "i-acid", "h-acid", "aced-acidistill"], 3)));
            AssertReportLoadsCleanly(html);
            string shot = Path.Combine(dir, "shot.png");
            BrowserCheck.Load(BrowserCheck.FindChromium()!, html, shot);
            byte[] png = File.ReadAllBytes(shot);
            Assert.True(png.Length > 10_000 && png[1] == (byte)'P' && png[2] == (byte)'N' && png[3] == (byte)'G', "screenshot is not a non-trivial PNG");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [ChromiumFact]
    public void Check_PageWithConsoleErrorAndNoPlots_Fails()
    {
        // The check itself must be able to fail: a page that logs an error and lacks the plots.
        string path = Path.Combine(Path.GetTempPath(), $"aced-bad-{Guid.NewGuid():N}.html");
        try
        {
            File.WriteAllText(path, "<html><body><script>console.error('broken report');</script></body></html>");
            (_, var console) = BrowserCheck.Load(BrowserCheck.FindChromium()!, path);
            Assert.Contains(console, l => l.Contains("broken report", StringComparison.Ordinal));
            Assert.ThrowsAny<Exception>(() => AssertReportLoadsCleanly(path));
        }
        finally
        {
            File.Delete(path);
        }
    }
}
