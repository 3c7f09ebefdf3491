using System;
using System.Globalization;
using System.IO;
using System.Security.Cryptography;
using System.Text;

namespace Aced.Pipeline.Training;

/// <summary>The file layout of a run directory and atomic (temporary file + rename) writes.</summary>
public static class RunFiles
{
    /// <summary>Everything needed to rerun: the options and the resolved model/data facts.</summary>
    public const string Config = "config.json";

    /// <summary>One JSON line per step.</summary>
    public const string Metrics = "metrics.jsonl";

    /// <summary>The final model (parameters, optimizer state, tokenizer).</summary>
    public const string FinalCheckpoint = "final.ckpt";

    /// <summary>The final summary (the <see cref="TrainResult"/> as JSON).</summary>
    public const string FinalSummary = "final.json";

    /// <summary>Periodic checkpoints.</summary>
    public const string CheckpointDirectory = "checkpoints";

    /// <summary>Cached reference embeddings (in a reference run's directory).</summary>
    public const string ReferenceCacheDirectory = "reference-cache";

    /// <summary>RUN_DIR/checkpoints/step-NNNNNN.ckpt.</summary>
    public static string CheckpointPath(string runDir, long step) =>
        Path.Combine(runDir, CheckpointDirectory, "step-" + step.ToString("D6", CultureInfo.InvariantCulture) + ".ckpt");

    /// <summary>The file of a companion model (Bad-Students proxies) beside a checkpoint: step-NNNNNN.NAME.ckpt.</summary>
    public static string CompanionPath(string checkpointPath, string name) =>
        Path.ChangeExtension(checkpointPath, null) + "." + name + ".ckpt";

    /// <summary>The trainer-state side file of a checkpoint (seconds and counters): step-NNNNNN.json.</summary>
    public static string StatePath(string checkpointPath) => Path.ChangeExtension(checkpointPath, ".json");

    /// <summary>Writes <paramref name="text"/> (UTF-8, no BOM) to <paramref name="path"/> atomically.</summary>
    public static void WriteAllText(string path, string text) => WriteAllBytes(path, new UTF8Encoding(false).GetBytes(text));

    /// <summary>Writes <paramref name="bytes"/> to <paramref name="path"/> atomically (a temporary in the same folder, flushed, then renamed over).</summary>
    public static void WriteAllBytes(string path, ReadOnlySpan<byte> bytes)
    {
        string full = Path.GetFullPath(path);
        string directory = Path.GetDirectoryName(full) ?? ".";
        Directory.CreateDirectory(directory);
        string temp = Path.Combine(directory, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                stream.Write(bytes);
                stream.Flush(flushToDisk: true);
            }

            File.Move(temp, full, overwrite: true);
        }
        catch
        {
            TryDelete(temp);
            throw;
        }
    }

    /// <summary>Lower-case hex SHA-256 of a file's bytes.</summary>
    public static string HashFile(string path)
    {
        using FileStream stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }

    /// <summary>Lower-case hex SHA-256 of a string's UTF-8 bytes.</summary>
    public static string HashText(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
