using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;

namespace Aced.Pipeline.Tests.Evaluation;

/// <summary>Runs headless Chromium (Debian's <c>chromium</c>) on a local HTML file: its DOM after load and its console lines.</summary>
internal static class BrowserCheck
{
    /// <summary>The chromium executable on PATH, or null.</summary>
    public static string? FindChromium()
    {
        string? path = Environment.GetEnvironmentVariable("PATH");
        if (path is null)
        {
            return null;
        }

        foreach (string dir in path.Split(Path.PathSeparator))
        {
            foreach (string name in new[] { "chromium", "chromium-browser" })
            {
                string candidate = Path.Combine(dir, name);
                if (File.Exists(candidate))
                {
                    return candidate;
                }
            }
        }

        return null;
    }

    /// <summary>Loads <paramref name="htmlPath"/>; returns the serialised DOM and every console line Chromium logged.</summary>
    public static (string Dom, List<string> ConsoleLines) Load(string chromium, string htmlPath, string? screenshotPath = null)
    {
        string profile = Path.Combine(Path.GetTempPath(), $"aced-chromium-{Guid.NewGuid():N}");
        Directory.CreateDirectory(profile);
        try
        {
            var psi = new ProcessStartInfo(chromium)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            foreach (string arg in new[] { "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run", "--enable-logging=stderr", "--v=0", $"--user-data-dir={profile}", "--window-size=1200,2400" })
            {
                psi.ArgumentList.Add(arg);
            }

            psi.ArgumentList.Add(screenshotPath is null ? "--dump-dom" : $"--screenshot={screenshotPath}");
            psi.ArgumentList.Add(new Uri(Path.GetFullPath(htmlPath)).AbsoluteUri);
            using Process process = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {chromium}");
            var stderrTask = process.StandardError.ReadToEndAsync();
            string dom = process.StandardOutput.ReadToEnd();
            if (!process.WaitForExit(120_000))
            {
                process.Kill(entireProcessTree: true);
                throw new TimeoutException($"{chromium} did not finish loading {htmlPath} in 120 s");
            }

            var console = new List<string>();
            foreach (string line in stderrTask.Result.Split('\n'))
            {
                if (line.Contains(":CONSOLE", StringComparison.Ordinal))
                {
                    console.Add(line.Trim());
                }
            }

            return (dom, console);
        }
        finally
        {
            try
            {
                Directory.Delete(profile, recursive: true);
            }
            catch (IOException)
            {
                // Chromium may still hold a lock file for a moment; the directory is in /tmp.
            }
        }
    }
}

/// <summary>A fact skipped, with the reason, when <c>chromium</c> is not on PATH (CI installs Debian's package).</summary>
public sealed class ChromiumFactAttribute : FactAttribute
{
    public ChromiumFactAttribute()
    {
        if (BrowserCheck.FindChromium() is null)
        {
            Skip = "chromium is not on PATH: install Debian's 'chromium' package to run the browser check of report.html";
        }
    }
}
