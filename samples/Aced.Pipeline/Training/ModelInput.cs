using System;
using Aced.Core;
using Aced.Pipeline.Data;

namespace Aced.Pipeline.Training;

/// <summary>
/// The towers' image layout. <see cref="ImageTextDataset.Pixels"/> holds CHW rows; <c>VisionTransformer</c> patchifies
/// HWC rows (height, width, channel). Everything that feeds a data set's images to a model (the trainer, the reference
/// cache, evaluation) must convert with these helpers: CHW rows read as HWC give scrambled patches.
/// </summary>
public static class ModelInput
{
    /// <summary>All images of <paramref name="dataset"/> as HWC rows (Count x 3·S·S), ready for <c>EncodeImages</c>.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="dataset"/> is null.</exception>
    public static Matrix ToModelLayout(ImageTextDataset dataset)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        var images = new Matrix(Math.Max(dataset.Count, 1), dataset.ImageFloats);
        for (int e = 0; e < dataset.Count; e++)
        {
            ChwToHwc(dataset.Image(e), images.Row(e), dataset.ImageSize);
        }

        return images;
    }

    /// <summary>One image: CHW (3 x S x S) to HWC (S x S x 3).</summary>
    /// <exception cref="ArgumentException">A span is not 3·S·S long.</exception>
    public static void ChwToHwc(ReadOnlySpan<float> chw, Span<float> hwc, int side)
    {
        int plane = side * side;
        if (chw.Length != 3 * plane || hwc.Length != 3 * plane)
        {
            throw new ArgumentException($"{nameof(chw)} and {nameof(hwc)} must hold 3x{side}x{side} = {3 * plane} floats (were {chw.Length} and {hwc.Length})", nameof(chw));
        }

        for (int p = 0; p < plane; p++)
        {
            hwc[3 * p] = chw[p];
            hwc[(3 * p) + 1] = chw[plane + p];
            hwc[(3 * p) + 2] = chw[(2 * plane) + p];
        }
    }
}
