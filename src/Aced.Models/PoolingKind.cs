namespace Aced.Models;

/// <summary>How a tower turns its token rows into one vector per example.</summary>
public enum PoolingKind
{
    /// <summary>Global average pooling over all tokens (GAP; the paper's default for the image tower).</summary>
    GlobalAverage,

    /// <summary>Multi-head attention pooling with a learned probe (MAP).</summary>
    MultiheadAttention,

    /// <summary>The first token (e.g. the text tower's [CLS]/BOS token).</summary>
    FirstToken,

    /// <summary>The last token: the last position of the image grid, or the last non-padding token of a caption.</summary>
    LastToken,
}
