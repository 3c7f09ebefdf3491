using System;
using Aced.Benchmarks.Common;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace Aced.Benchmarks.Models;

/// <summary>Adds <see cref="SgemmRatioColumn"/> to the summary of the annotated benchmark class.</summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false)]
public sealed class SgemmRatioColumnAttribute : ColumnConfigBaseAttribute
{
    public SgemmRatioColumnAttribute()
        : base(new SgemmRatioColumn())
    {
    }
}

/// <summary>
/// Adds the "vs OpenBLAS" <see cref="SgemmRatioColumn"/>: the ratio to the class's <c>OpenBlasSgemm1024</c> case, the
/// yardstick issue 12 names for the training step ("vs OpenBLAS peak").
/// </summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false)]
public sealed class OpenBlasRatioColumnAttribute : ColumnConfigBaseAttribute
{
    public OpenBlasRatioColumnAttribute()
        : base(new SgemmRatioColumn(SgemmRatioColumn.OpenBlasYardstick, "vs OpenBLAS"))
    {
    }
}

/// <summary>
/// "vs SGEMM": a case's GFLOP/s (<see cref="IFlopCount"/> / mean) divided by the GFLOP/s of the same class's
/// <c>Sgemm1024</c> case with the same parameters, measured in the same run: the machine-independent figure of issue 12
/// (the training step's model FLOPs per second as a fraction of the SGEMM peak). With another yardstick method
/// (<c>OpenBlasSgemm1024</c>) the same ratio against that case.
/// </summary>
public sealed class SgemmRatioColumn : IColumn
{
    /// <summary>Name of the default yardstick method: Aced's 1024^3 SGEMM.</summary>
    public const string Yardstick = "Sgemm1024";

    /// <summary>Name of the OpenBLAS yardstick method: the system OpenBLAS's 1024^3 SGEMM.</summary>
    public const string OpenBlasYardstick = "OpenBlasSgemm1024";

    private readonly string _yardstick;

    public SgemmRatioColumn()
        : this(Yardstick, "vs SGEMM")
    {
    }

    public SgemmRatioColumn(string yardstick, string columnName)
    {
        _yardstick = yardstick;
        ColumnName = columnName;
    }

    public string Id => nameof(SgemmRatioColumn) + "." + _yardstick;

    public string ColumnName { get; }

    public bool AlwaysShow => true;

    public ColumnCategory Category => ColumnCategory.Custom;

    public int PriorityInCategory => _yardstick == Yardstick ? 1 : 2;

    public bool IsNumeric => true;

    public UnitType UnitType => UnitType.Dimensionless;

    public string Legend => $"GFLOP/s of the case / GFLOP/s of the 1024^3 SGEMM ({_yardstick}) with the same parameters in the same run";

    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;

    public bool IsAvailable(Summary summary) => true;

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        double rate = Rate(summary, benchmarkCase);
        foreach (BenchmarkCase other in summary.BenchmarksCases)
        {
            if (other.Descriptor.WorkloadMethod.Name == _yardstick && other.Descriptor.Type == benchmarkCase.Descriptor.Type &&
                other.Parameters.FolderInfo == benchmarkCase.Parameters.FolderInfo)
            {
                double peak = Rate(summary, other);
                return rate > 0 && peak > 0 ? (rate / peak).ToString("F3", System.Globalization.CultureInfo.InvariantCulture) : "-";
            }
        }

        return "-";
    }

    private static double Rate(Summary summary, BenchmarkCase benchmarkCase)
    {
        double flops = GflopsColumn.FlopsOf(benchmarkCase);
        double? meanNs = summary[benchmarkCase]?.ResultStatistics?.Mean;
        return flops > 0 && meanNs is > 0 ? flops / meanNs.Value : 0;
    }

    public override string ToString() => ColumnName;
}
