using System;
using System.Collections.Generic;
using System.IO;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Aced.Pipeline.Data;

/// <summary>One fetched npm package: name, version, the .tgz file name in the cache and its SRI integrity ("sha512-BASE64").</summary>
public sealed record EmojiPackage(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("version")] string Version,
    [property: JsonPropertyName("file")] string File,
    [property: JsonPropertyName("integrity")] string Integrity,
    [property: JsonPropertyName("bytes")] long Bytes);

/// <summary>
/// The emoji cache: <c>CACHE/emoji/manifest.json</c> lists the fetched packages with the integrity the registry
/// reported (<c>npm view PKG@VER dist.integrity</c>); every load re-checks each .tgz's SHA-512 against it.
/// </summary>
public static class EmojiManifest
{
    /// <summary>The image vendors, in split order: reference (google, twitter), pool adds apple, evaluation = facebook.</summary>
    public static readonly string[] Vendors = ["google", "twitter", "apple", "facebook"];

    /// <summary>Version of the emoji-datasource-VENDOR packages.</summary>
    public const string DatasourceVersion = "16.0.0";

    /// <summary>The captions package.</summary>
    public const string EmojibaseName = "emojibase-data";

    /// <summary>Version of <see cref="EmojibaseName"/>.</summary>
    public const string EmojibaseVersion = "17.0.0";

    /// <summary>Manifest file name inside the emoji cache folder.</summary>
    public const string FileName = "manifest.json";

    private static readonly JsonSerializerOptions s_json = new() { WriteIndented = true };

    /// <summary>The packages to fetch: the four vendor image packages and the captions.</summary>
    public static IReadOnlyList<(string Name, string Version)> Packages()
    {
        var list = new List<(string, string)>();
        foreach (string vendor in Vendors)
        {
            list.Add(($"emoji-datasource-{vendor}", DatasourceVersion));
        }

        list.Add((EmojibaseName, EmojibaseVersion));
        return list;
    }

    /// <summary>The emoji folder of a cache directory.</summary>
    public static string Folder(string cacheDirectory) => Path.Combine(cacheDirectory, "emoji");

    /// <summary>"sha512-BASE64" of a file.</summary>
    public static string Integrity(string path)
    {
        using FileStream stream = System.IO.File.OpenRead(path);
        return "sha512-" + Convert.ToBase64String(SHA512.HashData(stream));
    }

    /// <summary>Writes the manifest atomically (temp file + rename).</summary>
    public static void Write(string folder, IReadOnlyList<EmojiPackage> packages)
    {
        string path = Path.Combine(folder, FileName);
        string temp = path + ".tmp";
        System.IO.File.WriteAllText(temp, JsonSerializer.Serialize(packages, s_json));
        System.IO.File.Move(temp, path, overwrite: true);
    }

    /// <summary>
    /// Reads the manifest of <paramref name="folder"/> and checks that it lists every expected package and that each
    /// .tgz exists with the recorded size and SHA-512. Returns the path of each package's .tgz by name.
    /// </summary>
    /// <exception cref="DataException">Not fetched yet, incomplete, or a file does not match its integrity.</exception>
    public static Dictionary<string, string> Verify(string folder, Action<string>? progress = null)
    {
        string path = Path.Combine(folder, FileName);
        if (!System.IO.File.Exists(path))
        {
            throw new DataException(path, "the emoji data are not fetched yet: run `aced data fetch emoji` first (with --cache DIR if you use another cache directory).");
        }

        List<EmojiPackage>? packages;
        try
        {
            packages = JsonSerializer.Deserialize<List<EmojiPackage>>(System.IO.File.ReadAllText(path));
        }
        catch (JsonException ex)
        {
            throw new DataException(path, $"unreadable manifest ({ex.Message}); run `aced data fetch emoji` again.", inner: ex);
        }

        var files = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach ((string name, string version) in Packages())
        {
            EmojiPackage? found = null;
            foreach (EmojiPackage p in packages ?? [])
            {
                if (p is not null && p.Name == name && p.Version == version)
                {
                    found = p;
                }
            }

            if (found is null || string.IsNullOrEmpty(found.File) || found.File != Path.GetFileName(found.File))
            {
                throw new DataException(path, $"the manifest does not list {name}@{version}; run `aced data fetch emoji` again.");
            }

            string tgz = Path.Combine(folder, found.File);
            if (!System.IO.File.Exists(tgz))
            {
                throw new DataException(tgz, $"missing package archive of {name}@{version}; run `aced data fetch emoji` again.");
            }

            long bytes = new FileInfo(tgz).Length;
            progress?.Invoke($"verifying {found.File}");
            if (bytes != found.Bytes || Integrity(tgz) != found.Integrity)
            {
                throw new DataException(tgz, $"integrity check failed (expected {found.Integrity}, {found.Bytes} bytes); delete it and run `aced data fetch emoji` again.");
            }

            files[name] = tgz;
        }

        return files;
    }
}
