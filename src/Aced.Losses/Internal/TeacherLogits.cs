using System;
using Aced.Core;

namespace Aced.Losses.Internal;

/// <summary>The mean-of-logits teacher of <see cref="TeacherEnsemble.MeanOfLogits"/>, built chunk by chunk.</summary>
internal static class TeacherLogits
{
    /// <summary>
    /// Writes <c>sum_k (a_k / K) anchor_k[r0..r0+rows) other_k^T</c> into <paramref name="destination"/> (rows x b) with K
    /// accumulating products, and returns the mean bias <c>(1/K) sum_k c_k</c>: the mean teacher logit of entry (i, j)
    /// is then <c>destination_ij + bias</c> (scale 1).
    /// </summary>
    public static float MeanInto(ReadOnlySpan<TeacherEmbeddings> teachers, bool imageAnchored, int r0, int rows, MatrixView destination)
    {
        int k = teachers.Length;
        double bias = 0;
        for (int t = 0; t < k; t++)
        {
            TeacherEmbeddings teacher = teachers[t];
            MatrixView anchor = imageAnchored ? teacher.Image : teacher.Text;
            MatrixView other = imageAnchored ? teacher.Text : teacher.Image;
            Gemm.Multiply(Transpose.None, Transpose.Transposed, teacher.Logits.Scale / k, anchor.RowRange(r0, rows), other, t == 0 ? 0f : 1f, destination);
            bias += teacher.Logits.Bias;
        }

        return (float)(bias / k);
    }

    /// <summary>Throws unless <paramref name="value"/> is a defined <see cref="TeacherEnsemble"/>.</summary>
    public static TeacherEnsemble Checked(TeacherEnsemble value)
    {
        if (!Enum.IsDefined(value))
        {
            Guard.ThrowOutOfRange("Ensemble", value, "is not a defined TeacherEnsemble (MeanOfLosses or MeanOfLogits)");
        }

        return value;
    }
}
