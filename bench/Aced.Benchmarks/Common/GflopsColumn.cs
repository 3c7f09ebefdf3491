using System;
using System.Reflection;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace Aced.Benchmarks.Common;

/// <summary>
/// Implemented by a benchmark class whose methods perform a known number of floating-point operations.
/// </summary>
/// <remarks>
/// How to use it in any benchmark suite:
/// <code>
/// [MemoryDiagnoser]
/// [GflopsColumn]                                   // adds the "GFLOP/s" column
/// public class MyBenchmarks : IFlopCount
/// {
///     [Params(255, 1024)] public int N;
///     // Called on a fresh instance whose [Params] fields/properties are already set.
///     public double FlopCount(string method) => method == nameof(Naive) ? 2.0 * N * N * N : 2.0 * N * N * N;
///     [Benchmark] public float Naive() { ... }
/// }
/// </code>
/// The column divides the count by the mean time of each case (GFLOP/s = flops / mean ns).
/// Return 0 (or a negative number) from <see cref="FlopCount"/> for methods without a meaningful count:
/// the cell shows "-". For a GEMM, count <c>2 * m * n * k</c>.
/// </remarks>
public interface IFlopCount
{
    /// <summary>Floating-point operations performed by one call of <paramref name="method"/>.</summary>
    double FlopCount(string method);
}

/// <summary>Adds <see cref="GflopsColumn"/> to the summary of the annotated benchmark class.</summary>
[AttributeUsage(AttributeTargets.Class | AttributeTargets.Assembly, AllowMultiple = false)]
public sealed class GflopsColumnAttribute : ColumnConfigBaseAttribute
{
    public GflopsColumnAttribute()
        : base(new GflopsColumn())
    {
    }
}

/// <summary>
/// A "GFLOP/s" summary column: <c>IFlopCount.FlopCount(method) / mean</c> for benchmark classes implementing
/// <see cref="IFlopCount"/>. The count is obtained from a new instance of the benchmark class with the case's
/// [Params] values assigned (fields or properties of the same name).
/// </summary>
public sealed class GflopsColumn : IColumn
{
    public string Id => nameof(GflopsColumn);

    public string ColumnName => "GFLOP/s";

    public bool AlwaysShow => true;

    public ColumnCategory Category => ColumnCategory.Custom;

    public int PriorityInCategory => 0;

    public bool IsNumeric => true;

    public UnitType UnitType => UnitType.Dimensionless;

    public string Legend => "Billions of floating-point operations per second: IFlopCount.FlopCount(method) / Mean";

    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;

    public bool IsAvailable(Summary summary) => true;

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        double flops = FlopsOf(benchmarkCase);
        BenchmarkReport? report = summary[benchmarkCase];
        double? meanNs = report?.ResultStatistics?.Mean;
        if (flops <= 0 || meanNs is null || meanNs <= 0)
        {
            return "-";
        }

        return (flops / meanNs.Value).ToString("F1", System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>The flop count of one call of the case's method, or 0 when the class does not implement <see cref="IFlopCount"/>.</summary>
    public static double FlopsOf(BenchmarkCase benchmarkCase)
    {
        Type type = benchmarkCase.Descriptor.Type;
        if (!typeof(IFlopCount).IsAssignableFrom(type) || Activator.CreateInstance(type) is not IFlopCount instance)
        {
            return 0;
        }

        foreach (var parameter in benchmarkCase.Parameters.Items)
        {
            const BindingFlags flags = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static;
            FieldInfo? field = type.GetField(parameter.Name, flags);
            if (field is not null)
            {
                field.SetValue(field.IsStatic ? null : instance, parameter.Value);
                continue;
            }

            PropertyInfo? property = type.GetProperty(parameter.Name, flags);
            property?.SetValue(property.GetMethod?.IsStatic == true ? null : instance, parameter.Value);
        }

        return instance.FlopCount(benchmarkCase.Descriptor.WorkloadMethod.Name);
    }

    public override string ToString() => ColumnName;
}
