using System;
using Aced.Core;

namespace Aced.Losses.Internal;

/// <summary>Validation shared by the loss entry points; every message names the argument and the fix.</summary>
internal static class InputCheck
{
    /// <summary>
    /// Largest logit magnitude accepted: <c>a * max(|img|*|txt|, |img|, |txt|) + |c|</c> must stay below this
    /// so that logits, their exponentials' arguments and the embedding gradients stay finite in float.
    /// </summary>
    public const double LogitMagnitudeLimit = 1e30;

    /// <summary>Checks a pair of b x d embedding matrices; returns b and d and the largest row norms.</summary>
    public static (int B, int D) Pair(MatrixView image, MatrixView text, string imageName, string textName, out double maxNormImage, out double maxNormText)
    {
        if (image.Rows == 0 || image.Array is null)
        {
            Guard.ThrowArgument(imageName, "is empty (b = 0); a contrastive batch needs at least one image-text pair");
        }

        if (image.Columns == 0)
        {
            Guard.ThrowArgument(imageName, "has 0 columns; embeddings need at least one dimension");
        }

        if (text.Rows != image.Rows || text.Columns != image.Columns)
        {
            Guard.ThrowArgument(textName, $"has shape {text.Rows}x{text.Columns} but {imageName} is {image.Rows}x{image.Columns}; image and text embeddings must be paired row by row with the same dimension");
        }

        maxNormImage = MaxRowNorm(image, imageName);
        maxNormText = MaxRowNorm(text, textName);
        return (image.Rows, image.Columns);
    }

    /// <summary>Checks one b x d matrix (non-empty, finite); returns its largest row norm.</summary>
    public static double MaxRowNorm(MatrixView x, string name)
    {
        if (x.Rows == 0 || x.Columns == 0 || x.Array is null)
        {
            Guard.ThrowArgument(name, $"is empty ({x.Rows}x{x.Columns}); it needs at least one row and one column");
        }

        double max = 0;
        for (int i = 0; i < x.Rows; i++)
        {
            ReadOnlySpan<float> row = x.Row(i);
            double ss = System.Numerics.Tensors.TensorPrimitives.SumOfSquares(row);
            if (!double.IsFinite(ss))
            {
                // NaN/Inf, or squares beyond float range (|x| > ~1e19): decide in double.
                ss = 0;
                for (int k = 0; k < row.Length; k++)
                {
                    ss += (double)row[k] * row[k];
                }
            }

            if (!double.IsFinite(ss))
            {
                int bad = Guard.IndexOfNonFinite(row);
                Guard.ThrowArgument(name, $"contains a non-finite value ({row[Math.Max(bad, 0)]}) at row {i}, column {bad}; remove or repair NaN/Inf embeddings before calling");
            }

            max = Math.Max(max, Math.Sqrt(ss));
        }

        return max;
    }

    /// <summary>Checks logit parameters (also the default struct) and that the logits cannot overflow float.</summary>
    public static void Logits(LogitParameters p, double maxNormImage, double maxNormText, string name)
    {
        if (!(p.Scale > 0f) || !float.IsFinite(p.Scale) || !float.IsFinite(p.Bias))
        {
            Guard.ThrowOutOfRange(name, p, "needs a finite scale a > 0 and a finite bias (default(LogitParameters) is not valid; use new LogitParameters(a, c))");
        }

        double reach = Math.Max(maxNormImage * maxNormText, Math.Max(maxNormImage, maxNormText));
        double bound = (p.Scale * reach) + Math.Abs(p.Bias);
        if (!(bound <= LogitMagnitudeLimit))
        {
            Guard.ThrowOutOfRange(name, p, $"with embeddings of norm up to {Math.Max(maxNormImage, maxNormText):G4} gives logits up to {bound:G4}, beyond the supported {LogitMagnitudeLimit:G1}; normalise the embeddings or lower the scale");
        }
    }

    /// <summary>Checks the gradient destinations: shapes and no overlap with any input.</summary>
    public static void Gradients(EmbeddingGradients gradients, int b, int d, MatrixView input1, MatrixView input2, MatrixView input3, MatrixView input4)
    {
        if (gradients.WantsImage)
        {
            gradients.Image.EnsureShape(b, d, "gradients.Image");
            NoOverlap(gradients.Image, "gradients.Image", input1, input2, input3, input4);
        }

        if (gradients.WantsText)
        {
            gradients.Text.EnsureShape(b, d, "gradients.Text");
            NoOverlap(gradients.Text, "gradients.Text", input1, input2, input3, input4);
            if (gradients.WantsImage && Overlaps(gradients.Image, gradients.Text))
            {
                Guard.ThrowArgument("gradients.Text", "overlaps gradients.Image; give each gradient its own storage");
            }
        }
    }

    /// <summary>Checks an optional per-example destination.</summary>
    public static void PerExample(Span<float> destination, int b, string name)
    {
        if (!destination.IsEmpty && destination.Length < b)
        {
            Guard.ThrowArgument(name, $"has length {destination.Length} but the batch has {b} examples; pass a span of at least b elements, or an empty span to skip");
        }
    }

    /// <summary>Throws when <paramref name="destination"/> overlaps any of the inputs.</summary>
    public static void NoOverlap(MatrixView destination, string name, MatrixView input1, MatrixView input2, MatrixView input3, MatrixView input4)
    {
        if (Overlaps(destination, input1) || Overlaps(destination, input2) || Overlaps(destination, input3) || Overlaps(destination, input4))
        {
            Guard.ThrowArgument(name, "overlaps an input matrix; write gradients to separate storage");
        }
    }

    /// <summary>True when the storage ranges of two views intersect.</summary>
    public static bool Overlaps(MatrixView x, MatrixView y)
    {
        if (x.IsEmpty || y.IsEmpty || !ReferenceEquals(x.Array, y.Array))
        {
            return false;
        }

        long xEnd = x.Offset + ((long)(x.Rows - 1) * x.Stride) + x.Columns;
        long yEnd = y.Offset + ((long)(y.Rows - 1) * y.Stride) + y.Columns;
        return x.Offset < yEnd && y.Offset < xEnd;
    }
}
