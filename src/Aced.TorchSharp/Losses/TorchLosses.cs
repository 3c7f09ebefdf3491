using System;
using System.Collections.Generic;
using Aced.Core;
using Aced.Losses;
using TorchSharp;
using static TorchSharp.torch;

namespace Aced.TorchSharp.Losses;

/// <summary>
/// The Aced losses as differentiable TorchSharp functions: each returns a 0-d tensor whose autograd gradients
/// with respect to the student embeddings, <see cref="TorchLogits.LogScale"/> and <see cref="TorchLogits.Bias"/>
/// equal those of the managed losses in <c>Aced.Losses</c> (same formulas, same normalisation; see
/// <see cref="SigmoidContrastiveLoss"/>, <see cref="SoftmaxContrastiveLoss"/>, <see cref="SoftmaxDistillationLoss"/>,
/// <see cref="SigmoidDistillationLoss"/>, <see cref="FeatureMatchingLoss"/>). Embeddings are used exactly as given
/// (normalise them first, e.g. with <c>torch.nn.functional.normalize</c>). Teachers are constants (detached).
/// </summary>
/// <remarks>
/// Memory: the b x b logits of the batch (one matrix per teacher for distillation) live on the embeddings' device;
/// torch's autograd keeps what the backward needs. Intermediate tensors are released by a dispose scope; the
/// returned tensor belongs to the caller's scope.
/// </remarks>
public static class TorchLosses
{
    /// <summary>
    /// SigLIP sigmoid loss (Eq. 7): <c>L = (1/b) sum_{i,j} softplus(-y_ij l_ij)</c>, <c>y_ii = 1</c>, <c>y_ij = -1</c>,
    /// <c>l = exp(t) img txt^T + c</c>.
    /// </summary>
    /// <exception cref="ArgumentException">Shapes disagree (b x d each) or b = 0.</exception>
    public static Tensor SigmoidContrastive(Tensor image, Tensor text, TorchLogits logits)
    {
        long b = CheckPair(image, text, nameof(image), nameof(text));
        using var scope = torch.NewDisposeScope();
        Tensor l = StudentLogits(image, text, logits, withBias: true);
        Tensor signs = torch.eye(b, dtype: l.dtype, device: l.device).mul_(2.0).sub_(1.0);
        Tensor loss = torch.nn.functional.softplus(l.mul(signs).neg()).sum().div(b);
        return loss.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// CLIP softmax loss (Eq. 6): the mean over i of <c>(CE_i2t(i) + CE_t2i(i)) / 2</c> with
    /// <c>l = exp(t) img txt^T</c>. The bias cancels; its gradient is exactly 0.
    /// </summary>
    /// <exception cref="ArgumentException">Shapes disagree (b x d each) or b = 0.</exception>
    public static Tensor SoftmaxContrastive(Tensor image, Tensor text, TorchLogits logits)
    {
        CheckPair(image, text, nameof(image), nameof(text));
        using var scope = torch.NewDisposeScope();
        Tensor l = StudentLogits(image, text, logits, withBias: false);
        Tensor diagonal = l.diagonal();
        Tensor imageToText = l.logsumexp(1).sub(diagonal);
        Tensor textToImage = l.logsumexp(0).sub(diagonal);
        Tensor loss = imageToText.add(textToImage).mean().mul(0.5);
        return ZeroBiasGradient(loss, logits).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Softmax distillation (Eq. 12/13, ensembles Eq. 18): the cross-entropy of the student's row and column
    /// softmaxes against the teachers' averaged row and column softmaxes, averaged over both directions and the batch.
    /// The student bias cancels; its gradient is exactly 0.
    /// </summary>
    /// <exception cref="ArgumentException">Shapes disagree, b = 0, or <paramref name="teachers"/> is empty.</exception>
    public static Tensor SoftmaxDistillation(Tensor image, Tensor text, TorchLogits logits, IReadOnlyList<TorchTeacher> teachers)
    {
        long b = CheckPair(image, text, nameof(image), nameof(text));
        CheckTeachers(teachers, b);
        using var scope = torch.NewDisposeScope();
        Tensor s = StudentLogits(image, text, logits, withBias: false);
        Tensor rows;
        Tensor columns;
        using (torch.no_grad())
        {
            rows = torch.zeros_like(s);
            columns = torch.zeros_like(s);
            for (int k = 0; k < teachers.Count; k++)
            {
                Tensor t = TeacherLogits(teachers[k], s.dtype, s.device, withBias: false);
                rows.add_(t.softmax(1));
                columns.add_(t.softmax(0));
            }

            rows.div_(teachers.Count);
            columns.div_(teachers.Count);
        }

        Tensor rowTerm = rows.mul(s.log_softmax(1)).sum();
        Tensor columnTerm = columns.mul(s.log_softmax(0)).sum();
        Tensor loss = rowTerm.add(columnTerm).neg().div(2.0 * b);
        return ZeroBiasGradient(loss, logits).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Sigmoid distillation (Eq. 14/15, ensembles): <c>L = (1/b) sum_{i,j} [p_ij softplus(-S_ij) + (1 - p_ij) softplus(S_ij)]</c>
    /// with <c>p = mean_k sigmoid(T^k)</c> and <c>S = exp(t) img txt^T + c</c>.
    /// </summary>
    /// <exception cref="ArgumentException">Shapes disagree, b = 0, or <paramref name="teachers"/> is empty.</exception>
    public static Tensor SigmoidDistillation(Tensor image, Tensor text, TorchLogits logits, IReadOnlyList<TorchTeacher> teachers)
    {
        long b = CheckPair(image, text, nameof(image), nameof(text));
        CheckTeachers(teachers, b);
        using var scope = torch.NewDisposeScope();
        Tensor s = StudentLogits(image, text, logits, withBias: true);
        Tensor p;
        using (torch.no_grad())
        {
            p = torch.zeros_like(s);
            for (int k = 0; k < teachers.Count; k++)
            {
                p.add_(TeacherLogits(teachers[k], s.dtype, s.device, withBias: true).sigmoid());
            }

            p.div_(teachers.Count);
        }

        Tensor positive = p.mul(torch.nn.functional.softplus(s.neg()));
        Tensor negative = p.neg().add(1.0).mul(torch.nn.functional.softplus(s));
        Tensor loss = positive.add(negative).sum().div(b);
        return loss.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Feature matching (Eq. 16): <c>L = (1/b) sum_i (||img_i P - img_t_i||^2 + ||txt_i P - txt_t_i||^2) / 2</c>,
    /// with the projection head <c>P</c> (d_s x d_t) or the identity when <paramref name="projection"/> is null.
    /// </summary>
    /// <exception cref="ArgumentException">Shapes disagree (including d_s != d_t without a projection).</exception>
    public static Tensor FeatureMatching(Tensor image, Tensor text, Tensor teacherImage, Tensor teacherText, Tensor? projection = null)
    {
        long b = CheckPair(image, text, nameof(image), nameof(text));
        long tb = CheckPair(teacherImage, teacherText, nameof(teacherImage), nameof(teacherText));
        if (tb != b)
        {
            throw new ArgumentException($"has {tb} rows but the student batch has {b}; teacher and student must embed the same examples in the same order", nameof(teacherImage));
        }

        long ds = image.shape[1];
        long dt = teacherImage.shape[1];
        if (projection is null && ds != dt)
        {
            throw new ArgumentException($"is null but the student dimension {ds} differs from the teacher dimension {dt}; pass a {ds}x{dt} projection head", nameof(projection));
        }

        if (projection is not null && (projection.dim() != 2 || projection.shape[0] != ds || projection.shape[1] != dt))
        {
            throw new ArgumentException($"must be {ds}x{dt} (student x teacher dimension), got [{string.Join(", ", projection.shape)}]", nameof(projection));
        }

        using var scope = torch.NewDisposeScope();
        Tensor projectedImage = projection is null ? image : image.mm(projection);
        Tensor projectedText = projection is null ? text : text.mm(projection);
        Tensor imageResidual = projectedImage.sub(teacherImage.detach().to(image.dtype));
        Tensor textResidual = projectedText.sub(teacherText.detach().to(text.dtype));
        Tensor loss = imageResidual.square().sum().add(textResidual.square().sum()).div(2.0 * b);
        return loss.MoveToOuterDisposeScope();
    }

    /// <summary>The logits <c>exp(t) img txt^T (+ c)</c> of the student.</summary>
    internal static Tensor StudentLogits(Tensor image, Tensor text, TorchLogits logits, bool withBias)
    {
        Tensor l = image.mm(text.t()).mul(logits.LogScale.exp());
        return withBias ? l.add(logits.Bias) : l;
    }

    private static Tensor TeacherLogits(TorchTeacher teacher, ScalarType dtype, Device device, bool withBias)
    {
        Tensor image = teacher.Image.detach().to(dtype, device);
        Tensor text = teacher.Text.detach().to(dtype, device);
        Tensor t = image.mm(text.t()).mul((double)teacher.Logits.Scale);
        return withBias ? t.add((double)teacher.Logits.Bias) : t;
    }

    // The softmax losses do not depend on c: add 0 * c so that c receives an exact zero gradient (as the
    // managed losses return) instead of none.
    private static Tensor ZeroBiasGradient(Tensor loss, TorchLogits logits) =>
        loss.add(logits.Bias.mul(0.0));

    internal static long CheckPair(Tensor image, Tensor text, string imageName, string textName)
    {
        ArgumentNullException.ThrowIfNull(image, imageName);
        ArgumentNullException.ThrowIfNull(text, textName);
        if (image.dim() != 2)
        {
            throw new ArgumentException($"must be a b x d matrix, got shape [{string.Join(", ", image.shape)}]", imageName);
        }

        if (text.dim() != 2 || text.shape[0] != image.shape[0] || text.shape[1] != image.shape[1])
        {
            throw new ArgumentException($"must have the shape of {imageName} [{image.shape[0]}, {image.shape[1]}], got [{string.Join(", ", text.shape)}]", textName);
        }

        if (image.shape[0] == 0)
        {
            throw new ArgumentException("is empty (b = 0); pass at least one example", imageName);
        }

        return image.shape[0];
    }

    private static void CheckTeachers(IReadOnlyList<TorchTeacher> teachers, long b)
    {
        ArgumentNullException.ThrowIfNull(teachers);
        if (teachers.Count == 0)
        {
            throw new ArgumentException("is empty; pass at least one teacher", nameof(teachers));
        }

        for (int k = 0; k < teachers.Count; k++)
        {
            TorchTeacher teacher = teachers[k];
            CheckPair(teacher.Image, teacher.Text, $"{nameof(teachers)}[{k}].Image", $"{nameof(teachers)}[{k}].Text");
            if (teacher.Image.shape[0] != b)
            {
                throw new ArgumentException($"has {teacher.Image.shape[0]} rows but the student batch has {b}", $"{nameof(teachers)}[{k}].Image");
            }
        }
    }
}
