using System;
using System.IO;
using System.Text;

namespace Aced.Pipeline.Reports;

/// <summary>Atomic file writes: the content goes to a temporary file beside the target, then replaces it by rename.</summary>
internal static class AtomicFile
{
    /// <summary>Writes UTF-8 text (no BOM) atomically; creates the directory if needed.</summary>
    public static void WriteAllText(string path, string content)
    {
        ArgumentNullException.ThrowIfNull(path);
        string full = Path.GetFullPath(path);
        string? directory = Path.GetDirectoryName(full);
        if (!string.IsNullOrEmpty(directory))
        {
            Directory.CreateDirectory(directory);
        }

        string temp = $"{full}.{Environment.ProcessId}.tmp";
        try
        {
            File.WriteAllText(temp, content, new UTF8Encoding(false));
            File.Move(temp, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp))
            {
                File.Delete(temp);
            }
        }
    }
}
