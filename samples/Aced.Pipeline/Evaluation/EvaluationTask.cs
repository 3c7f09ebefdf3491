using System;

namespace Aced.Pipeline.Evaluation;

/// <summary>What kind of number a task produces.</summary>
public enum TaskKind
{
    /// <summary>Zero-shot classification accuracy or recall, a fraction in [0, 1], higher is better.</summary>
    ZeroShot,

    /// <summary>Retrieval recall at k, a fraction in [0, 1], higher is better.</summary>
    RetrievalRecall,

    /// <summary>Retrieval mean or median rank (1 = best), lower is better: reported, never averaged into scores.</summary>
    RetrievalRank,

    /// <summary>An average over other tasks (for example <c>stable_average</c>).</summary>
    Aggregate,
}

/// <summary>Names of the evaluation tasks and what they measure.</summary>
/// <remarks>
/// Zero-shot tasks are <c>{split}/{task}/top1</c>, <c>/top5</c> and <c>/mpcr</c> (mean per-class recall), where
/// <c>{split}</c> is the evaluation split's short name (the last segment of its data-set name, e.g.
/// <c>facebook</c> for <c>emoji/facebook</c>) and <c>{task}</c> the label task (e.g. <c>group</c>). Retrieval
/// tasks are <c>i2t_r1</c>, <c>i2t_r5</c>, <c>i2t_r10</c>, <c>i2t_mean_rank</c>, <c>i2t_median_rank</c> and the
/// same with <c>t2i_</c>; with several evaluation splits they are prefixed by <c>{split}/</c> and the unprefixed
/// names are the means over splits.
/// </remarks>
public static class EvaluationTasks
{
    /// <summary>The name of the StableEval average.</summary>
    public const string StableAverage = "stable_average";

    /// <summary>The kind of a task, from its name.</summary>
    public static TaskKind KindOf(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (name == StableAverage || name.EndsWith("average", StringComparison.Ordinal))
        {
            return TaskKind.Aggregate;
        }

        string leaf = name[(name.LastIndexOf('/') + 1)..];
        if (leaf.EndsWith("_rank", StringComparison.Ordinal))
        {
            return TaskKind.RetrievalRank;
        }

        if (leaf.StartsWith("i2t_", StringComparison.Ordinal) || leaf.StartsWith("t2i_", StringComparison.Ordinal))
        {
            return TaskKind.RetrievalRecall;
        }

        return TaskKind.ZeroShot;
    }

    /// <summary>True for tasks whose value is a score in [0, 1] where higher is better (candidates for StableEval).</summary>
    public static bool IsScore(string name) => KindOf(name) is TaskKind.ZeroShot or TaskKind.RetrievalRecall;

    /// <summary>The short split prefix of a data-set name: its last '/'-separated segment.</summary>
    public static string SplitPrefix(string datasetName)
    {
        ArgumentNullException.ThrowIfNull(datasetName);
        string trimmed = datasetName.TrimEnd('/');
        return trimmed[(trimmed.LastIndexOf('/') + 1)..];
    }

    /// <summary>
    /// True when <paramref name="name"/> is selected by <paramref name="patterns"/>: an exact name, or a pattern
    /// ending in '*' matching every name that starts with the rest. An empty pattern list selects everything.
    /// </summary>
    public static bool Matches(string name, ReadOnlySpan<string> patterns)
    {
        if (patterns.IsEmpty)
        {
            return true;
        }

        foreach (string p in patterns)
        {
            if (p.EndsWith('*') ? name.StartsWith(p[..^1], StringComparison.Ordinal) : name == p)
            {
                return true;
            }
        }

        return false;
    }
}
