using System;
using System.Buffers;
using Aced.Core;

namespace Aced.Pipeline.Evaluation;

/// <summary>Recall at 1/5/10 and the mean and median rank of the true item for one retrieval direction.</summary>
/// <param name="RecallAt1">Fraction of queries whose true item ranks first (expected value under random tie-breaks).</param>
/// <param name="RecallAt5">Fraction of queries whose true item is within the top 5.</param>
/// <param name="RecallAt10">Fraction of queries whose true item is within the top 10.</param>
/// <param name="MeanRank">Mean (expected) rank of the true item, 1 = best.</param>
/// <param name="MedianRank">Median over queries of the (expected) rank of the true item.</param>
public sealed record RetrievalScores(double RecallAt1, double RecallAt5, double RecallAt10, double MeanRank, double MedianRank);

/// <summary>Image-to-text and text-to-image retrieval scores over one set of N pairs.</summary>
public sealed record RetrievalResult(RetrievalScores ImageToText, RetrievalScores TextToImage);

/// <summary>
/// Retrieval over N image-caption pairs (pair i = image row i and text row i; the true item of a query is its own
/// pair): image-to-text ranks all N captions for each image by cosine similarity (the dot product of
/// L2-normalised rows), text-to-image ranks all N images for each caption. Ties: <see cref="TieAwareRank"/>
/// (expected value under a uniform random tie-break). Similarities are computed with <see cref="Gemm"/> in row
/// blocks, so extra memory is O(chunk x N), never N x N.
/// </summary>
public static class RetrievalMetrics
{
    /// <summary>Default number of query rows per similarity block.</summary>
    public const int DefaultChunkRows = 256;

    /// <summary>Computes both directions.</summary>
    /// <param name="images">N x d L2-normalised image embeddings.</param>
    /// <param name="texts">N x d L2-normalised text embeddings (row i describes image i).</param>
    /// <param name="chunkRows">Query rows per similarity block (memory is chunkRows x N floats).</param>
    /// <exception cref="ArgumentException">The matrices differ in shape or are empty.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="chunkRows"/> is not positive.</exception>
    public static RetrievalResult Compute(MatrixView images, MatrixView texts, int chunkRows = DefaultChunkRows)
    {
        if (images.Rows == 0 || images.Columns == 0)
        {
            throw new ArgumentException("Retrieval needs at least one image-text pair; the image matrix is empty.", nameof(images));
        }

        texts.EnsureShape(images.Rows, images.Columns, nameof(texts));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(chunkRows);
        return new RetrievalResult(Direction(images, texts, chunkRows), Direction(texts, images, chunkRows));
    }

    /// <summary>Scores queries (rows of <paramref name="queries"/>) against <paramref name="items"/>; query i's true item is item i.</summary>
    public static RetrievalScores Direction(MatrixView queries, MatrixView items, int chunkRows = DefaultChunkRows)
    {
        int n = queries.Rows;
        items.EnsureShape(n, queries.Columns, nameof(items));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(chunkRows);
        int chunk = Math.Min(chunkRows, n);
        float[] block = ArrayPool<float>.Shared.Rent(chunk * n);
        double[] ranks = new double[n];
        double r1 = 0;
        double r5 = 0;
        double r10 = 0;
        double rankSum = 0;
        try
        {
            for (int start = 0; start < n; start += chunk)
            {
                int rows = Math.Min(chunk, n - start);
                var similarities = new MatrixView(block, 0, rows, n, n);
                Gemm.Multiply(Transpose.None, Transpose.Transposed, 1f, queries.RowRange(start, rows), items, 0f, similarities);
                for (int r = 0; r < rows; r++)
                {
                    int query = start + r;
                    (int greater, int equal) = TieAwareRank.Count(similarities.Row(r), query);
                    r1 += TieAwareRank.HitProbability(greater, equal, 1);
                    r5 += TieAwareRank.HitProbability(greater, equal, 5);
                    r10 += TieAwareRank.HitProbability(greater, equal, 10);
                    double rank = TieAwareRank.ExpectedRank(greater, equal);
                    ranks[query] = rank;
                    rankSum += rank;
                }
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(block);
        }

        return new RetrievalScores(r1 / n, r5 / n, r10 / n, rankSum / n, Median(ranks));
    }

    /// <summary>The median (mean of the two middle values for an even count); sorts <paramref name="values"/> in place.</summary>
    internal static double Median(double[] values)
    {
        Array.Sort(values);
        int n = values.Length;
        return (n & 1) == 1 ? values[n / 2] : 0.5 * (values[(n / 2) - 1] + values[n / 2]);
    }
}
