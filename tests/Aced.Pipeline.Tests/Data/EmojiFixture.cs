using System;
using System.Collections.Generic;
using System.IO;
using System.Text;
using Aced.Pipeline.Data;

namespace Aced.Pipeline.Tests.Data;

/// <summary>
/// A generated emoji cache in the real packages' layout: five .tgz files and a manifest with their integrity.
/// Emoji i (code point 1F600 + i) is a solid 64x64 PNG with red = 10 * i and a vendor-specific green; it belongs to
/// group i % 3 and subgroup i % 5. Apple lacks emoji 1, facebook lacks emoji 2; emoji 0 has a skin-tone variant.
/// </summary>
internal sealed class EmojiFixture : IDisposable
{
    public EmojiFixture(int count = 24, Func<string, IEnumerable<(string Name, byte[] Bytes)>>? extraEntries = null)
    {
        Cache = TestFiles.TempDirectory();
        Count = count;
        Folder = EmojiManifest.Folder(Cache);
        Directory.CreateDirectory(Folder);
        var packages = new List<EmojiPackage>();
        for (int v = 0; v < EmojiManifest.Vendors.Length; v++)
        {
            string vendor = EmojiManifest.Vendors[v];
            var entries = new List<(string, byte[])> { ("package/package.json", TestFiles.Utf8("{}")), ("package/emoji.json", TestFiles.Utf8(EmojiJson(vendor))) };
            for (int i = 0; i < count; i++)
            {
                if (Has(vendor, i))
                {
                    entries.Add(($"package/img/{vendor}/64/{Hex(i)}.png", TestFiles.SolidPng(64, (byte)(10 * i), Green(v), 0)));
                }
            }

            entries.Add(($"package/img/{vendor}/64/1f600-1f3fb.png", TestFiles.SolidPng(64, 255, 255, 255)));
            entries.Add(($"package/img/{vendor}/32/{Hex(0)}.png", TestFiles.SolidPng(32, 1, 2, 3)));
            if (extraEntries is not null)
            {
                entries.AddRange(extraEntries(vendor));
            }

            packages.Add(Write($"emoji-datasource-{vendor}", EmojiManifest.DatasourceVersion, entries));
        }

        packages.Add(Write(EmojiManifest.EmojibaseName, EmojiManifest.EmojibaseVersion, [("package/en/data.json", TestFiles.Utf8(DataJson())), ("package/en/messages.json", TestFiles.Utf8(MessagesJson()))]));
        EmojiManifest.Write(Folder, packages);
        Packages = packages;
    }

    public string Cache { get; }

    public string Folder { get; }

    public int Count { get; }

    public List<EmojiPackage> Packages { get; }

    public static string Hex(int i) => (0x1F600 + i).ToString("x", System.Globalization.CultureInfo.InvariantCulture);

    public static byte Green(int vendor) => (byte)(40 * (vendor + 1));

    public static bool Has(string vendor, int i) => !(vendor == "apple" && i == 1) && !(vendor == "facebook" && i == 2);

    public static string Caption(int i) => $"emoji number {i}: tag{i}, shared";

    public static string GroupName(int g) => $"group message {g}";

    public static string SubgroupName(int s) => $"sub key {s}";

    public void Dispose() => Directory.Delete(Cache, recursive: true);

    public string ArchivePath(string name) => Path.Combine(Folder, $"{name}-{(name == EmojiManifest.EmojibaseName ? EmojiManifest.EmojibaseVersion : EmojiManifest.DatasourceVersion)}.tgz");

    private EmojiPackage Write(string name, string version, IEnumerable<(string, byte[])> entries)
    {
        string file = $"{name}-{version}.tgz";
        string path = Path.Combine(Folder, file);
        TestFiles.Tgz(path, entries);
        return new EmojiPackage(name, version, file, EmojiManifest.Integrity(path), new FileInfo(path).Length);
    }

    private string EmojiJson(string vendor)
    {
        var json = new StringBuilder("[");
        for (int i = 0; i < Count; i++)
        {
            string unified = (0x1F600 + i).ToString("X", System.Globalization.CultureInfo.InvariantCulture);
            string skins = i == 0
                ? ", \"skin_variations\": {\"1F3FB\": {\"unified\": \"1F600-1F3FB\", \"image\": \"1f600-1f3fb.png\", \"has_img_" + vendor + "\": true}}"
                : string.Empty;
            json.Append(i == 0 ? string.Empty : ",")
                .Append($"{{\"unified\": \"{unified}\", \"image\": \"{Hex(i)}.png\", \"short_name\": \"e{i}\", \"has_img_{vendor}\": {(Has(vendor, i) ? "true" : "false")}{skins}}}");
        }

        return json.Append(']').ToString();
    }

    private string DataJson()
    {
        var json = new StringBuilder("[{\"label\": \"regional indicator A\", \"hexcode\": \"1F1E6\", \"type\": 1}");
        for (int i = 0; i < Count; i++)
        {
            string hex = (0x1F600 + i).ToString("X", System.Globalization.CultureInfo.InvariantCulture);
            json.Append($",{{\"label\": \"emoji number {i}\", \"hexcode\": \"{hex}\", \"tags\": [\"tag{i}\", \"shared\"], \"group\": {i % 3}, \"subgroup\": {i % 5}}}");
        }

        return json.Append(']').ToString();
    }

    private static string MessagesJson()
    {
        var json = new StringBuilder("{\"groups\": [");
        for (int g = 0; g < 3; g++)
        {
            json.Append(g == 0 ? string.Empty : ",").Append($"{{\"key\": \"g{g}\", \"message\": \"{GroupName(g)}\", \"order\": {g}}}");
        }

        json.Append("], \"subgroups\": [");
        for (int s = 0; s < 5; s++)
        {
            json.Append(s == 0 ? string.Empty : ",").Append($"{{\"key\": \"sub-key-{s}\", \"message\": \"m{s}\", \"order\": {s}}}");
        }

        return json.Append("]}").ToString();
    }
}
