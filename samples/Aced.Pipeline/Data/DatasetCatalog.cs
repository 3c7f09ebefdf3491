using System;
using System.Threading;

namespace Aced.Pipeline.Data;

/// <summary>
/// Resolves a data-set specification to its splits:
/// <list type="bullet">
/// <item><c>shapes</c>: the embedded procedural data set (<see cref="ShapesDataset"/>), no download;</item>
/// <item><c>emoji</c>: the emoji packages fetched by <c>aced data fetch emoji</c> (<see cref="EmojiDataset"/>);</item>
/// <item><c>folder:PATH</c>: a folder of images with <c>captions.jsonl</c> (<see cref="FolderDataset"/>).</item>
/// </list>
/// </summary>
public static class DatasetCatalog
{
    /// <summary>The specification forms, for help texts.</summary>
    public const string SpecHelp = "shapes | emoji | folder:PATH";

    /// <summary>Loads the splits of <paramref name="spec"/>.</summary>
    /// <param name="spec">"shapes", "emoji" or "folder:PATH".</param>
    /// <param name="options">Image size, seed, noise, split sizes, cache directory, bad-data policy, progress.</param>
    /// <param name="report">Receives what <see cref="DataOptions.SkipBad"/> skipped (may be null).</param>
    /// <param name="cancellationToken">Stops a long load between items.</param>
    /// <exception cref="ArgumentException"><paramref name="spec"/> is not one of the forms above, or an option is out of range.</exception>
    /// <exception cref="DataException">The data are missing, not fetched yet, or bad (the message names the file and the fix).</exception>
    public static DatasetSplits Load(string spec, DataOptions options, DataLoadReport? report = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        report ??= new DataLoadReport();
        if (spec == "shapes")
        {
            return ShapesDataset.Load(options);
        }

        if (spec == "emoji")
        {
            return EmojiDataset.Load(options, report, cancellationToken);
        }

        if (spec.StartsWith("folder:", StringComparison.Ordinal) && spec.Length > "folder:".Length)
        {
            return FolderDataset.Load(spec["folder:".Length..], options, report, cancellationToken);
        }

        throw new ArgumentException($"Unknown data set '{spec}': expected {SpecHelp}.", nameof(spec));
    }
}
