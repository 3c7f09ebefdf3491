using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;

namespace Aced.Cli;

/// <summary>
/// Writes a set of files into one directory so that a failure never leaves a mix of old and new files, and never
/// deletes a file that existed before: every file is first written to a temporary beside its target
/// (<c>.aced-partial.&lt;pid&gt;.&lt;id&gt;.&lt;name&gt;</c>), and only when all of them are written are they renamed
/// over their targets. Temporaries left behind by a killed process (its process id no longer runs) are deleted at
/// the start of the next write into the directory.
/// </summary>
public static class FileSetWriter
{
    /// <summary>The marker in the name of every temporary this class creates.</summary>
    public const string TemporaryMarker = ".aced-partial.";

    /// <summary>One file of a set: its name inside the directory and the action that writes it to a given path.</summary>
    public readonly record struct Entry(string FileName, Action<string> WriteTo);

    /// <summary>
    /// Writes <paramref name="entries"/> into <paramref name="directory"/> (created when missing). Throws
    /// <see cref="CliException"/> naming <paramref name="option"/> when the set cannot be written; then no target was
    /// changed (or, if a rename itself fails, the message says which targets hold the new content).
    /// </summary>
    public static void Write(string option, string directory, IReadOnlyList<Entry> entries)
    {
        ArgumentNullException.ThrowIfNull(directory);
        ArgumentNullException.ThrowIfNull(entries);
        if (File.Exists(directory))
        {
            throw new CliException($"{option} {directory} is an existing file; pass a directory");
        }

        string[] targets = new string[entries.Count];
        for (int i = 0; i < entries.Count; i++)
        {
            targets[i] = Path.Combine(directory, entries[i].FileName);
            if (Directory.Exists(targets[i]))
            {
                throw new CliException($"{option}: {targets[i]} is a directory, so it cannot receive {entries[i].FileName}; nothing was written");
            }
        }

        bool created = !Directory.Exists(directory);
        try
        {
            Directory.CreateDirectory(directory);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new CliException($"{option}: cannot create the directory {directory} ({CommandRunner.OneLine(ex.Message)})", ex);
        }

        CleanAbandoned(directory);
        string[] temporaries = new string[entries.Count];
        string id = Guid.NewGuid().ToString("N");
        string pid = Environment.ProcessId.ToString(CultureInfo.InvariantCulture);
        for (int i = 0; i < entries.Count; i++)
        {
            temporaries[i] = Path.Combine(directory, $"{TemporaryMarker}{pid}.{id}.{entries[i].FileName}");
        }

        int written = 0;
        try
        {
            for (; written < entries.Count; written++)
            {
                entries[written].WriteTo(temporaries[written]);
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            for (int i = 0; i <= written && i < temporaries.Length; i++)
            {
                TryDelete(temporaries[i]);
            }

            if (created)
            {
                TryDeleteEmptyDirectory(directory);
            }

            throw new CliException($"{option}: cannot write {entries[written].FileName} into {directory} ({CommandRunner.OneLine(ex.Message)}); no file there was changed", ex);
        }

        for (int i = 0; i < entries.Count; i++)
        {
            try
            {
                File.Move(temporaries[i], targets[i], overwrite: true);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                for (int j = i; j < temporaries.Length; j++)
                {
                    TryDelete(temporaries[j]);
                }

                string replaced = i == 0 ? "none" : string.Join(", ", Names(entries, 0, i));
                throw new CliException($"{option}: cannot replace {targets[i]} ({CommandRunner.OneLine(ex.Message)}); new content: {replaced}; previous content kept: {string.Join(", ", Names(entries, i, entries.Count))}", ex);
            }
        }
    }

    /// <summary>
    /// Deletes the temporaries in <paramref name="directory"/> whose writing process no longer runs (a process that was
    /// killed mid-write). Temporaries of running processes, and every other file, are left alone. Returns the count deleted.
    /// </summary>
    public static int CleanAbandoned(string directory)
    {
        int deleted = 0;
        string[] files;
        try
        {
            files = Directory.GetFiles(directory, "*" + TemporaryMarker + "*");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return 0;
        }

        foreach (string file in files)
        {
            string name = Path.GetFileName(file);
            int at = name.IndexOf(TemporaryMarker, StringComparison.Ordinal) + TemporaryMarker.Length;
            int dot = name.IndexOf('.', at);
            if (dot <= at || !int.TryParse(name.AsSpan(at, dot - at), NumberStyles.None, CultureInfo.InvariantCulture, out int pid))
            {
                continue;
            }

            if (pid != Environment.ProcessId && !IsRunning(pid) && TryDelete(file))
            {
                deleted++;
            }
        }

        return deleted;
    }

    private static IEnumerable<string> Names(IReadOnlyList<Entry> entries, int from, int to)
    {
        for (int i = from; i < to; i++)
        {
            yield return entries[i].FileName;
        }
    }

    private static bool IsRunning(int pid)
    {
        try
        {
            using Process process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    private static bool TryDelete(string path)
    {
        try
        {
            if (File.Exists(path))
            {
                File.Delete(path);
                return true;
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }

        return false;
    }

    private static void TryDeleteEmptyDirectory(string directory)
    {
        try
        {
            Directory.Delete(directory, recursive: false);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
