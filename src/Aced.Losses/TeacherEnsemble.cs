namespace Aced.Losses;

/// <summary>How the distillation losses combine K teachers (paper Eq. 18 and its prose).</summary>
public enum TeacherEnsemble
{
    /// <summary>
    /// The mean of the K per-teacher cross-entropies, <c>(1/K) sum_k CE[p(T^k); q(S)]</c> (Eq. 18, the default). For
    /// cross-entropies this equals one cross-entropy against the averaged teacher probabilities
    /// <c>mean_k softmax(T^k)</c> (softmax) or <c>mean_k sigmoid(T^k)</c> (sigmoid).
    /// </summary>
    MeanOfLosses = 0,

    /// <summary>
    /// One cross-entropy against the teacher whose logits are the mean of the K teachers' logits,
    /// <c>T_ij = (1/K) sum_k (a_k &lt;img_k_i, txt_k_j&gt; + c_k)</c>, as the paper's prose describes the ensemble
    /// ("averaging the logits"). Sharper than <see cref="MeanOfLosses"/> where the teachers agree and different
    /// wherever they disagree. With one teacher both are the same loss.
    /// </summary>
    MeanOfLogits = 1,
}
