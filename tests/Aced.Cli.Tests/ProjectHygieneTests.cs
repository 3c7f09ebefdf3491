using System;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using System.Xml.Linq;

namespace Aced.Cli.Tests;

/// <summary>Project-file rules of issue 8 items 21-22, checked on the source tree the tests were built from.</summary>
public sealed class ProjectHygieneTests
{
    [Fact]
    public void AllowUnsafeBlocks_OnlyInProjectsWithUnsafeCode()
    {
        string root = RepositoryRoot();
        var offenders = Directory.EnumerateFiles(root, "*.csproj", SearchOption.AllDirectories)
            .Where(p => !IsBuildOutput(root, p))
            .Where(p => XDocument.Load(p).Descendants("AllowUnsafeBlocks").Any(e => string.Equals(e.Value.Trim(), "true", StringComparison.OrdinalIgnoreCase)))
            .Where(p => !Directory.EnumerateFiles(Path.GetDirectoryName(p)!, "*.cs", SearchOption.AllDirectories)
                .Where(cs => !IsBuildOutput(root, cs))
                .Any(cs => Regex.IsMatch(File.ReadAllText(cs), @"\bunsafe\b")))
            .Select(p => Path.GetRelativePath(root, p))
            .ToList();

        Assert.True(offenders.Count == 0, "AllowUnsafeBlocks without any unsafe code: " + string.Join(", ", offenders));
    }

    [Fact]
    public void Packages_HaveARealRepositoryAndTheToolHasAReadmeAndTags()
    {
        string root = RepositoryRoot();
        string props = File.ReadAllText(Path.Combine(root, "Directory.Build.props"));
        Assert.DoesNotContain("example.invalid", props, StringComparison.Ordinal);
        Assert.Contains("Microsoft.SourceLink.GitHub", props, StringComparison.Ordinal);
        Assert.Contains("snupkg", props, StringComparison.Ordinal);

        XDocument tool = XDocument.Load(Path.Combine(root, "samples", "Aced.Cli", "Aced.Cli.csproj"));
        Assert.Equal("README.md", tool.Descendants("PackageReadmeFile").Single().Value);
        Assert.False(string.IsNullOrWhiteSpace(tool.Descendants("PackageTags").Single().Value));
        Assert.True(File.Exists(Path.Combine(root, "samples", "Aced.Cli", "README.md")));
    }

    private static bool IsBuildOutput(string root, string path)
    {
        string relative = Path.GetRelativePath(root, path).Replace('\\', '/');
        return relative.Contains("/bin/", StringComparison.Ordinal) || relative.Contains("/obj/", StringComparison.Ordinal)
            || relative.StartsWith("artifacts/", StringComparison.Ordinal);
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Aced.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("Aced.sln not found above " + AppContext.BaseDirectory);
    }
}
