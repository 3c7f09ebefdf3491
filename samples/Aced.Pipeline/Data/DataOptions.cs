using System;
using System.IO;

namespace Aced.Pipeline.Data;

/// <summary>One progress report while a data set is built: a stage name and how far it got.</summary>
/// <param name="Stage">What is being done, e.g. "shapes/train", "emoji: reading google".</param>
/// <param name="Done">Units finished so far.</param>
/// <param name="Total">Units in the stage (0 when unknown).</param>
public readonly record struct DataProgress(string Stage, long Done, long Total);

/// <summary>
/// Options for <see cref="DatasetCatalog.Load"/>: one place for every data default. Validated by
/// <see cref="Validate"/> (called by the catalog before any work).
/// </summary>
public sealed class DataOptions
{
    /// <summary>Default side of the square images.</summary>
    public const int DefaultImageSize = 32;

    /// <summary>Default rate of swapped captions in the student pool.</summary>
    public const double DefaultNoiseRate = 0.5;

    /// <summary>Default rate of captions with one wrong attribute (shapes only, among the examples not swapped).</summary>
    public const double DefaultAttributeNoiseRate = 0.1;

    /// <summary>Default upper bound on the size of one image file or archive entry (64 MiB).</summary>
    public const long DefaultMaxImageBytes = 64L << 20;

    /// <summary>Default upper bound on an image's width and height.</summary>
    public const int DefaultMaxImageSide = 8192;

    /// <summary>Smallest accepted <see cref="ImageSize"/>.</summary>
    public const int MinImageSize = 4;

    /// <summary>Largest accepted <see cref="ImageSize"/>.</summary>
    public const int MaxImageSize = 512;

    /// <summary>Side S of the square images (CHW 3 x S x S). Default 32; must be in [<see cref="MinImageSize"/>, <see cref="MaxImageSize"/>].</summary>
    public int ImageSize { get; init; } = DefaultImageSize;

    /// <summary>Seed of every random draw (shapes rendering, noise, templates). Same seed, same data.</summary>
    public ulong Seed { get; init; }

    /// <summary>
    /// Fraction of student-pool examples whose caption is swapped for another example's (shapes and emoji;
    /// a folder data set is used as given). Default 0.5; in [0, 1].
    /// </summary>
    public double NoiseRate { get; init; } = DefaultNoiseRate;

    /// <summary>
    /// Shapes only: fraction of the student-pool examples that were not swapped whose caption names one wrong
    /// attribute (shape, colour, count or position). Default 0.1; in [0, 1].
    /// </summary>
    public double AttributeNoiseRate { get; init; } = DefaultAttributeNoiseRate;

    /// <summary>Shapes only: examples in the reference's training set. Default 4096.</summary>
    public int ReferenceTrainSize { get; init; } = 4096;

    /// <summary>Shapes only: examples in the student pool. Default 4096.</summary>
    public int StudentTrainSize { get; init; } = 4096;

    /// <summary>Shapes only: examples in the held-out split (RHO-loss's reference). Default 1024.</summary>
    public int HoldoutSize { get; init; } = 1024;

    /// <summary>Shapes only: examples in the evaluation split. Default 1024.</summary>
    public int EvaluationSize { get; init; } = 1024;

    /// <summary>
    /// Where fetched archives live (emoji: <c>CACHE/emoji</c>). Null = <see cref="DefaultCacheDirectory"/>.
    /// </summary>
    public string? CacheDirectory { get; init; }

    /// <summary>Skip bad files, entries and caption lines (counted in <see cref="DataLoadReport"/>) instead of failing on the first.</summary>
    public bool SkipBad { get; init; }

    /// <summary>Largest accepted image file or archive entry, in bytes. Default 64 MiB.</summary>
    public long MaxImageBytes { get; init; } = DefaultMaxImageBytes;

    /// <summary>Largest accepted image width or height (checked from the header before decoding). Default 8192.</summary>
    public int MaxImageSide { get; init; } = DefaultMaxImageSide;

    /// <summary>Called with progress reports during long work (may be null).</summary>
    public Action<DataProgress>? Progress { get; init; }

    /// <summary>The cache directory actually used: <see cref="CacheDirectory"/> or <see cref="DefaultCacheDirectory"/>.</summary>
    public string ResolvedCacheDirectory => CacheDirectory ?? DefaultCacheDirectory();

    /// <summary>
    /// The user's cache directory for Aced: <c>$XDG_CACHE_HOME/aced</c>, else <c>~/.cache/aced</c>
    /// (on Windows <c>%LOCALAPPDATA%/aced</c>).
    /// </summary>
    public static string DefaultCacheDirectory()
    {
        string? xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
        if (!string.IsNullOrEmpty(xdg))
        {
            return Path.Combine(xdg, "aced");
        }

        if (OperatingSystem.IsWindows())
        {
            return Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData), "aced");
        }

        return Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "aced");
    }

    /// <summary>Checks every option.</summary>
    /// <exception cref="ArgumentOutOfRangeException">An option is outside its range; the message names it.</exception>
    public void Validate()
    {
        if (ImageSize < MinImageSize || ImageSize > MaxImageSize)
        {
            throw new ArgumentOutOfRangeException(nameof(ImageSize), ImageSize, $"{nameof(ImageSize)} must be in [{MinImageSize}, {MaxImageSize}].");
        }

        CheckRate(NoiseRate, nameof(NoiseRate));
        CheckRate(AttributeNoiseRate, nameof(AttributeNoiseRate));
        CheckSize(ReferenceTrainSize, nameof(ReferenceTrainSize));
        CheckSize(StudentTrainSize, nameof(StudentTrainSize));
        CheckSize(HoldoutSize, nameof(HoldoutSize));
        CheckSize(EvaluationSize, nameof(EvaluationSize));
        if (MaxImageBytes < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxImageBytes), MaxImageBytes, $"{nameof(MaxImageBytes)} must be positive.");
        }

        if (MaxImageSide < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxImageSide), MaxImageSide, $"{nameof(MaxImageSide)} must be positive.");
        }
    }

    internal void Report(string stage, long done, long total) => Progress?.Invoke(new DataProgress(stage, done, total));

    private static void CheckRate(double rate, string name)
    {
        if (!(rate >= 0 && rate <= 1))
        {
            throw new ArgumentOutOfRangeException(name, rate, $"{name} must be in [0, 1].");
        }
    }

    private static void CheckSize(int size, string name)
    {
        // Cap keeps one split's pixels (size * 3 * S * S floats) well inside an array at the largest S.
        if (size < 1 || size > 1_000_000)
        {
            throw new ArgumentOutOfRangeException(name, size, $"{name} must be in [1, 1000000].");
        }
    }
}
