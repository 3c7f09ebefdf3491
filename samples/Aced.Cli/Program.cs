using System.CommandLine;

namespace Aced.Cli;

public static class Program
{
    /// <summary>Runs <c>aced</c>: parse errors and user errors are one line on stderr and exit code 2 (see <see cref="CommandRunner"/>).</summary>
    public static int Main(string[] args) => CommandRunner.Invoke(BuildRoot(), args);

    /// <summary>The root command with every subcommand registered (used by tests too).</summary>
    public static RootCommand BuildRoot()
    {
        var root = new RootCommand("aced: active data curation as distillation (ACID/ACED, JEST, RHO-loss) for contrastive image-text models.");
        root.Subcommands.Add(InfoCommand.Create());
        root.Subcommands.Add(LossCommand.Create());
        root.Subcommands.Add(SelectCommand.Create());
        root.Subcommands.Add(DataCommand.Create());
        root.Subcommands.Add(TrainCommand.Create());
        root.Subcommands.Add(EvalCommand.Create());
        root.Subcommands.Add(StableEvalCommand.Create());
        root.Subcommands.Add(CompareCommand.Create());
        return root;
    }
}
