using System;
using Aced.Core;

namespace Aced.Losses;

/// <summary>
/// L2-normalises raw feature rows before a loss (<c>z = x / max(||x||, 1e-12)</c>, PyTorch's
/// <c>F.normalize</c>) and carries the loss gradients back to the raw features
/// (<c>dL/dx = (g - z (z . g)) / ||x||</c>). Keeps the normalised rows and norms in a reusable workspace, which the
/// next <c>Normalize</c> overwrites: not thread-safe, and one instance per normalised input.
/// </summary>
public sealed class EmbeddingNormalizer
{
    private float[] _normalized = Array.Empty<float>();
    private float[] _norms = Array.Empty<float>();
    private int _rows;
    private int _columns;

    /// <summary>The normalised rows of the last <see cref="Normalize"/> call.</summary>
    public MatrixView Normalized => new(_normalized, 0, _rows, _columns, _columns);

    /// <summary>Normalises the rows of <paramref name="raw"/>; returns a view of the normalised copy (valid until the next call).</summary>
    /// <exception cref="ArgumentException"><paramref name="raw"/> is empty or holds NaN/Inf.</exception>
    public MatrixView Normalize(MatrixView raw)
    {
        Internal.InputCheck.MaxRowNorm(raw, nameof(raw));
        _rows = raw.Rows;
        _columns = raw.Columns;
        if (_normalized.Length < _rows * _columns)
        {
            _normalized = new float[_rows * _columns];
        }

        if (_norms.Length < _rows)
        {
            _norms = new float[_rows];
        }

        StableMath.L2NormalizeRows(raw, Normalized, _norms.AsSpan(0, _rows));
        return Normalized;
    }

    /// <summary>
    /// Converts <paramref name="gradNormalized"/> (<c>dL/dz</c>) into <paramref name="gradRaw"/> (<c>dL/dx</c>)
    /// for the rows of the last <see cref="Normalize"/> call. The two views may be the same.
    /// </summary>
    /// <exception cref="ArgumentException">Shapes differ from the last normalised matrix.</exception>
    public void Backward(MatrixView gradNormalized, MatrixView gradRaw) =>
        StableMath.L2NormalizeRowsBackward(Normalized, _norms.AsSpan(0, _rows), gradNormalized, gradRaw);
}
