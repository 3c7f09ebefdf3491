using System;
using Aced.Pipeline.Caching;
using System.Threading;
using Aced.Pipeline.Data;

namespace Aced.Pipeline.Training;

/// <summary>
/// Trains a reference or a student with one method of the paper's Tables 1 and 6 under the unified objective
/// <c>L_full = L_con[B_CE] + lambda * L_dist[B_KD]</c>. Each step: the super-batch of B = b / (1 - f) examples in the
/// run's deterministic data order; the student's encode-only scoring pass over it (when the method scores with the
/// student), the cached reference embeddings of its rows, the sampler; then one AdamW step on the chosen batch(es).
/// Writes config.json, metrics.jsonl, checkpoints and final.ckpt/final.json into <see cref="TrainOptions.OutDir"/>.
/// </summary>
public static class Trainer
{
    /// <summary>
    /// Loads <see cref="TrainOptions.Dataset"/> with <see cref="TrainOptions.Data"/> (<see cref="DatasetCatalog.Load"/>),
    /// then runs (or resumes) the training described by <paramref name="options"/>.
    /// </summary>
    /// <exception cref="TrainingConfigurationException">A bad option, a missing reference or checkpoint, an existing run without --resume.</exception>
    /// <exception cref="DataException">The data set is missing or bad.</exception>
    public static TrainResult Run(TrainOptions options, ITrainingObserver? observer = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        DatasetSplits data = DatasetCatalog.Load(options.Dataset, options.Data, report: null, cancellationToken);
        return Run(options, data, observer, cancellationToken);
    }

    /// <summary>Runs (or resumes) the training described by <paramref name="options"/> on <paramref name="data"/>.</summary>
    /// <param name="options">The configuration; every problem is reported before any training.</param>
    /// <param name="data">The splits of <see cref="TrainOptions.Dataset"/> (the reference trains on ReferenceTrain or Holdout, a student on StudentTrain).</param>
    /// <param name="observer">Progress receiver, or null.</param>
    /// <param name="cancellationToken">Cancelling saves a checkpoint of the last completed step and returns with <see cref="TrainResult.Completed"/> false.</param>
    /// <exception cref="TrainingConfigurationException">A bad option, a missing reference or checkpoint, an existing run without --resume.</exception>
    /// <exception cref="ReferenceCacheMismatchException">A reference cache computed from other data or another model.</exception>
    public static TrainResult Run(TrainOptions options, DatasetSplits data, ITrainingObserver? observer = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(data);
        options.Validate();
        TrainingSession session = TrainingSession.Prepare(options, data, observer ?? NullObserver.Instance, cancellationToken);
        return session.Train(cancellationToken);
    }

    private sealed class NullObserver : ITrainingObserver
    {
        public static readonly NullObserver Instance = new();

        public void OnStart(TrainingStart start)
        {
        }

        public void OnStep(StepMetrics metrics)
        {
        }

        public void OnMessage(string message)
        {
        }
    }
}
