using System.Collections.Generic;

namespace Aced.Cli;

/// <summary><c>aced</c>'s use of the shared <see cref="OutputGuard"/>: a conflict is a <see cref="CliException"/>.</summary>
public static partial class OutputGuard
{
    /// <summary>
    /// Throws <see cref="CliException"/> naming both options when <paramref name="output"/> is, or resolves to, the
    /// same file as one of <paramref name="inputs"/> (see <see cref="FindConflict"/>).
    /// </summary>
    public static void EnsureNotAnInput(string outputOption, string output, IEnumerable<Input> inputs)
    {
        if (FindConflict(outputOption, output, inputs) is string message)
        {
            throw new CliException(message);
        }
    }
}
