using System;
using System.Numerics.Tensors;
using Aced.Core;
using Aced.Losses.Internal;

namespace Aced.Losses;

/// <summary>
/// Feature-matching distillation (paper Eq. 16): the student's embeddings, projected to the teacher's
/// dimension by a learnable head <c>P</c> (d_s x d_t) when the dimensions differ, regress onto the teacher's:
/// <code>
/// L(i) = (||img_s_i P - img_t_i||^2 + ||txt_s_i P - txt_t_i||^2) / 2,   L = (1/b) sum_i L(i)
/// </code>
/// Without a projection (empty view) <c>P</c> is the identity and d_s must equal d_t.
/// </summary>
/// <remarks>
/// Gradients with residuals <c>R_img = img_s P - img_t</c>, <c>R_txt = txt_s P - txt_t</c>:
/// <c>dL/dimg_s = R_img P^T / b</c>, <c>dL/dtxt_s = R_txt P^T / b</c>, <c>dL/dP = (img_s^T R_img + txt_s^T R_txt) / b</c>.
/// Products go through <see cref="Gemm"/>; the residuals live in a reusable b x d_t workspace.
/// Not thread-safe; no steady-state allocation.
/// </remarks>
public sealed class FeatureMatchingLoss
{
    private float[] _residualImage = Array.Empty<float>();
    private float[] _residualText = Array.Empty<float>();

    /// <summary>
    /// Computes the loss and, when requested, the gradients w.r.t. the student embeddings and the projection head.
    /// </summary>
    /// <param name="image">Student image embeddings, b x d_s.</param>
    /// <param name="text">Student text embeddings, b x d_s.</param>
    /// <param name="teacherImage">Teacher image embeddings, b x d_t.</param>
    /// <param name="teacherText">Teacher text embeddings, b x d_t.</param>
    /// <param name="projection">The head <c>P</c>, d_s x d_t, or an empty view for the identity (d_s = d_t).</param>
    /// <param name="gradients">Where to write the student embedding gradients (either may be empty).</param>
    /// <param name="projectionGradient">Receives <c>gradients.Weight * dL/dP</c>, or empty.</param>
    /// <param name="perExample">Receives <c>L(i)</c>, or empty.</param>
    /// <param name="accumulateProjectionGradient">True to add into <paramref name="projectionGradient"/> instead of overwriting it.</param>
    /// <returns>The batch loss <c>L</c>.</returns>
    /// <exception cref="ArgumentException">Empty batch, shape mismatch (including d_s != d_t without a projection), NaN/Inf input, bad destination.</exception>
    public double Compute(MatrixView image, MatrixView text, MatrixView teacherImage, MatrixView teacherText, MatrixView projection = default, EmbeddingGradients gradients = default, MatrixView projectionGradient = default, Span<float> perExample = default, bool accumulateProjectionGradient = false)
    {
        (int b, int ds) = InputCheck.Pair(image, text, nameof(image), nameof(text), out _, out _);
        (int tb, int dt) = InputCheck.Pair(teacherImage, teacherText, nameof(teacherImage), nameof(teacherText), out _, out _);
        if (tb != b)
        {
            Guard.ThrowArgument(nameof(teacherImage), $"has {tb} rows but the student batch has {b}; teacher and student must embed the same examples in the same order");
        }

        bool projected = !projection.IsEmpty;
        if (projected)
        {
            projection.EnsureShape(ds, dt, nameof(projection));
            InputCheck.MaxRowNorm(projection, nameof(projection));
        }
        else if (ds != dt)
        {
            Guard.ThrowArgument(nameof(projection), $"is empty but the student dimension {ds} differs from the teacher dimension {dt}; pass a {ds}x{dt} projection head");
        }

        InputCheck.Gradients(gradients, b, ds, image, text, teacherImage, teacherText);
        if (gradients.WantsImage && InputCheck.Overlaps(gradients.Image, projection))
        {
            Guard.ThrowArgument("gradients.Image", "overlaps the projection; write gradients to separate storage");
        }

        if (gradients.WantsText && InputCheck.Overlaps(gradients.Text, projection))
        {
            Guard.ThrowArgument("gradients.Text", "overlaps the projection; write gradients to separate storage");
        }

        if (!projectionGradient.IsEmpty)
        {
            if (!projected)
            {
                Guard.ThrowArgument(nameof(projectionGradient), "was given but there is no projection head; pass an empty view");
            }

            projectionGradient.EnsureShape(ds, dt, nameof(projectionGradient));
            InputCheck.NoOverlap(projectionGradient, nameof(projectionGradient), image, text, projection, teacherImage);
            InputCheck.NoOverlap(projectionGradient, nameof(projectionGradient), teacherText, default, default, default);
        }

        InputCheck.PerExample(perExample, b, nameof(perExample));

        var rImage = Residual(ref _residualImage, image, teacherImage, projection, b, dt);
        var rText = Residual(ref _residualText, text, teacherText, projection, b, dt);
        double total = 0;
        for (int i = 0; i < b; i++)
        {
            double perI = 0.5 * ((double)TensorPrimitives.SumOfSquares(rImage.Row(i)) + TensorPrimitives.SumOfSquares(rText.Row(i)));
            total += perI;
            if (!perExample.IsEmpty)
            {
                perExample[i] = (float)perI;
            }
        }

        float scale = gradients.Weight / b;
        float beta = gradients.Accumulate ? 1f : 0f;
        WriteEmbeddingGradient(gradients.Image, rImage, projection, scale, beta);
        WriteEmbeddingGradient(gradients.Text, rText, projection, scale, beta);
        if (!projectionGradient.IsEmpty)
        {
            Gemm.Multiply(Transpose.Transposed, Transpose.None, scale, image, rImage, accumulateProjectionGradient ? 1f : 0f, projectionGradient);
            Gemm.Multiply(Transpose.Transposed, Transpose.None, scale, text, rText, 1f, projectionGradient);
        }

        return total / b;
    }

    private static MatrixView Residual(ref float[] storage, MatrixView student, MatrixView teacher, MatrixView projection, int b, int dt)
    {
        if (storage.Length < b * dt)
        {
            storage = new float[b * dt];
        }

        var r = new MatrixView(storage, 0, b, dt, dt);
        if (!projection.IsEmpty)
        {
            Gemm.Multiply(Transpose.None, Transpose.None, 1f, student, projection, 0f, r);
            for (int i = 0; i < b; i++)
            {
                TensorPrimitives.Subtract(r.Row(i), teacher.Row(i), r.Row(i));
            }
        }
        else
        {
            for (int i = 0; i < b; i++)
            {
                TensorPrimitives.Subtract(student.Row(i), teacher.Row(i), r.Row(i));
            }
        }

        return r;
    }

    private static void WriteEmbeddingGradient(MatrixView destination, MatrixView residual, MatrixView projection, float scale, float beta)
    {
        if (destination.IsEmpty)
        {
            return;
        }

        if (!projection.IsEmpty)
        {
            Gemm.Multiply(Transpose.None, Transpose.Transposed, scale, residual, projection, beta, destination);
            return;
        }

        for (int i = 0; i < residual.Rows; i++)
        {
            Span<float> dst = destination.Row(i);
            if (beta == 0f)
            {
                TensorPrimitives.Multiply(residual.Row(i), scale, dst);
            }
            else
            {
                TensorPrimitives.MultiplyAdd(residual.Row(i), scale, dst, dst);
            }
        }
    }
}
