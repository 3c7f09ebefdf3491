using System;
using System.IO;

namespace Aced.Cli;

/// <summary>
/// Runs a command body and turns the errors a user can cause (bad options, unreadable or malformed
/// files, invalid arguments to the library) into one line on stderr and exit code 2.
/// </summary>
public static class CommandRunner
{
    /// <summary>Exit code for user errors.</summary>
    public const int UsageError = 2;

    public static int Run(Func<int> body, TextWriter? stderr = null)
    {
        stderr ??= Console.Error;
        try
        {
            return body();
        }
        catch (Exception ex) when (ex is CliException or ArgumentException or IOException or InvalidDataException or UnauthorizedAccessException or FormatException)
        {
            stderr.WriteLine($"aced: error: {OneLine(ex.Message)}");
            return UsageError;
        }
    }

    private static string OneLine(string message) => message.Replace('\n', ' ').Replace("\r", string.Empty, StringComparison.Ordinal);
}
