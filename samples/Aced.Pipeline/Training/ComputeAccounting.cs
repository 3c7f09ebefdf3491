using Aced.Models;

namespace Aced.Pipeline.Training;

/// <summary>
/// FLOPs of one training step, split as in the paper's Appendix J. With <c>F = F_I + F_T</c> the forward FLOPs of one
/// image-caption pair through the student's towers (2 per multiply-add, <see cref="VisionTransformerConfig.ForwardFlops"/>):
/// the training forward + backward costs <c>3 F</c> per trained example (b, or 2b for ACED-IIDistill), the scoring pass
/// <c>F</c> per super-batch example (B = b / (1 - f)), a cached reference nothing per step (its one-off cost is
/// reported separately), and Bad-Students' two online proxies their own scoring and training passes. This trainer
/// runs the scoring pass encode-only and the training forward afresh, so ACID at f = 0.8 costs
/// <c>(3b + 5b) F = 8/3</c> of IID; Appendix J's 7/3 reuses the chosen examples' scoring forward in training.
/// Loss, selection and optimizer FLOPs (O(b^2 d), O(B b d)) are not counted, as in the paper.
/// </summary>
/// <param name="Training">Student forward + backward: 3 F x trained examples.</param>
/// <param name="Scoring">Student scoring forward over the super-batch: F x B (0 when the method scores without the student).</param>
/// <param name="Reference">Live reference/teacher forwards per step (0 with cached embeddings).</param>
/// <param name="Proxies">Bad-Students' online proxy and online reference: scoring over B and their training passes.</param>
public readonly record struct StepFlops(double Training, double Scoring, double Reference, double Proxies)
{
    /// <summary>All FLOPs of one step.</summary>
    public double Total => Training + Scoring + Reference + Proxies;
}

/// <summary>Counts FLOPs per Appendix J (see <see cref="StepFlops"/>).</summary>
public static class ComputeAccounting
{
    /// <summary>Forward FLOPs of one image-caption pair: <c>F_I + F_T</c>.</summary>
    public static double PairForwardFlops(TwoTowerConfig config) => config.Image.ForwardFlops() + config.Text.ForwardFlops();

    /// <summary>The FLOPs of one step of a run.</summary>
    /// <param name="student">Student model shape.</param>
    /// <param name="trainedExamples">Examples through the student's forward and backward (b or 2b).</param>
    /// <param name="superBatch">Super-batch size B.</param>
    /// <param name="studentScores">True when the student embeds the whole super-batch.</param>
    /// <param name="proxy">Shape of Bad-Students' proxies, or null.</param>
    /// <param name="batch">Sub-batch b (the proxy learner trains on it; the online reference on B).</param>
    public static StepFlops PerStep(TwoTowerConfig student, int trainedExamples, int superBatch, bool studentScores, TwoTowerConfig? proxy, int batch)
    {
        double f = PairForwardFlops(student);
        double proxies = 0;
        if (proxy is not null)
        {
            double fp = PairForwardFlops(proxy);
            proxies = (2.0 * fp * superBatch) + (3.0 * fp * batch) + (3.0 * fp * superBatch);
        }

        return new StepFlops(3.0 * f * trainedExamples, studentScores ? f * superBatch : 0, 0, proxies);
    }
}
