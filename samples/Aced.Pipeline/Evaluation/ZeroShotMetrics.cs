using System;
using System.Buffers;
using Aced.Core;

namespace Aced.Pipeline.Evaluation;

/// <summary>Zero-shot classification scores (CLIP_benchmark's definitions).</summary>
/// <param name="Top1">Fraction of labelled examples whose class has the highest similarity.</param>
/// <param name="Top5">Fraction whose class is among the top min(5, C) classes (CLIP_benchmark's acc5 with C &lt; 5 classes uses k = C).</param>
/// <param name="MeanPerClassRecall">Top-1 recall averaged over the classes that occur among the labelled examples (scikit-learn's balanced accuracy).</param>
/// <param name="Count">Number of labelled examples scored (label -1 = unknown is skipped).</param>
public sealed record ZeroShotScores(double Top1, double Top5, double MeanPerClassRecall, int Count);

/// <summary>
/// Zero-shot classification: each class's prompt templates are embedded by the text tower, the L2-normalised
/// template embeddings are averaged and the mean is renormalised (the class's classifier row, as in CLIP and
/// CLIP_benchmark); an image is assigned the class of highest cosine similarity. Ties: <see cref="TieAwareRank"/>.
/// </summary>
public static class ZeroShotMetrics
{
    /// <summary>
    /// Builds the C x d classifier from <paramref name="templateEmbeddings"/>: C * T L2-normalised rows, class-major
    /// (rows c*T .. c*T+T-1 are class c's templates). Each class row = normalise(mean of its T rows).
    /// </summary>
    /// <exception cref="ArgumentException">The row count is not a multiple of <paramref name="templatesPerClass"/>, or a class's mean is the zero vector.</exception>
    public static Matrix BuildClassifier(MatrixView templateEmbeddings, int templatesPerClass)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(templatesPerClass);
        if (templateEmbeddings.Rows == 0 || templateEmbeddings.Rows % templatesPerClass != 0)
        {
            throw new ArgumentException($"{templateEmbeddings.Rows} template embeddings are not a positive multiple of {templatesPerClass} templates per class.", nameof(templateEmbeddings));
        }

        int classes = templateEmbeddings.Rows / templatesPerClass;
        int d = templateEmbeddings.Columns;
        var classifier = new Matrix(classes, d);
        var sums = new double[d];
        for (int c = 0; c < classes; c++)
        {
            Array.Clear(sums);
            for (int t = 0; t < templatesPerClass; t++)
            {
                Span<float> row = templateEmbeddings.Row((c * templatesPerClass) + t);
                for (int j = 0; j < d; j++)
                {
                    sums[j] += row[j];
                }
            }

            double norm = 0;
            for (int j = 0; j < d; j++)
            {
                norm += sums[j] * sums[j];
            }

            norm = Math.Sqrt(norm);
            if (!(norm > 0) || double.IsInfinity(norm))
            {
                throw new ArgumentException($"Class {c}: the mean of its {templatesPerClass} template embeddings has norm {norm}; cannot normalise.", nameof(templateEmbeddings));
            }

            Span<float> destination = classifier.Row(c);
            for (int j = 0; j < d; j++)
            {
                destination[j] = (float)(sums[j] / norm);
            }
        }

        return classifier;
    }

    /// <summary>Scores <paramref name="images"/> (N x d, L2-normalised) against the C x d <paramref name="classifier"/>.</summary>
    /// <param name="images">N x d image embeddings.</param>
    /// <param name="classifier">C x d class embeddings (see <see cref="BuildClassifier"/>).</param>
    /// <param name="labels">N class indices in [0, C) or -1 (unknown: skipped).</param>
    /// <param name="chunkRows">Images per similarity block (memory chunkRows x C).</param>
    /// <exception cref="ArgumentException">Shapes disagree, a label is out of range, or no example is labelled.</exception>
    public static ZeroShotScores Compute(MatrixView images, MatrixView classifier, ReadOnlySpan<int> labels, int chunkRows = RetrievalMetrics.DefaultChunkRows)
    {
        int n = images.Rows;
        int classes = classifier.Rows;
        if (classes == 0)
        {
            throw new ArgumentException("The classifier has no classes.", nameof(classifier));
        }

        if (classifier.Columns != images.Columns)
        {
            throw new ArgumentException($"Classifier dimension {classifier.Columns} differs from the image embedding dimension {images.Columns}.", nameof(classifier));
        }

        if (labels.Length != n)
        {
            throw new ArgumentException($"{labels.Length} labels for {n} images.", nameof(labels));
        }

        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(chunkRows);
        int k5 = Math.Min(5, classes);
        var hitsPerClass = new double[classes];
        var countPerClass = new int[classes];
        int counted = 0;
        double top1 = 0;
        double top5 = 0;
        int chunk = Math.Max(1, Math.Min(chunkRows, n));
        float[] block = ArrayPool<float>.Shared.Rent(chunk * classes);
        try
        {
            for (int start = 0; start < n; start += chunk)
            {
                int rows = Math.Min(chunk, n - start);
                var logits = new MatrixView(block, 0, rows, classes, classes);
                Gemm.Multiply(Transpose.None, Transpose.Transposed, 1f, images.RowRange(start, rows), classifier, 0f, logits);
                for (int r = 0; r < rows; r++)
                {
                    int label = labels[start + r];
                    if (label == -1)
                    {
                        continue;
                    }

                    if (label < 0 || label >= classes)
                    {
                        throw new ArgumentException($"Label {label} of example {start + r} is outside [0, {classes}) (use -1 for unknown).", nameof(labels));
                    }

                    (int greater, int equal) = TieAwareRank.Count(logits.Row(r), label);
                    double hit1 = TieAwareRank.HitProbability(greater, equal, 1);
                    top1 += hit1;
                    top5 += TieAwareRank.HitProbability(greater, equal, k5);
                    hitsPerClass[label] += hit1;
                    countPerClass[label]++;
                    counted++;
                }
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(block);
        }

        if (counted == 0)
        {
            throw new ArgumentException("No example has a known label (all are -1); the task cannot be scored.", nameof(labels));
        }

        double recallSum = 0;
        int present = 0;
        for (int c = 0; c < classes; c++)
        {
            if (countPerClass[c] > 0)
            {
                recallSum += hitsPerClass[c] / countPerClass[c];
                present++;
            }
        }

        return new ZeroShotScores(top1 / counted, top5 / counted, recallSum / present, counted);
    }
}
