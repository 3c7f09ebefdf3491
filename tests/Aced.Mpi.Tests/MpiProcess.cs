using System;
using System.Diagnostics;
using System.IO;
using System.Text;

namespace Aced.Mpi.Tests;

/// <summary>Finds MPICH's mpiexec and runs programs under it with a time limit.</summary>
internal static class MpiProcess
{
    public const string SkipMessage = "MPICH is not installed (no mpiexec on PATH or libmpich.so.12 missing): apt-get install mpich to run the multi-process tests";

    private static readonly Lazy<string?> Launcher = new(FindLauncher);

    /// <summary>mpiexec of MPICH, or null.</summary>
    public static string? MpiExec => Launcher.Value;

    public static string RepositoryRoot()
    {
        string? dir = AppContext.BaseDirectory;
        while (dir is not null && !File.Exists(Path.Combine(dir, "Aced.sln")))
        {
            dir = Path.GetDirectoryName(dir);
        }

        return dir ?? throw new InvalidOperationException("Aced.sln not found above " + AppContext.BaseDirectory);
    }

    /// <summary>The built sample, same configuration as these tests (bin/&lt;Configuration&gt;/net10.0).</summary>
    public static string SamplePath()
    {
        string configuration = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar)).Parent!.Name;
        string path = Path.Combine(RepositoryRoot(), "samples", "Aced.Mpi.Sample", "bin", configuration, "net10.0", "aced-mpi-sample.dll");
        if (!File.Exists(path))
        {
            throw new FileNotFoundException("build samples/Aced.Mpi.Sample first", path);
        }

        return path;
    }

    public static (int ExitCode, string Output) Run(int ranks, string arguments, TimeSpan limit)
    {
        var info = new ProcessStartInfo(MpiExec!, $"-n {ranks} dotnet {arguments}")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        var output = new StringBuilder();
        using var process = new Process { StartInfo = info };
        process.OutputDataReceived += (_, e) => Append(output, e.Data);
        process.ErrorDataReceived += (_, e) => Append(output, e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (!process.WaitForExit(limit))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"mpiexec -n {ranks} {arguments} did not finish within {limit.TotalSeconds} s; output so far:\n{output}");
        }

        process.WaitForExit();
        return (process.ExitCode, output.ToString());
    }

    private static void Append(StringBuilder output, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (output)
        {
            output.AppendLine(line);
        }
    }

    private static string? FindLauncher()
    {
        if (!MpiLibrary.IsMpichAvailable(out _))
        {
            return null;
        }

        string path = System.Environment.GetEnvironmentVariable("PATH") ?? string.Empty;
        foreach (string name in new[] { "mpiexec.mpich", "mpiexec.hydra", "mpiexec" })
        {
            foreach (string dir in path.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
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
}

/// <summary>A fact that is skipped, with a message saying how to enable it, when MPICH is absent.</summary>
public sealed class MpiFactAttribute : FactAttribute
{
    public MpiFactAttribute()
    {
        if (MpiProcess.MpiExec is null)
        {
            Skip = MpiProcess.SkipMessage;
        }
    }
}
