using System;
using System.Collections.Generic;
using Aced.Core;
using Aced.Models;
using Aced.Models.Text;
using Aced.Pipeline.Data;

namespace Aced.Pipeline.Evaluation;

/// <summary>
/// Runs a two-tower model and its tokenizer over evaluation splits and returns every named task's value
/// (see <see cref="EvaluationTasks"/> for the names): zero-shot classification per label task and retrieval
/// both ways per split.
/// </summary>
public sealed class Evaluator
{
    private readonly TwoTowerModel _model;
    private readonly Tokenizer _tokenizer;

    /// <summary>Creates an evaluator for one model.</summary>
    public Evaluator(TwoTowerModel model, Tokenizer tokenizer)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(tokenizer);
        _model = model;
        _tokenizer = tokenizer;
    }

    /// <summary>Query rows per similarity block.</summary>
    public int ChunkRows { get; init; } = RetrievalMetrics.DefaultChunkRows;

    /// <summary>
    /// Evaluates every split; returns task name -> value, in a stable order. <paramref name="taskPatterns"/>
    /// (exact names or prefixes ending in '*') restricts the output; empty = all tasks.
    /// </summary>
    /// <exception cref="ArgumentException">No split, an empty split, or an image size the model does not take.</exception>
    public IReadOnlyDictionary<string, double> Evaluate(IReadOnlyList<ImageTextDataset> splits, ReadOnlySpan<string> taskPatterns = default)
    {
        ArgumentNullException.ThrowIfNull(splits);
        if (splits.Count == 0)
        {
            throw new ArgumentException("At least one evaluation split is needed.", nameof(splits));
        }

        var all = new List<KeyValuePair<string, double>>();
        var retrievalSums = new SortedDictionary<string, double>(StringComparer.Ordinal);
        bool prefixRetrieval = splits.Count > 1;
        foreach (ImageTextDataset split in splits)
        {
            string prefix = EvaluationTasks.SplitPrefix(split.Name);
            (Matrix images, Matrix texts) = EncodePairs(split);
            foreach (LabelTask task in split.Tasks)
            {
                ZeroShotScores z = ZeroShot(images, task);
                string name = $"{prefix}/{task.Name}";
                all.Add(new($"{name}/top1", z.Top1));
                all.Add(new($"{name}/top5", z.Top5));
                all.Add(new($"{name}/mpcr", z.MeanPerClassRecall));
            }

            RetrievalResult r = RetrievalMetrics.Compute(images, texts, ChunkRows);
            foreach ((string leaf, double value) in RetrievalEntries(r))
            {
                if (prefixRetrieval)
                {
                    all.Add(new($"{prefix}/{leaf}", value));
                    retrievalSums[leaf] = retrievalSums.GetValueOrDefault(leaf) + value;
                }
                else
                {
                    all.Add(new(leaf, value));
                }
            }
        }

        foreach ((string leaf, double sum) in retrievalSums)
        {
            all.Add(new(leaf, sum / splits.Count));
        }

        var result = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach ((string name, double value) in all)
        {
            if (EvaluationTasks.Matches(name, taskPatterns))
            {
                result[name] = value;
            }
        }

        return result;
    }

    /// <summary>Zero-shot scores of precomputed image embeddings on one label task (templates embedded by the text tower).</summary>
    public ZeroShotScores ZeroShot(MatrixView images, LabelTask task)
    {
        ArgumentNullException.ThrowIfNull(task);
        if (task.ClassNames.Count == 0 || task.PromptTemplates.Count == 0)
        {
            throw new ArgumentException($"Task '{task.Name}' needs at least one class name and one prompt template.", nameof(task));
        }

        int templates = task.PromptTemplates.Count;
        var prompts = new string[task.ClassNames.Count * templates];
        for (int c = 0; c < task.ClassNames.Count; c++)
        {
            for (int t = 0; t < templates; t++)
            {
                prompts[(c * templates) + t] = string.Format(System.Globalization.CultureInfo.InvariantCulture, task.PromptTemplates[t], task.ClassNames[c]);
            }
        }

        Matrix promptEmbeddings = EncodeTexts(prompts);
        Matrix classifier = ZeroShotMetrics.BuildClassifier(promptEmbeddings, templates);
        return ZeroShotMetrics.Compute(images, classifier, task.Labels, ChunkRows);
    }

    /// <summary>L2-normalised image and caption embeddings of a split (N x d each).</summary>
    public (Matrix Images, Matrix Texts) EncodePairs(ImageTextDataset split)
    {
        ArgumentNullException.ThrowIfNull(split);
        if (split.Count == 0)
        {
            throw new ArgumentException($"Evaluation split '{split.Name}' is empty.", nameof(split));
        }

        int inputLength = _model.ImageEncoder.InputLength;
        if (split.ImageFloats != inputLength)
        {
            throw new ArgumentException($"Evaluation split '{split.Name}' has 3x{split.ImageSize}x{split.ImageSize} images but the model takes {inputLength} pixel values per image; load the data at the model's image size.", nameof(split));
        }

        var images = new Matrix(split.Count, _model.EmbeddingDimension);
        _model.EncodeImages(new MatrixView(split.Pixels, split.Count, split.ImageFloats), images);
        return (images, EncodeTexts(split.Captions));
    }

    private Matrix EncodeTexts(IReadOnlyList<string> texts)
    {
        int context = _model.TextEncoder.ContextLength;
        int[] tokens = _tokenizer.EncodeBatch(texts, context);
        var destination = new Matrix(texts.Count, _model.EmbeddingDimension);
        _model.EncodeTexts(tokens, destination);
        return destination;
    }

    private static IEnumerable<(string, double)> RetrievalEntries(RetrievalResult r)
    {
        foreach ((string dir, RetrievalScores s) in new[] { ("i2t", r.ImageToText), ("t2i", r.TextToImage) })
        {
            yield return ($"{dir}_r1", s.RecallAt1);
            yield return ($"{dir}_r5", s.RecallAt5);
            yield return ($"{dir}_r10", s.RecallAt10);
            yield return ($"{dir}_mean_rank", s.MeanRank);
            yield return ($"{dir}_median_rank", s.MedianRank);
        }
    }
}
