using System;
using System.Collections.Generic;
using Aced.Selection;

namespace Aced.Pipeline.Training;

/// <summary>
/// One trainer method: the Table 1 / Table 6 preset it follows (<see cref="MethodPreset"/>, which decides how
/// B_CE and B_KD are drawn and lambda) and, for the knowledge-distillation variants of Appendix D, how the
/// distillation term is split between softmax-KD (Eq. 13), sigmoid-KD (Eq. 15) and feature matching (Eq. 16).
/// </summary>
/// <param name="Name">The command-line name.</param>
/// <param name="Method">The preset.</param>
/// <param name="SoftmaxShare">Share of lambda given to softmax-KD.</param>
/// <param name="SigmoidShare">Share of lambda given to sigmoid-KD.</param>
/// <param name="FeatureShare">Share of lambda given to feature matching.</param>
public sealed record MethodDefinition(string Name, TrainingMethod Method, float SoftmaxShare = 1f, float SigmoidShare = 0f, float FeatureShare = 0f)
{
    /// <summary>The paper's preset for <see cref="Method"/>.</summary>
    public MethodPreset Preset => MethodPreset.For(Method);

    /// <summary>True when some batch is actively selected (not uniform).</summary>
    public bool Selects => Preset.ContrastiveBatch == BatchSource.Selected || Preset.DistillationBatch == BatchSource.Selected;

    /// <summary>True when the objective has a distillation term (lambda &gt; 0).</summary>
    public bool Distils => Preset.NeedsTeacher;

    /// <summary>True when Bad-Students' two small online proxies replace the student and the reference in the scores.</summary>
    public bool UsesOnlineProxies => Preset.UsesOnlineProxy;

    /// <summary>True when a pretrained reference/teacher run is required (<c>--reference</c>).</summary>
    public bool NeedsReference => !UsesOnlineProxies && (Preset.NeedsReferenceEmbeddings || Preset.NeedsTeacher);

    /// <summary>True when the student must embed the whole super-batch (the scoring pass).</summary>
    public bool NeedsStudentScores => !UsesOnlineProxies && Preset.NeedsStudentEmbeddings;

    /// <summary>True for RHO-loss, whose reference is trained on the held-out split (<c>--role reference --holdout</c>).</summary>
    public bool NeedsHoldoutReference => Preset.NeedsHoldoutReference;
}

/// <summary>The method names of the command contract and their definitions.</summary>
public static class TrainingMethods
{
    private static readonly MethodDefinition[] s_all =
    [
        new("iid", TrainingMethod.IidBaseline),
        new("softmax-kd", TrainingMethod.SoftmaxKd),
        new("sigmoid-kd", TrainingMethod.SoftmaxKd, SoftmaxShare: 0f, SigmoidShare: 1f),
        new("feature-kd", TrainingMethod.SoftmaxKd, SoftmaxShare: 0f, FeatureShare: 1f),
        new("softmax-sigmoid-kd", TrainingMethod.SoftmaxKd, SoftmaxShare: 1f, SigmoidShare: 1f),
        new("softmax-fm-kd", TrainingMethod.SoftmaxKd, SoftmaxShare: 1f, FeatureShare: 1f),
        new("i-acid", TrainingMethod.IAcid),
        new("h-acid", TrainingMethod.HAcid),
        new("aced-iidistill", TrainingMethod.AcedIIDistill),
        new("aced-acidistill", TrainingMethod.AcedAcidDistill),
        new("bad-students", TrainingMethod.BadStudents),
        new("selective-backprop", TrainingMethod.SelectiveBackprop),
        new("rho-loss", TrainingMethod.RhoLoss),
        new("jest", TrainingMethod.Jest),
    ];

    /// <summary>Every method name, in the order of the paper's tables.</summary>
    public static IReadOnlyList<string> Names { get; } = Array.ConvertAll(s_all, static m => m.Name);

    /// <summary>Every definition.</summary>
    public static IReadOnlyList<MethodDefinition> All => s_all;

    /// <summary>The definition of <paramref name="name"/> (case-insensitive), or false.</summary>
    public static bool TryGet(string? name, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out MethodDefinition? definition)
    {
        foreach (MethodDefinition m in s_all)
        {
            if (string.Equals(m.Name, name, StringComparison.OrdinalIgnoreCase))
            {
                definition = m;
                return true;
            }
        }

        definition = null;
        return false;
    }

    /// <summary>The definition of <paramref name="name"/>.</summary>
    /// <exception cref="TrainingConfigurationException">Unknown name.</exception>
    public static MethodDefinition Get(string name) =>
        TryGet(name, out MethodDefinition? m) ? m : throw new TrainingConfigurationException("--method", $"unknown method '{name}'; use one of {string.Join(", ", Names)}");
}
