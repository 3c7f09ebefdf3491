using System;
using System.Collections.Generic;
using Aced.Pipeline.Evaluation;
using Aced.Pipeline.Reports;

namespace Aced.Pipeline.Tests.Evaluation;

/// <summary>Synthetic compare results: arms x seeds with curves, one failed cell, a suite from the iid seeds.</summary>
internal static class ReportTestData
{
    public static CompareResults Make(string[] arms, int seeds, bool withFailure = true)
    {
        var results = new CompareResults { Dataset = "shapes", Arms = [.. arms] };
        results.Settings["steps"] = "30";
        results.Settings["seeds"] = seeds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var rng = new Random(5);
        string[] tasks = ["eval/shape/top1", "eval/colour/top1", "i2t_r5", "t2i_r5", "i2t_mean_rank"];
        for (int a = 0; a < arms.Length; a++)
        {
            for (int s = 0; s < seeds; s++)
            {
                var cell = new CellRecord { Arm = arms[a], Method = arms[a].Split(' ')[0], Seed = s, RunDirectory = $"runs/{a}/{s}", Steps = 30, SamplesSeen = 30 * 64, Flops = 3e9 * (a + 1), Seconds = 12 };
                for (int p = 1; p <= 3; p++)
                {
                    var v = new Dictionary<string, double>(StringComparer.Ordinal);
                    foreach (string t in tasks)
                    {
                        v[t] = t.EndsWith("rank", StringComparison.Ordinal) ? 10.0 / p : Math.Min(1, (0.1 * p) + (0.05 * a) + (0.02 * rng.NextDouble()));
                    }

                    cell.Curve.Add(new CurvePoint(10 * p, 10 * p * 64, 1e9 * p * (a + 1), v));
                }

                cell.Values = new Dictionary<string, double>(cell.Curve[^1].Values, StringComparer.Ordinal);
                results.Cells.Add(cell);
            }
        }

        if (withFailure)
        {
            results.Cells.Add(new CellRecord { Arm = arms[^1], Method = "x", Seed = seeds, Status = "failed", Error = "boom <b>not html</b>" });
        }

        var groups = new Dictionary<string, double[]>(StringComparer.Ordinal);
        foreach (string t in tasks)
        {
            var values = new List<double>();
            foreach (CellRecord c in results.Cells)
            {
                if (c.IsDone && c.Arm == arms[0])
                {
                    values.Add(c.Values[t]);
                }
            }

            groups[t] = values.ToArray();
        }

        results.Suite = StableEval.Select([groups], "shapes");
        results.Suite.Source = "Measured on the iid seeds.";
        results.ApplySuite();
        return results;
    }
}
