using System;
using System.Collections.Generic;
using Aced.Core;
using Aced.Losses;
using TorchSharp;
using static TorchSharp.torch;

namespace Aced.TorchSharp.Losses;

/// <summary>The terms of a <see cref="TorchCombinedObjective"/> as 0-d tensors (the caller disposes them).</summary>
public sealed class TorchCombinedTerms : IDisposable
{
    internal TorchCombinedTerms(Tensor total, Tensor? contrastive, Tensor? softmaxDistillation, Tensor? sigmoidDistillation, Tensor? featureMatching)
    {
        Total = total;
        Contrastive = contrastive;
        SoftmaxDistillation = softmaxDistillation;
        SigmoidDistillation = sigmoidDistillation;
        FeatureMatching = featureMatching;
    }

    /// <summary><c>L_con + lambda_smax L_smax + lambda_sig L_sig + lambda_fm L_fm</c>; call <c>backward()</c> on it.</summary>
    public Tensor Total { get; }

    /// <summary>The unweighted contrastive term, or null when there is none.</summary>
    public Tensor? Contrastive { get; }

    /// <summary>The unweighted softmax-KD term, or null when its weight is 0.</summary>
    public Tensor? SoftmaxDistillation { get; }

    /// <summary>The unweighted sigmoid-KD term, or null when its weight is 0.</summary>
    public Tensor? SigmoidDistillation { get; }

    /// <summary>The unweighted feature-matching term (mean over teachers), or null when its weight is 0.</summary>
    public Tensor? FeatureMatching { get; }

    /// <inheritdoc/>
    public void Dispose()
    {
        Total.Dispose();
        Contrastive?.Dispose();
        SoftmaxDistillation?.Dispose();
        SigmoidDistillation?.Dispose();
        FeatureMatching?.Dispose();
    }
}

/// <summary>
/// The student objective of Eq. 17 (teacher ensembles Eq. 18) on tensors, with the same options and the same
/// value and gradients as the managed <see cref="CombinedObjective"/>:
/// <c>L = L_con + lambda_smax L_smax-dist + lambda_sig L_sig-dist + lambda_fm L_fm-dist</c>.
/// Terms with weight 0 are skipped; each distillation term averages over the teachers.
/// </summary>
public sealed class TorchCombinedObjective
{
    /// <summary>Creates the objective; the options are read at every call.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="options"/> is null.</exception>
    public TorchCombinedObjective(CombinedObjectiveOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        Options = options;
    }

    /// <summary>The term weights.</summary>
    public CombinedObjectiveOptions Options { get; }

    /// <summary>Computes every weighted term.</summary>
    /// <param name="image">Student image embeddings, b x d_s.</param>
    /// <param name="text">Student text embeddings, b x d_s.</param>
    /// <param name="logits">Student log-scale and bias.</param>
    /// <param name="teachers">Teachers (may be empty when every distillation weight is 0).</param>
    /// <param name="projection">Feature-matching head d_s x d_t, or null for the identity.</param>
    /// <exception cref="ArgumentException">As the individual terms; also when a distillation weight is positive but <paramref name="teachers"/> is empty.</exception>
    public TorchCombinedTerms Compute(Tensor image, Tensor text, TorchLogits logits, IReadOnlyList<TorchTeacher> teachers, Tensor? projection = null)
    {
        ArgumentNullException.ThrowIfNull(teachers);
        TorchLosses.CheckPair(image, text, nameof(image), nameof(text));
        using var scope = torch.NewDisposeScope();
        Tensor total = torch.zeros(Array.Empty<long>(), dtype: image.dtype, device: image.device);
        Tensor? con = null, smax = null, sig = null, fm = null;
        if (Options.Contrastive == ContrastiveKind.Sigmoid)
        {
            con = TorchLosses.SigmoidContrastive(image, text, logits);
        }
        else if (Options.Contrastive == ContrastiveKind.Softmax)
        {
            con = TorchLosses.SoftmaxContrastive(image, text, logits);
        }

        if (con is not null)
        {
            total = total.add(con);
        }

        if (Options.SoftmaxDistillationWeight > 0f)
        {
            smax = TorchLosses.SoftmaxDistillation(image, text, logits, teachers);
            total = total.add(smax.mul((double)Options.SoftmaxDistillationWeight));
        }

        if (Options.SigmoidDistillationWeight > 0f)
        {
            sig = TorchLosses.SigmoidDistillation(image, text, logits, teachers);
            total = total.add(sig.mul((double)Options.SigmoidDistillationWeight));
        }

        if (Options.FeatureMatchingWeight > 0f)
        {
            if (teachers.Count == 0)
            {
                throw new ArgumentException("is empty but FeatureMatchingWeight > 0; pass the teacher embeddings", nameof(teachers));
            }

            fm = torch.zeros(Array.Empty<long>(), dtype: image.dtype, device: image.device);
            for (int k = 0; k < teachers.Count; k++)
            {
                fm = fm.add(TorchLosses.FeatureMatching(image, text, teachers[k].Image, teachers[k].Text, projection));
            }

            fm = fm.div(teachers.Count);
            total = total.add(fm.mul((double)Options.FeatureMatchingWeight));
        }

        total.MoveToOuterDisposeScope();
        con?.MoveToOuterDisposeScope();
        smax?.MoveToOuterDisposeScope();
        sig?.MoveToOuterDisposeScope();
        fm?.MoveToOuterDisposeScope();
        return new TorchCombinedTerms(total, con, smax, sig, fm);
    }
}
