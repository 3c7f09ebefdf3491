using System;
using System.IO;

namespace Aced.Pipeline.Data;

/// <summary>
/// Bad input data: a corrupt, truncated, oversized or unsupported image, a malformed caption line, a missing
/// file, an empty data set, or an archive with an unexpected layout or an escaping entry path. The message
/// names the file (and line or archive entry) and the fix; <see cref="DataOptions.SkipBad"/> skips such items
/// where that is possible. Derives from <see cref="IOException"/> (<see cref="InvalidDataException"/> is sealed).
/// </summary>
public sealed class DataException : IOException
{
    public DataException(string path, string message, int line = 0, Exception? inner = null)
        : base(Format(path, line, message), inner)
    {
        FilePath = path;
        Line = line;
    }

    /// <summary>The file (or <c>archive.tgz:entry</c>) at fault.</summary>
    public string FilePath { get; }

    /// <summary>1-based line number within <see cref="FilePath"/>, or 0 when not about a line.</summary>
    public int Line { get; }

    private static string Format(string path, int line, string message) =>
        line > 0 ? $"{path}:{line}: {message}" : $"{path}: {message}";
}
