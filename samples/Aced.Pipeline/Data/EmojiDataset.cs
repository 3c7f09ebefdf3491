using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Threading;

namespace Aced.Pipeline.Data;

/// <summary>
/// The emoji data set, read straight from the fetched npm .tgz files (see <see cref="EmojiManifest"/>): base emoji
/// only (no skin-tone variants), one 64x64 RGBA PNG per vendor composited over mid-grey and area-resized to S,
/// captions "label: tag, tag, ..." from emojibase-data (en), tasks "group" and "subgroup".
/// <para>Splits (the paper's protocol on vendors):</para>
/// <list type="bullet">
/// <item>held-out emoji: a fixed 15% of base emoji, chosen by SHA-256 of the emoji's code points (independent of the
/// seed, so every run holds out the same emoji), are removed from the reference and student sets;</item>
/// <item>ReferenceTrain: google + twitter images of the other 85%, clean captions;</item>
/// <item>StudentTrain: google + twitter + apple images of the same 85%, with <see cref="DataOptions.NoiseRate"/> of the
/// captions swapped for another emoji's (one draw from the seed; never for an identical caption);</item>
/// <item>Holdout: google + twitter images of the held-out 15%, clean (RHO-loss's reference);</item>
/// <item>Evaluation: every base emoji of facebook (the held-out vendor), clean.</item>
/// </list>
/// </summary>
public static class EmojiDataset
{
    /// <summary>Per-ten-thousand of base emoji held out (15%).</summary>
    public const int HoldoutPerTenThousand = 1500;

    private const long MaxJsonBytes = 256L << 20;
    private const ulong SwapNoiseStream = 0xE0_0001;

    /// <summary>Zero-shot prompt templates of the group and subgroup tasks.</summary>
    public static readonly string[] PromptTemplates = ["an emoji of {0}.", "{0}", "a {0} emoji", "an icon of {0}."];

    /// <summary>Loads the splits from <see cref="DataOptions.ResolvedCacheDirectory"/>/emoji.</summary>
    /// <exception cref="DataException">Not fetched (run <c>aced data fetch emoji</c>), integrity mismatch, or bad archive contents.</exception>
    public static DatasetSplits Load(DataOptions options, DataLoadReport report, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(report);
        options.Validate();
        string folder = EmojiManifest.Folder(options.ResolvedCacheDirectory);
        Dictionary<string, string> files = EmojiManifest.Verify(folder, message => options.Report(message, 0, 0));
        Captions captions = ReadCaptions(files[EmojiManifest.EmojibaseName], options, report, cancellationToken);

        var vendors = new List<VendorImages>();
        for (int v = 0; v < EmojiManifest.Vendors.Length; v++)
        {
            string vendor = EmojiManifest.Vendors[v];
            options.Report($"emoji: reading {vendor}", v, EmojiManifest.Vendors.Length);
            vendors.Add(ReadVendor(vendor, files[$"emoji-datasource-{vendor}"], captions, options, report, cancellationToken));
        }

        options.Report("emoji: read", EmojiManifest.Vendors.Length, EmojiManifest.Vendors.Length);
        var groups = new ClassIndex();
        var subgroups = new ClassIndex();
        foreach (VendorImages images in vendors)
        {
            foreach (Example e in images.Examples)
            {
                groups.Add(e.Info.GroupOrder, e.Info.Group);
                subgroups.Add(e.Info.SubgroupOrder, e.Info.Subgroup);
            }
        }

        groups.Freeze();
        subgroups.Freeze();
        int side = options.ImageSize;
        ImageTextDataset reference = Assemble("emoji/reference", [vendors[0], vendors[1]], HeldOut.No, side, groups, subgroups);
        ImageTextDataset student = Assemble("emoji/student", [vendors[0], vendors[1], vendors[2]], HeldOut.No, side, groups, subgroups);
        CaptionNoise.Swap(student.Captions, student.CaptionCorrupted, options.NoiseRate, options.Seed, SwapNoiseStream);
        ImageTextDataset holdout = Assemble("emoji/holdout", [vendors[0], vendors[1]], HeldOut.Yes, side, groups, subgroups);
        ImageTextDataset evaluation = Assemble("emoji/facebook", [vendors[3]], HeldOut.Any, side, groups, subgroups);
        foreach (ImageTextDataset d in new[] { reference, student, holdout, evaluation })
        {
            if (d.Count == 0)
            {
                throw new DataException(folder, $"empty data set: split '{d.Name}' has no examples; the archives hold no usable base emoji. Delete the folder and fetch again.");
            }
        }

        return new DatasetSplits(reference, student, holdout, [evaluation]);
    }

    /// <summary>True when the base emoji <paramref name="key"/> (lower-case code points without FE0F, '-'-joined) is held out.</summary>
    public static bool IsHeldOut(string key)
    {
        Span<byte> digest = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(key), digest);
        return BinaryPrimitives.ReadUInt64LittleEndian(digest) % 10_000 < HoldoutPerTenThousand;
    }

    /// <summary>Normalises a code-point sequence ("1F600", "0023-FE0F-20E3") to the join key ("1f600", "0023-20e3").</summary>
    public static string Key(string codePoints)
    {
        var builder = new StringBuilder(codePoints.Length);
        foreach (string part in codePoints.ToLowerInvariant().Split('-'))
        {
            if (part.Length == 0 || part == "fe0f")
            {
                continue;
            }

            if (builder.Length > 0)
            {
                builder.Append('-');
            }

            builder.Append(part);
        }

        return builder.ToString();
    }

    private enum HeldOut
    {
        No,
        Yes,
        Any,
    }

    private static ImageTextDataset Assemble(string name, VendorImages[] sources, HeldOut heldOut, int side, ClassIndex groups, ClassIndex subgroups)
    {
        var chosen = new List<(VendorImages Images, int Index)>();
        foreach (VendorImages images in sources)
        {
            for (int i = 0; i < images.Examples.Count; i++)
            {
                bool held = IsHeldOut(images.Examples[i].Key);
                if (heldOut == HeldOut.Any || held == (heldOut == HeldOut.Yes))
                {
                    chosen.Add((images, i));
                }
            }
        }

        int n = chosen.Count;
        int floats = 3 * side * side;
        var pixels = new float[(long)n * floats];
        var captions = new string[n];
        var ids = new string[n];
        var group = new int[n];
        var subgroup = new int[n];
        for (int k = 0; k < n; k++)
        {
            (VendorImages images, int i) = chosen[k];
            Example e = images.Examples[i];
            Array.Copy(images.Pixels, (long)i * floats, pixels, (long)k * floats, floats);
            captions[k] = e.Info.Caption;
            ids[k] = $"{images.Vendor}/{e.Key}";
            group[k] = groups.IndexOf(e.Info.GroupOrder);
            subgroup[k] = subgroups.IndexOf(e.Info.SubgroupOrder);
        }

        LabelTask[] tasks =
        [
            new LabelTask("group", groups.Names, PromptTemplates, group),
            new LabelTask("subgroup", subgroups.Names, PromptTemplates, subgroup),
        ];
        return new ImageTextDataset(name, side, pixels, captions, ids, new bool[n], tasks);
    }

    private static Captions ReadCaptions(string archive, DataOptions options, DataLoadReport report, CancellationToken cancellationToken)
    {
        const string dataEntry = "package/en/data.json";
        const string messagesEntry = "package/en/messages.json";
        Dictionary<string, byte[]> entries = TgzReader.Read(archive, "package/", name => name is dataEntry or messagesEntry, MaxJsonBytes, options, report, cancellationToken);
        byte[] data = Require(entries, archive, dataEntry);
        byte[] messages = Require(entries, archive, messagesEntry);
        var groupNames = new Dictionary<int, string>();
        var subgroupNames = new Dictionary<int, string>();
        try
        {
            using JsonDocument doc = JsonDocument.Parse(messages);
            ReadMessages(doc.RootElement.GetProperty("groups"), groupNames, useKey: false);
            ReadMessages(doc.RootElement.GetProperty("subgroups"), subgroupNames, useKey: true);
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            throw new DataException($"{archive}:{messagesEntry}", $"unexpected layout (groups/subgroups with key, message, order expected): {ex.Message}", inner: ex);
        }

        var byKey = new Dictionary<string, EmojiInfo>(StringComparer.Ordinal);
        try
        {
            using JsonDocument doc = JsonDocument.Parse(data);
            foreach (JsonElement e in doc.RootElement.EnumerateArray())
            {
                if (!e.TryGetProperty("hexcode", out JsonElement hex) || !e.TryGetProperty("label", out JsonElement label)
                    || !e.TryGetProperty("group", out JsonElement groupElement) || !e.TryGetProperty("subgroup", out JsonElement subgroupElement))
                {
                    continue; // components without a group (regional indicators, skin tones) are not captioned emoji
                }

                var caption = new StringBuilder(label.GetString());
                if (e.TryGetProperty("tags", out JsonElement tags) && tags.ValueKind == JsonValueKind.Array && tags.GetArrayLength() > 0)
                {
                    caption.Append(':');
                    bool first = true;
                    foreach (JsonElement tag in tags.EnumerateArray())
                    {
                        caption.Append(first ? " " : ", ").Append(tag.GetString());
                        first = false;
                    }
                }

                int g = groupElement.GetInt32();
                int s = subgroupElement.GetInt32();
                byKey[Key(hex.GetString()!)] = new EmojiInfo(
                    caption.ToString(),
                    g,
                    groupNames.TryGetValue(g, out string? gn) ? gn : $"group {g}",
                    s,
                    subgroupNames.TryGetValue(s, out string? sn) ? sn : $"subgroup {s}");
            }
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or FormatException)
        {
            throw new DataException($"{archive}:{dataEntry}", $"unexpected layout (an array of emoji with hexcode, label, tags, group, subgroup expected): {ex.Message}", inner: ex);
        }

        if (byKey.Count == 0)
        {
            throw new DataException($"{archive}:{dataEntry}", "no captioned emoji found.");
        }

        return new Captions(byKey);
    }

    private static void ReadMessages(JsonElement array, Dictionary<int, string> names, bool useKey)
    {
        foreach (JsonElement m in array.EnumerateArray())
        {
            string text = useKey ? m.GetProperty("key").GetString()!.Replace('-', ' ') : m.GetProperty("message").GetString()!;
            names[m.GetProperty("order").GetInt32()] = text;
        }
    }

    private static VendorImages ReadVendor(string vendor, string archive, Captions captions, DataOptions options, DataLoadReport report, CancellationToken cancellationToken)
    {
        const string listEntry = "package/emoji.json";
        string imageFolder = $"package/img/{vendor}/64/";
        Dictionary<string, byte[]> entries = TgzReader.Read(
            archive,
            "package/",
            name => name == listEntry || (name.StartsWith(imageFolder, StringComparison.Ordinal) && name.EndsWith(".png", StringComparison.Ordinal)),
            Math.Max(MaxJsonBytes, options.MaxImageBytes),
            options,
            report,
            cancellationToken);
        byte[] list = Require(entries, archive, listEntry);
        var bases = new List<(string Key, string Image)>();
        try
        {
            using JsonDocument doc = JsonDocument.Parse(list);
            foreach (JsonElement e in doc.RootElement.EnumerateArray())
            {
                string unified = e.GetProperty("unified").GetString()!;
                string image = e.GetProperty("image").GetString()!;
                bool has = e.TryGetProperty($"has_img_{vendor}", out JsonElement flag) && flag.ValueKind == JsonValueKind.True;
                if (has)
                {
                    bases.Add((Key(unified), image));
                }
            }
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            throw new DataException($"{archive}:{listEntry}", $"unexpected layout (an array of emoji with unified, image, has_img_{vendor} expected): {ex.Message}", inner: ex);
        }

        bases.Sort((a, b) => string.CompareOrdinal(a.Key, b.Key));
        int side = options.ImageSize;
        int floats = 3 * side * side;
        var examples = new List<Example>(bases.Count);
        var pixels = new float[(long)bases.Count * floats];
        string? previous = null;
        foreach ((string key, string image) in bases)
        {
            if (key == previous || !captions.ByKey.TryGetValue(key, out EmojiInfo? info))
            {
                continue; // duplicates, or emoji emojibase does not caption
            }

            string entryName = imageFolder + image;
            string where = $"{archive}:{entryName}";
            if (TgzReader.CheckName(entryName, imageFolder) is string problem)
            {
                report.SkipOrThrow(new DataException(where, problem), options);
                continue;
            }

            if (!entries.TryGetValue(entryName, out byte[]? png))
            {
                report.SkipOrThrow(new DataException(where, $"missing image: {listEntry} lists {image} for {vendor} but the archive has no such entry."), options);
                continue;
            }

            try
            {
                ImageDecoder.Decode(png, where, options, side, pixels.AsSpan(examples.Count * floats, floats));
            }
            catch (DataException ex)
            {
                report.SkipOrThrow(ex, options);
                continue;
            }

            examples.Add(new Example(key, info));
            previous = key;
        }

        return new VendorImages(vendor, examples, pixels);
    }

    private static byte[] Require(Dictionary<string, byte[]> entries, string archive, string entry)
    {
        if (!entries.TryGetValue(entry, out byte[]? bytes))
        {
            throw new DataException(archive, $"unexpected layout: no '{entry}' in the archive; delete it and run `aced data fetch emoji` again.");
        }

        return bytes;
    }

    private sealed record EmojiInfo(string Caption, int GroupOrder, string Group, int SubgroupOrder, string Subgroup);

    private sealed record Captions(Dictionary<string, EmojiInfo> ByKey);

    private readonly record struct Example(string Key, EmojiInfo Info);

    private sealed record VendorImages(string Vendor, List<Example> Examples, float[] Pixels);

    // Classes ordered by emojibase's order; only those that occur.
    private sealed class ClassIndex
    {
        private readonly SortedDictionary<int, string> _byOrder = new();
        private readonly Dictionary<int, int> _index = new();

        public string[] Names { get; private set; } = [];

        public void Add(int order, string name) => _byOrder[order] = name;

        public void Freeze()
        {
            var names = new List<string>();
            foreach (KeyValuePair<int, string> pair in _byOrder)
            {
                _index[pair.Key] = names.Count;
                names.Add(pair.Value);
            }

            Names = names.ToArray();
        }

        public int IndexOf(int order) => _index[order];
    }
}
