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

    public static int Main(string[] args)
    {
        var root = new RootCommand("ACID/ACED active data curation on TorchSharp tensors.")
        {
            SelectCommand.Create(),
            TrainCommand.Create(),
        };
        return root.Parse(args).Invoke();
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
