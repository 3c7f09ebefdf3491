using System;
using System.CommandLine;
using System.IO;

namespace Aced.TorchSharp.Sample;

/// <summary>
/// <c>aced-torch</c>: ACID/ACED with TorchSharp. <c>select</c> curates a sub-batch from cached embeddings on a
/// torch device (the flags of <c>aced select</c> plus <c>--device</c>); <c>train</c> is a small TorchSharp training
/// loop with ACID selection on procedural data.
/// </summary>
public static class Program
{
    public const int UsageError = 2;

    public static int Main(string[] args) => Invoke(args, null, null);

    /// <summary>
    /// Parses and runs <paramref name="args"/>. A parse error (unknown option or command, a value that does not parse)
    /// is one line "aced-torch: error: ..." on stderr and exit code 2, like every other user error.
    /// </summary>
    public static int Invoke(string[] args, TextWriter? stdout, TextWriter? stderr)
    {
        var root = new RootCommand("ACID/ACED active data curation on TorchSharp tensors.")
        {
            SelectCommand.Create(stdout, stderr),
            TrainCommand.Create(stdout, stderr),
        };
        ParseResult parse = root.Parse(args);
        var configuration = new InvocationConfiguration();
        if (stdout is not null)
        {
            configuration.Output = stdout;
        }

        if (stderr is not null)
        {
            configuration.Error = stderr;
        }

        if (parse.Errors.Count > 0)
        {
            string path = parse.CommandResult.Command == root ? "aced-torch" : "aced-torch " + parse.CommandResult.Command.Name;
            string message = parse.UnmatchedTokens.Count > 0
                ? (parse.UnmatchedTokens[0].StartsWith('-') ? $"unknown option '{parse.UnmatchedTokens[0]}'" : $"unknown command or argument '{parse.UnmatchedTokens[0]}'")
                : parse.Errors[0].Message;
            configuration.Error.WriteLine($"aced-torch: error: {message.Replace('\n', ' ')} (see '{path} --help')");
            return UsageError;
        }

        return parse.Invoke(configuration);
    }

    /// <summary>Runs a command body; user errors become one line "aced-torch: error: ..." on stderr and exit code 2.</summary>
    public static int Run(Func<int> body, TextWriter? stderr = null)
    {
        stderr ??= Console.Error;
        try
        {
            return body();
        }
        catch (Exception ex) when (ex is UsageException or ArgumentException or IOException or InvalidDataException or UnauthorizedAccessException or FormatException)
        {
            stderr.WriteLine($"aced-torch: error: {ex.Message.Replace('\n', ' ').Replace("\r", string.Empty, StringComparison.Ordinal)}");
            return UsageError;
        }
    }
}

/// <summary>A user error (bad option or input), reported as one line.</summary>
public sealed class UsageException : Exception
{
    public UsageException(string message)
        : base(message)
    {
    }
}
