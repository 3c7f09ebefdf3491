using System;

namespace Aced.Cli;

/// <summary>A user-facing error: printed as one line on stderr, exit code 2.</summary>
public sealed class CliException : Exception
{
    public CliException(string message)
        : base(message)
    {
    }

    public CliException(string message, Exception inner)
        : base(message, inner)
    {
    }
}
