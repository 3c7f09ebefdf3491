using System;
using System.Collections.Generic;
using System.Globalization;
using System.Net;
using System.Text;
using Aced.Pipeline.Evaluation;
using ScottPlot;

namespace Aced.Pipeline.Reports;

/// <summary>
/// The self-contained <c>report.html</c> of <c>aced compare</c>: plots rendered by ScottPlot as inline SVG (no
/// script, no stylesheet or font loaded from anywhere), a summary table, a per-task table like the paper's
/// Figure 6 (mean +- seed std per arm, difference to the first arm), the StableEval analysis and any failed cell.
/// Every plot is a <c>&lt;figure class="plot"&gt;</c> holding one <c>&lt;svg&gt;</c>.
/// </summary>
public static class HtmlReport
{
    private const int PlotWidth = 720;
    private const int PlotHeight = 420;

    /// <summary>Ids of the plots the report contains (for checks).</summary>
    public static readonly string[] PlotIds = ["plot-samples", "plot-flops", "plot-final"];

    /// <summary>Renders the whole page.</summary>
    public static string Render(CompareResults results)
    {
        ArgumentNullException.ThrowIfNull(results);
        var html = new StringBuilder();
        html.Append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>aced compare: ")
            .Append(E(results.Dataset)).Append("</title>\n<style>\n")
            .Append("body{font-family:sans-serif;margin:2em;max-width:1100px;color:#222}")
            .Append("table{border-collapse:collapse;margin:1em 0;font-size:14px}th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}")
            .Append("th:first-child,td:first-child{text-align:left}.pos{color:#0a6b0a}.neg{color:#b00}.best{font-weight:bold}")
            .Append("figure.plot{margin:1em 0}figcaption{font-size:13px;color:#555}.failed{color:#b00}code{background:#f4f4f4}\n")
            .Append("</style>\n</head>\n<body>\n");
        html.Append("<h1>aced compare: ").Append(E(results.Dataset)).Append("</h1>\n");
        AppendSettings(html, results);
        AppendSummary(html, results);
        AppendFigure(html, PlotIds[0], CurvePlot(results, p => p.SamplesSeen, "samples seen"), "StableEval average vs samples seen: mean over seeds, band = +-1 std across seeds.");
        AppendFigure(html, PlotIds[1], CurvePlot(results, p => p.Flops / 1e9, "training GFLOPs (Appendix J)"), "StableEval average vs training FLOPs (scoring and reference passes included): mean over seeds, band = +-1 std.");
        AppendFigure(html, PlotIds[2], FinalPlot(results), "Final StableEval average per arm: mean over seeds, error bar = 1 std.");
        AppendPerTask(html, results);
        AppendSuite(html, results);
        AppendFailures(html, results);
        html.Append("</body>\n</html>\n");
        return html.ToString();
    }

    private static string E(string s) => WebUtility.HtmlEncode(s);

    private static string F(double v, string format = "0.0") =>
        double.IsNaN(v) ? "-" : v.ToString(format, CultureInfo.InvariantCulture);

    private static string Pct(double mean, double std, int count) =>
        count == 0 ? "-" : count == 1 ? F(100 * mean, "0.00") : $"{F(100 * mean, "0.00")} &plusmn; {F(100 * std, "0.00")}";

    private static void AppendSettings(StringBuilder html, CompareResults results)
    {
        html.Append("<h2>Settings</h2>\n<table>\n");
        foreach ((string key, string value) in results.Settings)
        {
            html.Append("<tr><td>").Append(E(key)).Append("</td><td>").Append(E(value)).Append("</td></tr>\n");
        }

        html.Append("</table>\n");
    }

    private static void AppendSummary(StringBuilder html, CompareResults results)
    {
        html.Append("<h2>Summary</h2>\n<p>Scores in %, mean &plusmn; std over seeds. <code>stable_average</code> = mean of the ")
            .Append(results.Suite.Tasks.Count).Append(" StableEval tasks.</p>\n<table>\n<tr><th>arm</th><th>seeds</th><th>stable_average</th><th>i2t_r5</th><th>t2i_r5</th><th>steps</th><th>samples seen</th><th>GFLOPs</th><th>train s</th></tr>\n");
        double best = double.NegativeInfinity;
        foreach (string arm in results.Arms)
        {
            best = Math.Max(best, results.Summary(arm, EvaluationTasks.StableAverage).Mean);
        }

        foreach (string arm in results.Arms)
        {
            (double m, double s, int n) = results.Summary(arm, EvaluationTasks.StableAverage);
            (double im, double isd, int inn) = results.Summary(arm, "i2t_r5");
            (double tm, double tsd, int tn) = results.Summary(arm, "t2i_r5");
            (long steps, long samples, double flops, double seconds) = Totals(results, arm);
            html.Append("<tr><td>").Append(E(arm)).Append("</td><td>").Append(n).Append("</td><td").Append(n > 0 && m == best ? " class=\"best\"" : "").Append('>')
                .Append(Pct(m, s, n)).Append("</td><td>").Append(Pct(im, isd, inn)).Append("</td><td>").Append(Pct(tm, tsd, tn))
                .Append("</td><td>").Append(steps).Append("</td><td>").Append(samples).Append("</td><td>").Append(F(flops / 1e9, "0.0"))
                .Append("</td><td>").Append(F(seconds, "0")).Append("</td></tr>\n");
        }

        html.Append("</table>\n");
    }

    /// <summary>Mean steps, samples, FLOPs and seconds over the done cells of an arm.</summary>
    internal static (long Steps, long Samples, double Flops, double Seconds) Totals(CompareResults results, string arm)
    {
        long steps = 0;
        long samples = 0;
        double flops = 0;
        double seconds = 0;
        int n = 0;
        foreach (CellRecord c in results.Cells)
        {
            if (c.IsDone && c.Arm == arm)
            {
                steps += c.Steps;
                samples += c.SamplesSeen;
                flops += c.Flops;
                seconds += c.Seconds;
                n++;
            }
        }

        return n == 0 ? (0, 0, double.NaN, double.NaN) : (steps / n, samples / n, flops / n, seconds / n);
    }

    private static void AppendFigure(StringBuilder html, string id, Plot plot, string caption)
    {
        string svg = plot.GetSvgXml(PlotWidth, PlotHeight);
        int start = svg.IndexOf("<svg", StringComparison.Ordinal);
        html.Append("<figure class=\"plot\" id=\"").Append(id).Append("\">\n").Append(start >= 0 ? svg[start..] : svg)
            .Append("\n<figcaption>").Append(E(caption)).Append("</figcaption>\n</figure>\n");
    }

    /// <summary>Mean and std across seeds of stable_average at each checkpoint index common to all done seeds of an arm.</summary>
    internal static (double[] X, double[] Mean, double[] Std) ArmCurve(CompareResults results, string arm, Func<CurvePoint, double> x)
    {
        var cells = new List<CellRecord>();
        int points = int.MaxValue;
        foreach (CellRecord c in results.Cells)
        {
            if (c.IsDone && c.Arm == arm && c.Curve.Count > 0)
            {
                cells.Add(c);
                points = Math.Min(points, c.Curve.Count);
            }
        }

        if (cells.Count == 0)
        {
            return ([], [], []);
        }

        var xs = new double[points];
        var mean = new double[points];
        var std = new double[points];
        var values = new double[cells.Count];
        for (int p = 0; p < points; p++)
        {
            double xSum = 0;
            for (int s = 0; s < cells.Count; s++)
            {
                CurvePoint point = cells[s].Curve[p];
                xSum += x(point);
                values[s] = point.Values.TryGetValue(EvaluationTasks.StableAverage, out double v) ? v : double.NaN;
            }

            xs[p] = xSum / cells.Count;
            (mean[p], std[p]) = StableEval.MeanStd(values);
        }

        return (xs, mean, std);
    }

    private static Plot CurvePlot(CompareResults results, Func<CurvePoint, double> x, string xLabel)
    {
        var plot = new Plot();
        var palette = new ScottPlot.Palettes.Category10();
        for (int a = 0; a < results.Arms.Count; a++)
        {
            (double[] xs, double[] mean, double[] std) = ArmCurve(results, results.Arms[a], x);
            if (xs.Length == 0)
            {
                continue;
            }

            Color color = palette.GetColor(a);
            var lo = new double[xs.Length];
            var hi = new double[xs.Length];
            var pct = new double[xs.Length];
            for (int i = 0; i < xs.Length; i++)
            {
                pct[i] = 100 * mean[i];
                lo[i] = 100 * (mean[i] - std[i]);
                hi[i] = 100 * (mean[i] + std[i]);
            }

            if (xs.Length > 1)
            {
                var band = plot.Add.FillY(xs, lo, hi);
                band.FillColor = color.WithAlpha(0.18);
                band.LineWidth = 0;
            }

            var line = plot.Add.Scatter(xs, pct);
            line.Color = color;
            line.LineWidth = 2;
            line.MarkerSize = 5;
            line.LegendText = results.Arms[a];
        }

        plot.XLabel(xLabel);
        plot.YLabel("StableEval average (%)");
        plot.ShowLegend(Edge.Right); // outside the data area: an inner legend hid the final points
        return plot;
    }

    private static Plot FinalPlot(CompareResults results)
    {
        var plot = new Plot();
        var palette = new ScottPlot.Palettes.Category10();
        var positions = new double[results.Arms.Count];
        var labels = new string[results.Arms.Count];
        for (int a = 0; a < results.Arms.Count; a++)
        {
            (double m, double s, int n) = results.Summary(results.Arms[a], EvaluationTasks.StableAverage);
            positions[a] = a + 1;
            labels[a] = results.Arms[a];
            if (n == 0)
            {
                continue;
            }

            plot.Add.Bar(new Bar { Position = a + 1, Value = 100 * m, Error = n > 1 ? 100 * s : 0, FillColor = palette.GetColor(a) });
        }

        plot.Axes.Bottom.SetTicks(positions, labels);
        plot.YLabel("final StableEval average (%)");
        plot.Axes.Margins(bottom: 0);
        return plot;
    }

    private static void AppendPerTask(StringBuilder html, CompareResults results)
    {
        if (results.Arms.Count == 0)
        {
            return;
        }

        string baseline = results.Arms[0];
        html.Append("<h2>Per task (Figure 6)</h2>\n<p>Scores in %, mean &plusmn; std over seeds; &Delta; = difference of the means to <b>")
            .Append(E(baseline)).Append("</b>.</p>\n<table>\n<tr><th>task</th>");
        foreach (string arm in results.Arms)
        {
            html.Append("<th>").Append(E(arm)).Append("</th>");
            if (arm != baseline)
            {
                html.Append("<th>&Delta;</th>");
            }
        }

        html.Append("</tr>\n");
        foreach (string task in results.ReportedTasks())
        {
            html.Append("<tr><td>").Append(E(task)).Append("</td>");
            (double baseMean, _, int baseCount) = results.Summary(baseline, task);
            foreach (string arm in results.Arms)
            {
                (double m, double s, int n) = results.Summary(arm, task);
                html.Append("<td>").Append(Pct(m, s, n)).Append("</td>");
                if (arm != baseline)
                {
                    double delta = 100 * (m - baseMean);
                    string css = n == 0 || baseCount == 0 ? "" : delta > 0 ? " class=\"pos\"" : delta < 0 ? " class=\"neg\"" : "";
                    html.Append("<td").Append(css).Append('>').Append(n == 0 || baseCount == 0 ? "-" : (delta >= 0 ? "+" : "") + F(delta, "0.00")).Append("</td>");
                }
            }

            html.Append("</tr>\n");
        }

        html.Append("</table>\n");
    }

    private static void AppendSuite(StringBuilder html, CompareResults results)
    {
        StableSuite suite = results.Suite;
        html.Append("<h2>StableEval</h2>\n<p>").Append(E(suite.Source)).Append(" Threshold (most reliable task's std): ")
            .Append(F(100 * suite.ThresholdStd, "0.000")).Append("%; std of the suite average: ").Append(F(100 * suite.SuiteStd, "0.000"))
            .Append("%.</p>\n<table>\n<tr><th>task</th><th>mean %</th><th>seed std %</th><th>std of prefix average %</th><th>in suite</th></tr>\n");
        foreach (StableTask t in suite.Candidates)
        {
            html.Append("<tr><td>").Append(E(t.Name)).Append("</td><td>").Append(F(100 * t.Mean, "0.00")).Append("</td><td>").Append(F(100 * t.Std, "0.000"))
                .Append("</td><td>").Append(F(100 * t.AverageStd, "0.000")).Append("</td><td>").Append(t.Included ? "yes" : E(t.Reason ?? "no")).Append("</td></tr>\n");
        }

        html.Append("</table>\n");
    }

    private static void AppendFailures(StringBuilder html, CompareResults results)
    {
        bool any = false;
        foreach (CellRecord c in results.Cells)
        {
            if (!c.IsDone)
            {
                if (!any)
                {
                    html.Append("<h2 class=\"failed\">Failed cells</h2>\n<ul>\n");
                    any = true;
                }

                html.Append("<li class=\"failed\">").Append(E(c.Arm)).Append(" seed ").Append(c.Seed).Append(": ").Append(E(c.Error ?? "unknown error")).Append("</li>\n");
            }
        }

        if (any)
        {
            html.Append("</ul>\n");
        }
    }
}
