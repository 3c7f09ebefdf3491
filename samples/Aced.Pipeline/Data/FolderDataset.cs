using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.IO;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Threading;

namespace Aced.Pipeline.Data;

/// <summary>
/// A user's own data: a folder with <c>captions.jsonl</c>, one JSON object per line,
/// <c>{"image": "a.png", "caption": "...", "label": "..."}</c> (<c>label</c> optional; blank lines ignored), image
/// paths relative to the folder (sub-folders allowed, no escaping it). Images are PNG, JPEG or BMP, decoded by
/// StbImageSharp within the bounds of <see cref="DataOptions"/>, centre-cropped and area-resized to S.
/// <para>
/// Split (deterministic, independent of the seed and of line order): examples are ranked by SHA-256 of their image
/// path; the first max(1, n/10) form Evaluation, the next max(1, n/10) Holdout, the rest the training split. The
/// data are used as given: ReferenceTrain and StudentTrain are the same training split and no caption noise is
/// injected (real data bring their own). A task "label" exists when any line has a label (-1 where absent).
/// </para>
/// </summary>
public static class FolderDataset
{
    /// <summary>The captions file inside the folder.</summary>
    public const string CaptionsFile = "captions.jsonl";

    /// <summary>Prompt templates of the "label" task.</summary>
    public static readonly string[] PromptTemplates = ["a photo of {0}.", "{0}", "a picture of {0}."];

    private const long MaxCaptionsBytes = 256L << 20;

    /// <summary>Loads the splits of the folder <paramref name="folder"/>.</summary>
    /// <exception cref="DataException">The folder or captions file is missing, a line or image is bad (unless skipped), or fewer than 3 examples remain.</exception>
    public static DatasetSplits Load(string folder, DataOptions options, DataLoadReport report, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(folder);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(report);
        options.Validate();
        string root = Path.GetFullPath(folder);
        if (!Directory.Exists(root))
        {
            throw new DataException(root, "data folder not found (--dataset folder:PATH needs a folder holding captions.jsonl and the images).");
        }

        string captionsPath = Path.Combine(root, CaptionsFile);
        if (!File.Exists(captionsPath))
        {
            throw new DataException(captionsPath, "missing captions file: write one JSON object per line, {\"image\": \"a.png\", \"caption\": \"...\", \"label\": \"...\"} (label optional).");
        }

        if (new FileInfo(captionsPath).Length > MaxCaptionsBytes)
        {
            throw new DataException(captionsPath, $"captions file is above the limit of {MaxCaptionsBytes} bytes.");
        }

        List<Line> lines = ReadLines(root, captionsPath, options, report);
        int side = options.ImageSize;
        int floats = 3 * side * side;
        var pixels = new float[(long)lines.Count * floats];
        var kept = new List<Line>(lines.Count);
        for (int i = 0; i < lines.Count; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            Line line = lines[i];
            try
            {
                LoadImage(line, captionsPath, options, pixels.AsSpan(kept.Count * floats, floats));
                kept.Add(line);
            }
            catch (DataException ex)
            {
                report.SkipOrThrow(ex, options);
            }

            if ((i + 1) % 256 == 0 || i + 1 == lines.Count)
            {
                options.Report("folder: images", i + 1, lines.Count);
            }
        }

        if (kept.Count < 3)
        {
            string what = kept.Count == 0 ? "empty data set: no usable examples" : $"only {kept.Count} usable example(s)";
            throw new DataException(captionsPath, $"{what}{(report.Skipped > 0 ? $" ({report.Skipped} skipped as bad)" : string.Empty)}; at least 3 are needed (training, holdout and evaluation splits).");
        }

        // Rank by hash of the id; assign splits by rank.
        int n = kept.Count;
        var order = new int[n];
        var keys = new ulong[n];
        for (int i = 0; i < n; i++)
        {
            order[i] = i;
            keys[i] = Hash(kept[i].Id);
        }

        Array.Sort(keys, order);
        int evalCount = Math.Max(1, n / 10);
        int holdoutCount = Math.Max(1, n / 10);
        var split = new int[n]; // 0 train, 1 holdout, 2 eval
        for (int r = 0; r < n; r++)
        {
            split[order[r]] = r < evalCount ? 2 : r < evalCount + holdoutCount ? 1 : 0;
        }

        string[]? classes = Classes(kept);
        string name = Path.GetFileName(root.TrimEnd(Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar));
        ImageTextDataset train = Assemble($"folder:{name}/train", kept, pixels, split, 0, side, classes);
        ImageTextDataset student = new(
            $"folder:{name}/student", side, train.Pixels, train.Captions, train.Ids, new bool[train.Count], train.Tasks);
        ImageTextDataset holdout = Assemble($"folder:{name}/holdout", kept, pixels, split, 1, side, classes);
        ImageTextDataset evaluation = Assemble($"folder:{name}/eval", kept, pixels, split, 2, side, classes);
        return new DatasetSplits(train, student, holdout, [evaluation]);
    }

    private static ImageTextDataset Assemble(string name, List<Line> lines, float[] pixels, int[] split, int which, int side, string[]? classes)
    {
        int floats = 3 * side * side;
        int n = 0;
        foreach (int s in split)
        {
            n += s == which ? 1 : 0;
        }

        var own = new float[(long)n * floats];
        var captions = new string[n];
        var ids = new string[n];
        var labels = new int[n];
        int k = 0;
        for (int i = 0; i < lines.Count; i++)
        {
            if (split[i] != which)
            {
                continue;
            }

            Array.Copy(pixels, (long)i * floats, own, (long)k * floats, floats);
            captions[k] = lines[i].Caption;
            ids[k] = lines[i].Id;
            labels[k] = classes is null || lines[i].Label is null ? -1 : Array.BinarySearch(classes, lines[i].Label, StringComparer.Ordinal);
            k++;
        }

        LabelTask[] tasks = classes is null ? [] : [new LabelTask("label", classes, PromptTemplates, labels)];
        return new ImageTextDataset(name, side, own, captions, ids, new bool[n], tasks);
    }

    private static string[]? Classes(List<Line> lines)
    {
        var set = new SortedSet<string>(StringComparer.Ordinal);
        foreach (Line line in lines)
        {
            if (line.Label is not null)
            {
                set.Add(line.Label);
            }
        }

        if (set.Count == 0)
        {
            return null;
        }

        var classes = new string[set.Count];
        set.CopyTo(classes);
        return classes;
    }

    private static void LoadImage(Line line, string captionsPath, DataOptions options, Span<float> destination)
    {
        RefuseSymbolicLinks(line, captionsPath);
        var info = new FileInfo(line.FullPath);
        if (!info.Exists)
        {
            throw new DataException(line.FullPath, $"missing image (listed in {captionsPath} line {line.Number}).");
        }

        if (info.Length > options.MaxImageBytes)
        {
            throw new DataException(line.FullPath, $"image is {info.Length} bytes, above the limit of {options.MaxImageBytes} ({nameof(DataOptions.MaxImageBytes)}); shrink it or remove its line ({captionsPath} line {line.Number}).");
        }

        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(line.FullPath);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new DataException(line.FullPath, $"cannot read image ({ex.Message}).", inner: ex);
        }

        ImageDecoder.Decode(bytes, line.FullPath, options, options.ImageSize, destination);
    }

    // A symbolic link (file or folder) between the data folder and the image could point anywhere on the machine;
    // the data set is the folder's own files, so links are refused (as in package archives), not followed.
    private static void RefuseSymbolicLinks(Line line, string captionsPath)
    {
        string root = line.FullPath.Substring(0, line.FullPath.Length - line.Id.Length);
        string current = root.TrimEnd(Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar);
        foreach (string part in line.Id.Split('/'))
        {
            current = Path.Combine(current, part);
            FileSystemInfo entry = Directory.Exists(current) ? new DirectoryInfo(current) : new FileInfo(current);
            if (entry.LinkTarget is not null)
            {
                throw new DataException(current, $"is a symbolic link (to '{entry.LinkTarget}'); links are not followed in a folder data set, copy the image into the folder instead (listed in {captionsPath} line {line.Number}).");
            }
        }
    }

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private static List<Line> ReadLines(string root, string captionsPath, DataOptions options, DataLoadReport report)
    {
        var lines = new List<Line>();
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        string rootWithSeparator = root.EndsWith(Path.DirectorySeparatorChar) ? root : root + Path.DirectorySeparatorChar;
        int number = 0;
        using IEnumerator<string> reader = File.ReadLines(captionsPath, StrictUtf8).GetEnumerator();
        while (true)
        {
            try
            {
                if (!reader.MoveNext())
                {
                    break;
                }
            }
            catch (DecoderFallbackException ex)
            {
                throw new DataException(captionsPath, "is not valid UTF-8; save the file as UTF-8.", number + 1, ex);
            }

            string text = reader.Current;
            number++;
            if (string.IsNullOrWhiteSpace(text))
            {
                continue;
            }

            try
            {
                Line line = ParseLine(text, number, captionsPath, rootWithSeparator);
                if (seen.TryGetValue(line.Id, out int first))
                {
                    throw new DataException(captionsPath, $"image '{line.Id}' is listed again (first on line {first}); ids must be unique.", number);
                }

                seen[line.Id] = number;
                lines.Add(line);
            }
            catch (DataException ex)
            {
                report.SkipOrThrow(ex, options);
            }
        }

        return lines;
    }

    private static Line ParseLine(string text, int number, string captionsPath, string rootWithSeparator)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(text);
        }
        catch (JsonException ex)
        {
            throw new DataException(captionsPath, $"not a JSON object ({ex.Message}); expected {{\"image\": \"a.png\", \"caption\": \"...\"}}.", number, ex);
        }

        using (doc)
        {
            JsonElement e = doc.RootElement;
            if (e.ValueKind != JsonValueKind.Object)
            {
                throw new DataException(captionsPath, $"expected a JSON object, found {e.ValueKind}.", number);
            }

            string image = RequiredString(e, "image", captionsPath, number);
            string caption = RequiredString(e, "caption", captionsPath, number);
            string? label = null;
            if (e.TryGetProperty("label", out JsonElement labelElement) && labelElement.ValueKind != JsonValueKind.Null)
            {
                if (labelElement.ValueKind != JsonValueKind.String)
                {
                    throw new DataException(captionsPath, "field \"label\" must be a string when present.", number);
                }

                label = labelElement.GetString();
            }

            if (Path.IsPathRooted(image) || image.Contains(':', StringComparison.Ordinal))
            {
                throw new DataException(captionsPath, $"image path '{image}' is absolute; give it relative to the data folder.", number);
            }

            string full = Path.GetFullPath(Path.Combine(rootWithSeparator, image));
            if (!full.StartsWith(rootWithSeparator, StringComparison.Ordinal))
            {
                throw new DataException(captionsPath, $"image path '{image}' escapes the data folder ('..'); keep images inside it.", number);
            }

            string id = Path.GetRelativePath(rootWithSeparator, full).Replace('\\', '/');
            return new Line(number, id, full, caption, label);
        }
    }

    private static string RequiredString(JsonElement e, string field, string path, int number)
    {
        if (!e.TryGetProperty(field, out JsonElement value) || value.ValueKind != JsonValueKind.String || string.IsNullOrWhiteSpace(value.GetString()))
        {
            throw new DataException(path, $"missing or empty field \"{field}\" (a string); each line needs \"image\" and \"caption\".", number);
        }

        return value.GetString()!;
    }

    private static ulong Hash(string id)
    {
        Span<byte> digest = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(id), digest);
        return BinaryPrimitives.ReadUInt64BigEndian(digest);
    }

    private sealed record Line(int Number, string Id, string FullPath, string Caption, string? Label);
}
