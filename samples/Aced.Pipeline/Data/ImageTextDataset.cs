using System;
using System.Collections.Generic;

namespace Aced.Pipeline.Data;

/// <summary>
/// A zero-shot classification task over a data set: one class index per example (-1 = unknown), the
/// class names, and the prompt templates (each contains "{0}", replaced by a class name).
/// </summary>
public sealed record LabelTask(string Name, IReadOnlyList<string> ClassNames, IReadOnlyList<string> PromptTemplates, int[] Labels);

/// <summary>
/// An in-memory image-caption data set: images are 3 x S x S (CHW) float32 in [-1, 1], stored
/// contiguously (example i occupies <c>Pixels[i * ImageFloats .. (i + 1) * ImageFloats)</c>), captions are
/// text (tokenized by the trainer with a tokenizer trained on the training captions), ids are stable.
/// </summary>
public sealed class ImageTextDataset
{
    public ImageTextDataset(string name, int imageSize, float[] pixels, string[] captions, string[] ids, bool[] captionCorrupted, IReadOnlyList<LabelTask> tasks)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(imageSize);
        ArgumentNullException.ThrowIfNull(pixels);
        ArgumentNullException.ThrowIfNull(captions);
        ArgumentNullException.ThrowIfNull(ids);
        ArgumentNullException.ThrowIfNull(captionCorrupted);
        ArgumentNullException.ThrowIfNull(tasks);
        int count = captions.Length;
        if (ids.Length != count || captionCorrupted.Length != count || pixels.Length != (long)count * 3 * imageSize * imageSize)
        {
            throw new ArgumentException($"Data set '{name}': {count} captions, {ids.Length} ids, {captionCorrupted.Length} noise flags and {pixels.Length} pixel floats do not describe the same {count} examples of 3x{imageSize}x{imageSize}.", nameof(pixels));
        }

        foreach (LabelTask task in tasks)
        {
            if (task.Labels.Length != count)
            {
                throw new ArgumentException($"Data set '{name}': task '{task.Name}' has {task.Labels.Length} labels for {count} examples.", nameof(tasks));
            }
        }

        Name = name;
        ImageSize = imageSize;
        Pixels = pixels;
        Captions = captions;
        Ids = ids;
        CaptionCorrupted = captionCorrupted;
        Tasks = tasks;
    }

    /// <summary>A short name, e.g. "shapes/train", "emoji/facebook".</summary>
    public string Name { get; }

    /// <summary>Side S of the square images.</summary>
    public int ImageSize { get; }

    /// <summary>Floats per image: 3 * S * S.</summary>
    public int ImageFloats => 3 * ImageSize * ImageSize;

    /// <summary>Number of examples.</summary>
    public int Count => Captions.Length;

    /// <summary>All images, CHW in [-1, 1], example-major.</summary>
    public float[] Pixels { get; }

    /// <summary>The caption of each example (after any injected noise).</summary>
    public string[] Captions { get; }

    /// <summary>Stable example ids (unique within the data set).</summary>
    public string[] Ids { get; }

    /// <summary>True where the caption was deliberately corrupted (swapped or attributes changed): for diagnostics only.</summary>
    public bool[] CaptionCorrupted { get; }

    /// <summary>Zero-shot tasks defined on this split (may be empty).</summary>
    public IReadOnlyList<LabelTask> Tasks { get; }

    /// <summary>The image of example <paramref name="index"/>.</summary>
    public ReadOnlySpan<float> Image(int index) => Pixels.AsSpan(index * ImageFloats, ImageFloats);

    /// <summary>
    /// <see cref="DatasetFingerprint.Compute(ImageTextDataset)"/> of this data set, computed on first use and kept
    /// (the data set is treated as immutable: do not modify <see cref="Pixels"/>, <see cref="Captions"/> or <see cref="Ids"/>).
    /// </summary>
    public string Fingerprint => _fingerprint ??= DatasetFingerprint.Compute(this);

    private string? _fingerprint;
}

/// <summary>
/// The splits one data-set specification yields: the reference's training set (clean captions), the
/// student pool (with injected caption noise), a held-out split for RHO-loss's reference, and the
/// evaluation split(s) (never trained on).
/// </summary>
public sealed record DatasetSplits(ImageTextDataset ReferenceTrain, ImageTextDataset StudentTrain, ImageTextDataset Holdout, IReadOnlyList<ImageTextDataset> Evaluation)
{
    /// <summary><see cref="DatasetFingerprint.Compute(DatasetSplits)"/>: one hash of every split.</summary>
    public string Fingerprint => DatasetFingerprint.Compute(this);
}
