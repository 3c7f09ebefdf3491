using System.Collections.Generic;

namespace Aced.Pipeline.Training;

/// <summary>What a run is about to do (reported once, before the first step).</summary>
/// <param name="RunDirectory">The run directory.</param>
/// <param name="Description">e.g. "student h-acid (H-ACID), size Mu, b=64, B=320".</param>
/// <param name="StartStep">Completed steps before this call (0, or the resumed checkpoint's step).</param>
/// <param name="TotalSteps">The run's step count.</param>
/// <param name="BatchSize">b.</param>
/// <param name="SuperBatchSize">B.</param>
/// <param name="FlopsPerStep">The FLOPs of one step.</param>
public sealed record TrainingStart(string RunDirectory, string Description, long StartStep, long TotalSteps, int BatchSize, int SuperBatchSize, StepFlops FlopsPerStep);

/// <summary>One line of metrics.jsonl.</summary>
/// <param name="Step">Completed steps (1-based).</param>
/// <param name="TotalSteps">The run's step count.</param>
/// <param name="Loss">L_full of this step's batch (before the update).</param>
/// <param name="Contrastive">The contrastive term L_con[B_CE].</param>
/// <param name="Distillation">The unweighted distillation term L_dist[B_KD] (0 without one).</param>
/// <param name="SamplesSeen">Examples trained on so far (b, or 2b for ACED-IIDistill, per step).</param>
/// <param name="Flops">Cumulative FLOPs (Appendix J; see <see cref="StepFlops"/>).</param>
/// <param name="Seconds">Cumulative training wall time (across resumes).</param>
/// <param name="LearningRate">The learning rate of this step's update.</param>
/// <param name="Scale">The student's logit scale a after the update.</param>
/// <param name="Bias">The student's logit bias c after the update.</param>
/// <param name="CorruptedFraction">Fraction of B_CE whose caption was deliberately corrupted (diagnostic).</param>
/// <param name="ExamplesPerSecond">Trained examples per second over this run's steps so far.</param>
public sealed record StepMetrics(long Step, long TotalSteps, double Loss, double Contrastive, double Distillation, long SamplesSeen, double Flops, double Seconds, double LearningRate, double Scale, double Bias, double CorruptedFraction, double ExamplesPerSecond);

/// <summary>Receives a run's progress (the CLI draws a progress bar or prints lines).</summary>
public interface ITrainingObserver
{
    /// <summary>Called once before the first step.</summary>
    void OnStart(TrainingStart start);

    /// <summary>Called after every step.</summary>
    void OnStep(StepMetrics metrics);

    /// <summary>A one-line note (cache computed or reused, checkpoint written, resumed).</summary>
    void OnMessage(string message);
}

/// <summary>The outcome of <see cref="Trainer.Run(TrainOptions, Data.DatasetSplits, ITrainingObserver?, System.Threading.CancellationToken)"/>; also written to RUN_DIR/final.json.</summary>
/// <param name="RunDirectory">The run directory.</param>
/// <param name="Completed">False when cancelled (a checkpoint of the last completed step was saved; resume with --resume).</param>
/// <param name="Steps">Completed steps.</param>
/// <param name="FinalLoss">L_full of the last step (NaN when no step ran in this call and none before).</param>
/// <param name="SamplesSeen">Examples trained on.</param>
/// <param name="Flops">Cumulative per-step FLOPs (training, scoring, live reference, proxies).</param>
/// <param name="ReferenceCacheFlops">The one-off FLOPs of the reference caches this run uses (Appendix J: paid once, reusable).</param>
/// <param name="Seconds">Training wall time (across resumes).</param>
/// <param name="Checkpoint">final.ckpt when completed, else the last periodic checkpoint.</param>
/// <param name="ConfigPath">RUN_DIR/config.json.</param>
/// <param name="MetricsPath">RUN_DIR/metrics.jsonl.</param>
/// <param name="ReferenceCaches">The reference-cache directories used.</param>
public sealed record TrainResult(string RunDirectory, bool Completed, long Steps, double FinalLoss, long SamplesSeen, double Flops, double ReferenceCacheFlops, double Seconds, string Checkpoint, string ConfigPath, string MetricsPath, IReadOnlyList<string> ReferenceCaches);
