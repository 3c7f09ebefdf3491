using System;
using System.Collections.Generic;
using System.ComponentModel;
using System.Diagnostics;
using System.IO;
using System.Text.Json;
using System.Threading;

namespace Aced.Pipeline.Data;

/// <summary>What <see cref="EmojiFetcher.Fetch"/> did.</summary>
/// <param name="Folder">The emoji cache folder.</param>
/// <param name="Packages">Every package now in the cache, as recorded in the manifest.</param>
/// <param name="Downloaded">How many packages were downloaded now (0 when all were already present and valid).</param>
public sealed record EmojiFetchResult(string Folder, IReadOnlyList<EmojiPackage> Packages, int Downloaded);

/// <summary>
/// Fetches the emoji packages with the ordinary npm client: for each package, <c>npm view PKG@VER dist.integrity</c>
/// (the registry's SHA-512), then <c>npm pack PKG@VER --pack-destination TEMP --json</c>; each .tgz is checked
/// against the registry's integrity, moved into <c>CACHE/emoji</c>, and recorded in <c>manifest.json</c>
/// (written atomically). Packages already present with a matching manifest entry are not downloaded again.
/// </summary>
public static class EmojiFetcher
{
    /// <summary>Fetches into <c><paramref name="cacheDirectory"/>/emoji</c>.</summary>
    /// <param name="cacheDirectory">The cache root (see <see cref="DataOptions.DefaultCacheDirectory"/>).</param>
    /// <param name="npm">The npm executable (default "npm", found on PATH).</param>
    /// <param name="log">Progress lines (may be null).</param>
    /// <param name="cancellationToken">Checked between packages.</param>
    /// <exception cref="DataException">npm is missing, the registry cannot be reached, or a download does not match its integrity.</exception>
    public static EmojiFetchResult Fetch(string cacheDirectory, string npm = "npm", Action<string>? log = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(cacheDirectory);
        ArgumentException.ThrowIfNullOrEmpty(npm);
        string folder = EmojiManifest.Folder(cacheDirectory);
        Directory.CreateDirectory(folder);
        List<EmojiPackage> existing = ReadExisting(folder);
        var packages = new List<EmojiPackage>();
        int downloaded = 0;
        string temp = Path.Combine(folder, $".fetch-{Environment.ProcessId}");
        try
        {
            foreach ((string name, string version) in EmojiManifest.Packages())
            {
                cancellationToken.ThrowIfCancellationRequested();
                EmojiPackage? present = Present(folder, existing, name, version);
                if (present is not null)
                {
                    log?.Invoke($"{name}@{version}: present ({present.File}, integrity ok)");
                    packages.Add(present);
                    continue;
                }

                string spec = $"{name}@{version}";
                log?.Invoke($"{spec}: npm view dist.integrity");
                string integrity = Run(npm, ["view", spec, "dist.integrity"], folder).Trim();
                if (!integrity.StartsWith("sha512-", StringComparison.Ordinal))
                {
                    throw new DataException(npm, $"`npm view {spec} dist.integrity` printed '{integrity}', not a sha512 integrity; check the registry configuration (npm config get registry).");
                }

                Directory.CreateDirectory(temp);
                log?.Invoke($"{spec}: npm pack");
                string json = Run(npm, ["pack", spec, "--pack-destination", temp, "--json"], temp);
                string file = PackedFileName(json, spec);
                string packed = Path.Combine(temp, file);
                if (!File.Exists(packed))
                {
                    throw new DataException(packed, $"`npm pack {spec}` reported this file but it was not written.");
                }

                string actual = EmojiManifest.Integrity(packed);
                if (actual != integrity)
                {
                    throw new DataException(packed, $"integrity mismatch for {spec}: the registry says {integrity}, the download hashes to {actual}. Try again; if it persists, the registry or a proxy serves a different file.");
                }

                string target = Path.Combine(folder, file);
                File.Move(packed, target, overwrite: true);
                var package = new EmojiPackage(name, version, file, integrity, new FileInfo(target).Length);
                packages.Add(package);
                downloaded++;
                log?.Invoke($"{spec}: {package.Bytes} bytes, {integrity[..Math.Min(24, integrity.Length)]}...");

                // Record progress after each package so an interrupted fetch keeps what it verified.
                var recorded = new List<EmojiPackage>(packages);
                foreach (EmojiPackage p in existing)
                {
                    if (!Contains(recorded, p.Name))
                    {
                        recorded.Add(p);
                    }
                }

                EmojiManifest.Write(folder, recorded);
            }
        }
        finally
        {
            if (Directory.Exists(temp))
            {
                Directory.Delete(temp, recursive: true);
            }
        }

        EmojiManifest.Write(folder, packages);
        return new EmojiFetchResult(folder, packages, downloaded);
    }

    private static bool Contains(List<EmojiPackage> list, string name)
    {
        foreach (EmojiPackage p in list)
        {
            if (p.Name == name)
            {
                return true;
            }
        }

        return false;
    }

    private static List<EmojiPackage> ReadExisting(string folder)
    {
        string path = Path.Combine(folder, EmojiManifest.FileName);
        if (!File.Exists(path))
        {
            return [];
        }

        try
        {
            return JsonSerializer.Deserialize<List<EmojiPackage>>(File.ReadAllText(path)) ?? [];
        }
        catch (JsonException)
        {
            return []; // an unreadable manifest is rebuilt by fetching again
        }
    }

    private static EmojiPackage? Present(string folder, List<EmojiPackage> existing, string name, string version)
    {
        foreach (EmojiPackage p in existing)
        {
            if (p is null || p.Name != name || p.Version != version || string.IsNullOrEmpty(p.File) || p.File != Path.GetFileName(p.File))
            {
                continue;
            }

            string path = Path.Combine(folder, p.File);
            if (File.Exists(path) && new FileInfo(path).Length == p.Bytes && EmojiManifest.Integrity(path) == p.Integrity)
            {
                return p;
            }
        }

        return null;
    }

    private static string PackedFileName(string json, string spec)
    {
        try
        {
            using JsonDocument doc = JsonDocument.Parse(json);
            JsonElement first = doc.RootElement.ValueKind == JsonValueKind.Array ? doc.RootElement[0] : doc.RootElement;
            string file = first.GetProperty("filename").GetString()!;
            if (file != Path.GetFileName(file) || !file.EndsWith(".tgz", StringComparison.Ordinal))
            {
                throw new DataException("npm", $"`npm pack {spec}` reported an unexpected file name '{file}'.");
            }

            return file;
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException or IndexOutOfRangeException)
        {
            throw new DataException("npm", $"could not read the output of `npm pack {spec} --json` ({ex.Message}); is npm 7 or newer installed?", inner: ex);
        }
    }

    // Runs npm and returns stdout; a missing executable or a non-zero exit becomes a DataException with the fix.
    private static string Run(string npm, string[] arguments, string workingDirectory)
    {
        var start = new ProcessStartInfo(npm)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory,
        };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        Process process;
        try
        {
            process = Process.Start(start) ?? throw new Win32Exception($"could not start {npm}");
        }
        catch (Win32Exception ex)
        {
            throw new DataException(npm, $"npm was not found or could not be started ({ex.Message}). Install Node.js with npm (e.g. `apt-get install npm`) and make sure `npm` is on PATH.", inner: ex);
        }

        using (process)
        {
            System.Threading.Tasks.Task<string> stderr = process.StandardError.ReadToEndAsync();
            string stdout = process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            string error = stderr.Result;
            if (process.ExitCode != 0)
            {
                throw new DataException(npm, $"`npm {string.Join(' ', arguments)}` exited with code {process.ExitCode}: {LastLines(error)} Check the network and the registry (npm config get registry); then run `aced data fetch emoji` again.");
            }

            return stdout;
        }
    }

    private static string LastLines(string text)
    {
        string[] lines = text.Trim().Split('\n');
        int from = Math.Max(0, lines.Length - 3);
        return string.Join(" ", lines, from, lines.Length - from).Trim();
    }
}
