using System;
using System.Globalization;
using System.IO;
using Aced.Pipeline.Evaluation;
using Aced.Pipeline.Reports;
using Aced.Pipeline.Training;
using Spectre.Console;

namespace Aced.Cli;

/// <summary>Progress of an <c>aced compare</c> / <c>aced stableeval</c> grid: Spectre.Console bars on a terminal, plain lines otherwise (both on stderr).</summary>
internal static class CompareProgress
{
    /// <summary>Runs the grid with the right kind of progress output.</summary>
    public static CompareResults Run(CompareGridOptions options, TextWriter stderr, System.Threading.CancellationToken ct)
    {
        bool terminal = !Console.IsErrorRedirected && ReferenceEquals(stderr, Console.Error);
        if (!terminal)
        {
            return CompareRunner.Run(options, new Plain(stderr), ct);
        }

        IAnsiConsole console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        CompareResults? results = null;
        console.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new ElapsedTimeColumn())
            .Start(context => results = CompareRunner.Run(options, new Bars(console, context), ct));
        return results!;
    }

    private static string Step(StepMetrics m) =>
        string.Create(CultureInfo.InvariantCulture, $"step {m.Step}/{m.TotalSteps}  loss {m.Loss:F4}  {m.ExamplesPerSecond:F0} ex/s");

    private static string Cell(CellRecord c) => c.IsDone
        ? string.Create(CultureInfo.InvariantCulture, $"{c.Arm} seed {c.Seed}: done, {c.Steps} steps, i2t_r5 {Get(c, "i2t_r5")}, t2i_r5 {Get(c, "t2i_r5")}")
        : $"{c.Arm} seed {c.Seed}: FAILED: {c.Error}";

    private static string Get(CellRecord c, string task) =>
        c.Values.TryGetValue(task, out double v) ? (100 * v).ToString("0.0", CultureInfo.InvariantCulture) + "%" : "-";

    /// <summary>One line per cell and about 5 per training run.</summary>
    private sealed class Plain(TextWriter writer) : ICompareObserver
    {
        private int _cells;
        private long _every = 1;

        public void OnGridStart(int cells)
        {
            _cells = cells;
            writer.WriteLine($"grid: {cells} cells");
        }

        public void OnCellStart(string label, int seed, int index) =>
            writer.WriteLine(index == 0 ? $"[reference] {label}" : $"[{index}/{_cells}] {label} seed {seed}");

        public void OnCellEnd(CellRecord cell) => writer.WriteLine("  " + Cell(cell));

        public void OnStart(TrainingStart start) => _every = Math.Max(1, start.TotalSteps / 5);

        public void OnStep(StepMetrics metrics)
        {
            if (metrics.Step % _every == 0 || metrics.Step == metrics.TotalSteps)
            {
                writer.WriteLine("  " + Step(metrics));
            }
        }

        public void OnMessage(string message) => writer.WriteLine("  " + message);
    }

    /// <summary>A bar for the grid and one for the current training run.</summary>
    private sealed class Bars(IAnsiConsole console, ProgressContext context) : ICompareObserver
    {
        private ProgressTask? _grid;
        private ProgressTask? _run;
        private int _cells;

        public void OnGridStart(int cells)
        {
            _cells = cells;
            _grid = context.AddTask($"grid: 0/{cells} cells", maxValue: cells);
        }

        public void OnCellStart(string label, int seed, int index)
        {
            if (_grid is not null && index > 0)
            {
                _grid.Description = Markup.Escape($"grid: cell {index}/{_cells}: {label} seed {seed}");
            }
        }

        public void OnCellEnd(CellRecord cell)
        {
            _grid?.Increment(1);
            console.MarkupLine(cell.IsDone ? Markup.Escape(Cell(cell)) : $"[red]{Markup.Escape(Cell(cell))}[/]");
        }

        public void OnStart(TrainingStart start)
        {
            _run ??= context.AddTask("training", maxValue: start.TotalSteps);
            _run.MaxValue = start.TotalSteps;
            _run.Value = start.StartStep;
            _run.Description = Markup.Escape(start.Description);
        }

        public void OnStep(StepMetrics metrics)
        {
            if (_run is not null)
            {
                _run.Value = metrics.Step;
                _run.Description = Markup.Escape(Step(metrics));
            }
        }

        public void OnMessage(string message) => console.MarkupLine(Markup.Escape(message));
    }
}
