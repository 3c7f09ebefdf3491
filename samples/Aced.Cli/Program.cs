using System.CommandLine;

namespace Aced.Cli;

public static class Program
{
    public static int Main(string[] args) => BuildRoot().Parse(args).Invoke();

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
