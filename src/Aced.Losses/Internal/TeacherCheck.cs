using System;
using Aced.Core;

namespace Aced.Losses.Internal;

/// <summary>Validation of teacher ensembles.</summary>
internal static class TeacherCheck
{
    private static readonly string[] s_imageNames = Names("Image");
    private static readonly string[] s_textNames = Names("Text");
    private static readonly string[] s_logitNames = Names("Logits");

    /// <summary>Checks every teacher (b rows, finite, valid logits) and that no gradient destination overlaps it.</summary>
    public static void Teachers(ReadOnlySpan<TeacherEmbeddings> teachers, int b, EmbeddingGradients gradients, bool needsLogits)
    {
        if (teachers.IsEmpty)
        {
            Guard.ThrowArgument(nameof(teachers), "is empty; pass at least one teacher (several form an ensemble, Eq. 18)");
        }

        for (int k = 0; k < teachers.Length; k++)
        {
            TeacherEmbeddings t = teachers[k];
            string imageName = Name(s_imageNames, k, "Image");
            string textName = Name(s_textNames, k, "Text");
            (int tb, _) = InputCheck.Pair(t.Image, t.Text, imageName, textName, out double ni, out double nt);
            if (tb != b)
            {
                Guard.ThrowArgument(imageName, $"has {tb} rows but the student batch has {b}; teacher and student must embed the same b examples in the same order");
            }

            if (needsLogits)
            {
                InputCheck.Logits(t.Logits, ni, nt, Name(s_logitNames, k, "Logits"));
            }

            if (gradients.WantsImage)
            {
                InputCheck.NoOverlap(gradients.Image, "gradients.Image", t.Image, t.Text, default, default);
            }

            if (gradients.WantsText)
            {
                InputCheck.NoOverlap(gradients.Text, "gradients.Text", t.Image, t.Text, default, default);
            }
        }
    }

    // Names are precomputed so that validating an ensemble does not allocate.
    private static string Name(string[] cache, int k, string member) => k < cache.Length ? cache[k] : $"teachers[{k}].{member}";

    private static string[] Names(string member)
    {
        var names = new string[16];
        for (int k = 0; k < names.Length; k++)
        {
            names[k] = $"teachers[{k}].{member}";
        }

        return names;
    }
}
