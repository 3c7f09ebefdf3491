using System;
using System.Collections.Generic;
using System.Formats.Tar;
using System.IO;
using System.IO.Compression;
using System.Threading;

namespace Aced.Pipeline.Data;

/// <summary>
/// Reads selected regular-file entries of a gzip-compressed tar (an npm <c>.tgz</c>) into memory, streaming,
/// without extracting anything to disk. Every entry name is checked: it must be relative, free of <c>..</c>
/// segments and backslashes, and inside the expected top folder (<c>package/</c> for npm); links are refused.
/// Entry sizes are checked against a bound before their bytes are read.
/// </summary>
internal static class TgzReader
{
    /// <summary>
    /// Reads the entries whose names satisfy <paramref name="want"/> (names as stored, e.g. "package/emoji.json").
    /// </summary>
    /// <param name="archivePath">The .tgz file.</param>
    /// <param name="root">The folder every entry must live in, e.g. "package/".</param>
    /// <param name="want">Selects the entries to keep.</param>
    /// <param name="maxEntryBytes">Largest entry read; a bigger wanted entry is bad data.</param>
    /// <param name="options">Bad-data policy.</param>
    /// <param name="report">Receives skipped entries.</param>
    /// <param name="cancellationToken">Checked between entries.</param>
    /// <exception cref="DataException">The archive is not a gzip tar, an entry escapes <paramref name="root"/>, is a link, or is too large.</exception>
    public static Dictionary<string, byte[]> Read(string archivePath, string root, Predicate<string> want, long maxEntryBytes, DataOptions options, DataLoadReport report, CancellationToken cancellationToken)
    {
        var entries = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        try
        {
            using FileStream file = File.OpenRead(archivePath);
            using var gzip = new GZipStream(file, CompressionMode.Decompress);
            using var tar = new TarReader(gzip, leaveOpen: true);
            TarEntry? entry;
            while ((entry = tar.GetNextEntry(copyData: false)) is not null)
            {
                cancellationToken.ThrowIfCancellationRequested();
                string name = entry.Name;
                string where = $"{archivePath}:{name}";
                string? problem = CheckName(name, root);
                if (problem is not null)
                {
                    report.SkipOrThrow(new DataException(where, problem + " The archive is not a valid package; delete it and fetch again."), options);
                    continue;
                }

                if (entry.EntryType is TarEntryType.Directory)
                {
                    continue;
                }

                if (entry.EntryType is TarEntryType.SymbolicLink or TarEntryType.HardLink)
                {
                    report.SkipOrThrow(new DataException(where, $"links are not accepted in a data archive (points to '{entry.LinkName}')."), options);
                    continue;
                }

                if (entry.EntryType is not (TarEntryType.RegularFile or TarEntryType.V7RegularFile) || !want(name))
                {
                    continue;
                }

                if (entry.Length > maxEntryBytes)
                {
                    report.SkipOrThrow(new DataException(where, $"entry is {entry.Length} bytes, above the limit of {maxEntryBytes}."), options);
                    continue;
                }

                var bytes = new byte[entry.Length];
                if (entry.DataStream is not null)
                {
                    entry.DataStream.ReadExactly(bytes);
                }

                entries[name] = bytes;
            }
        }
        catch (DataException)
        {
            throw;
        }
        catch (FileNotFoundException ex)
        {
            throw new DataException(archivePath, "archive not found.", inner: ex);
        }
        catch (Exception ex) when (ex is InvalidDataException or EndOfStreamException or FormatException or IOException)
        {
            throw new DataException(archivePath, $"not a readable .tgz (gzip-compressed tar): {ex.Message} Delete it and fetch again.", inner: ex);
        }

        return entries;
    }

    /// <summary>Null when <paramref name="name"/> is a safe path inside <paramref name="root"/>; otherwise why not.</summary>
    public static string? CheckName(string name, string root)
    {
        if (name.Length == 0)
        {
            return "empty entry name.";
        }

        if (name[0] == '/' || name.Contains('\\', StringComparison.Ordinal) || name.Contains(':', StringComparison.Ordinal) || Path.IsPathRooted(name))
        {
            return "absolute or non-portable entry path (the archive must hold relative '/'-separated paths).";
        }

        foreach (string segment in name.Split('/'))
        {
            if (segment == "..")
            {
                return "entry path escapes its folder ('..').";
            }
        }

        if (!name.StartsWith(root, StringComparison.Ordinal) && name != root.TrimEnd('/'))
        {
            return $"unexpected layout: every entry must be under '{root}'.";
        }

        return null;
    }
}
