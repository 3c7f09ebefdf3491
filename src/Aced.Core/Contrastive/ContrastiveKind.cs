namespace Aced.Core;

/// <summary>
/// The contrastive objective of a two-tower model: one type shared by the losses (Aced.Losses), the models'
/// initialisation (Aced.Models) and the selection scores (Aced.Selection). The initial logit parameters of each
/// kind come from <see cref="LogitParameters.Initial(ContrastiveKind)"/>.
/// </summary>
public enum ContrastiveKind
{
    /// <summary>
    /// SigLIP sigmoid loss over all pairs: <c>softplus(-y_ij * l_ij)</c> with <c>y_ii = +1</c>, <c>y_ij = -1</c>
    /// otherwise and <c>l_ij = a * &lt;img_i, txt_j&gt; + c</c>. Initialised at <c>t = ln 10</c>, <c>c = -10</c>.
    /// </summary>
    Sigmoid = 0,

    /// <summary>
    /// CLIP softmax loss over examples: <c>(1/2)(-log p_ii^{i-&gt;t} - log p_ii^{t-&gt;i})</c>. Initialised at
    /// <c>t = ln(1/0.07)</c> with no bias (the bias cancels inside the softmax and receives no gradient).
    /// </summary>
    Softmax = 1,
}
