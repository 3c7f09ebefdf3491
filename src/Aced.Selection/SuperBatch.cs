using System;
using Aced.Core;

namespace Aced.Selection;

/// <summary>
/// One model's embeddings of a super-batch: L2-normalised image and text rows (row i of both is the
/// i-th image-caption pair) with the model's logit scale <c>a</c> and bias <c>c</c>, so that
/// <c>l_ij = a * &lt;img_i, txt_j&gt; + c</c>. A view over the caller's storage: nothing is copied.
/// </summary>
public readonly struct ModelEmbeddings
{
    /// <summary>Wraps image and text embeddings (B x d each) with the model's logit parameters.</summary>
    /// <param name="image">Image embeddings, one row per example.</param>
    /// <param name="text">Text embeddings, one row per example, same shape as <paramref name="image"/>.</param>
    /// <param name="logits">
    /// The model's scale <c>a = exp(t)</c> and bias <c>c</c>: <c>model.Logits</c> for a live <c>TwoTowerModel</c>,
    /// <c>LogitParameters.FromLogScale(t, c)</c> from a log-scale, <c>new LogitParameters(a, c)</c> from a scale, or
    /// <c>LogitParameters.Initial(kind)</c>.
    /// </param>
    /// <exception cref="ArgumentException">The shapes differ or the views are empty.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="logits"/> is the default (unset) value.</exception>
    public ModelEmbeddings(MatrixView image, MatrixView text, LogitParameters logits)
    {
        if (image.Array is null || text.Array is null || image.Rows == 0 || image.Columns == 0)
        {
            Guard.ThrowArgument(nameof(image), "is empty; give at least one row of at least one dimension");
        }

        if (text.Rows != image.Rows || text.Columns != image.Columns)
        {
            Guard.ThrowArgument(nameof(text), $"has shape {text.Rows}x{text.Columns} but the image embeddings are {image.Rows}x{image.Columns}; image and text rows must pair up with the same dimension");
        }

        CheckLogits(logits);
        Image = image;
        Text = text;
        Logits = logits;
    }

    /// <summary>Image embeddings (B x d).</summary>
    public MatrixView Image { get; }

    /// <summary>Text embeddings (B x d).</summary>
    public MatrixView Text { get; }

    /// <summary>The model's logit parameters <c>(a, t, c)</c>.</summary>
    public LogitParameters Logits { get; }

    /// <summary>Logit scale <c>a</c> (<see cref="Logits"/>.Scale).</summary>
    public float Scale => Logits.Scale;

    /// <summary>Logit bias <c>c</c> (<see cref="Logits"/>.Bias).</summary>
    public float Bias => Logits.Bias;

    /// <summary>Number of examples B.</summary>
    public int Count => Image.Rows;

    /// <summary>Embedding dimension d.</summary>
    public int Dimension => Image.Columns;

    /// <summary>True for the default (absent) value.</summary>
    public bool IsEmpty => Image.Array is null;

    /// <summary>These embeddings with other logit parameters (a copy of the struct; nothing is allocated or copied).</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="logits"/> is the default (unset) value.</exception>
    /// <exception cref="InvalidOperationException">These embeddings are the default (absent) value.</exception>
    public ModelEmbeddings WithLogits(LogitParameters logits)
    {
        if (IsEmpty)
        {
            throw new InvalidOperationException("These embeddings are absent (default); construct them with image and text views first.");
        }

        return new ModelEmbeddings(Image, Text, logits);
    }

    private static void CheckLogits(LogitParameters logits)
    {
        if (logits.IsDefault)
        {
            Guard.ThrowOutOfRange(nameof(logits), logits, "is the default value (scale 0); pass model.Logits, LogitParameters.FromLogScale(t, c), new LogitParameters(a, c) or LogitParameters.Initial(kind)");
        }
    }

    /// <summary>
    /// Throws naming <paramref name="name"/> (e.g. <c>superBatch.Student</c>), the model, the tower and the row if an
    /// embedding is NaN or infinite or a row's L2 norm differs from 1 by more than <paramref name="normTolerance"/>
    /// (<see cref="double.PositiveInfinity"/>: finite check only). One pass: a row's sum of squares is finite and
    /// near 1 exactly when it passes; the cause is located only for a failing row.
    /// </summary>
    internal void EnsureFiniteAndUnitNorm(string name, string model, double normTolerance)
    {
        for (int r = 0; r < Image.Rows; r++)
        {
            CheckRow(Image.Row(r), normTolerance, name, model, "image", r);
            CheckRow(Text.Row(r), normTolerance, name, model, "text", r);
        }
    }

    /// <summary>True when <paramref name="row"/>'s L2 norm is within <paramref name="tolerance"/> of 1 (NaN: false).</summary>
    internal static bool IsUnitNorm(ReadOnlySpan<float> row, double tolerance) =>
        Math.Abs(Math.Sqrt(System.Numerics.Tensors.TensorPrimitives.SumOfSquares(row)) - 1) <= tolerance;

    private static void CheckRow(ReadOnlySpan<float> row, double tolerance, string name, string model, string tower, int r)
    {
        float squares = System.Numerics.Tensors.TensorPrimitives.SumOfSquares(row);
        double norm = Math.Sqrt(squares);
        if (float.IsFinite(squares) && Math.Abs(norm - 1) <= tolerance)
        {
            return;
        }

        if (Guard.IndexOfNonFinite(row) >= 0)
        {
            Guard.ThrowArgument(name, $"{model} {tower} embedding row {r} contains NaN or infinity; repair or drop that example before selection");
        }

        if (!(Math.Abs(norm - 1) <= tolerance))
        {
            string shown = norm.ToString("G6", System.Globalization.CultureInfo.InvariantCulture);
            string within = tolerance.ToString("G6", System.Globalization.CultureInfo.InvariantCulture);
            Guard.ThrowArgument(name, $"{model} {tower} embedding row {r} has L2 norm {shown}, not 1 (within NormTolerance {within}); the selection assumes L2-normalised embeddings: normalise every row (StableMath.L2NormalizeRows) or raise ActiveBatchSamplerOptions.NormTolerance");
        }
    }
}

/// <summary>
/// A super-batch of B candidate image-caption pairs as seen by the student and (optionally) the
/// reference model, live or loaded from a cache. The two models may have different embedding
/// dimensions, but must agree on B. Wraps the caller's arrays without copying; the sampler reads them
/// only during <see cref="ActiveBatchSampler.Sample(SuperBatch)"/>, so the arrays may be refilled and
/// the same <see cref="SuperBatch"/> reused every step.
/// </summary>
/// <remarks>
/// <para><b>Reuse every step</b>: refill the embedding arrays in place, and when a trainable student's scale or bias
/// changed (after every optimizer step) call <see cref="UpdateStudentLogits"/> with <c>model.Logits</c>; swap the
/// views themselves (other arrays, another B) with <see cref="Update"/>. Neither allocates.</para>
/// <para><b>No embeddings</b>: a uniform draw (the IID baseline, <see cref="SamplerKind.Uniform"/>) needs only B;
/// <see cref="OfSize"/> makes such a super-batch. Every <see cref="MethodPreset"/> works with a super-batch holding
/// exactly the models its <see cref="MethodPreset.NeedsStudentEmbeddings"/> and
/// <see cref="MethodPreset.NeedsReferenceEmbeddings"/> ask for.</para>
/// </remarks>
public sealed class SuperBatch
{
    private int _count;

    /// <summary>Creates a super-batch from the student's and (optionally) the reference's embeddings.</summary>
    /// <param name="student">Student embeddings (may be <c>default</c> when the scoring needs only the reference).</param>
    /// <param name="reference">Reference embeddings (may be <c>default</c> when the scoring needs only the student).</param>
    /// <exception cref="ArgumentException">Both are absent (use <see cref="OfSize"/> for a super-batch without embeddings), or their row counts differ.</exception>
    public SuperBatch(ModelEmbeddings student, ModelEmbeddings reference = default)
    {
        Update(student, reference);
    }

    private SuperBatch(int count)
    {
        _count = count;
    }

    /// <summary>
    /// A super-batch of <paramref name="count"/> candidates without embeddings: enough for uniform draws (the IID
    /// baseline and Softmax-KD presets, <see cref="SamplerKind.Uniform"/>); a sampler that scores throws naming the
    /// missing model.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="count"/> is below 1.</exception>
    public static SuperBatch OfSize(int count)
    {
        Guard.Positive(count);
        return new SuperBatch(count);
    }

    /// <summary>
    /// Replaces both models' embeddings (new views, another B, or a model added or dropped) with the constructor's
    /// checks; the super-batch is unchanged when they fail. Allocation-free.
    /// </summary>
    /// <exception cref="ArgumentException">Both are absent, or their row counts differ.</exception>
    public void Update(ModelEmbeddings student, ModelEmbeddings reference = default)
    {
        if (student.IsEmpty && reference.IsEmpty)
        {
            Guard.ThrowArgument(nameof(student), "and reference are both absent; give the embeddings of at least one model (or use SuperBatch.OfSize for a uniform draw without embeddings)");
        }

        if (!student.IsEmpty && !reference.IsEmpty && student.Count != reference.Count)
        {
            Guard.ThrowArgument(nameof(reference), $"has {reference.Count} rows but the student has {student.Count}; both must embed the same super-batch in the same order");
        }

        Student = student;
        Reference = reference;
        _count = student.IsEmpty ? reference.Count : student.Count;
    }

    /// <summary>
    /// Sets the student's logit parameters (a trainable student's <c>model.Logits</c> after each optimizer step),
    /// keeping its embedding views. Allocation-free.
    /// </summary>
    /// <exception cref="InvalidOperationException">The super-batch has no student embeddings.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="logits"/> is the default (unset) value.</exception>
    public void UpdateStudentLogits(LogitParameters logits)
    {
        if (!HasStudent)
        {
            throw new InvalidOperationException("This super-batch has no student embeddings; add them with Update(student, reference) first.");
        }

        Student = Student.WithLogits(logits);
    }

    /// <summary>Sets the reference's logit parameters, keeping its embedding views. Allocation-free.</summary>
    /// <exception cref="InvalidOperationException">The super-batch has no reference embeddings.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="logits"/> is the default (unset) value.</exception>
    public void UpdateReferenceLogits(LogitParameters logits)
    {
        if (!HasReference)
        {
            throw new InvalidOperationException("This super-batch has no reference embeddings; add them with Update(student, reference) first.");
        }

        Reference = Reference.WithLogits(logits);
    }

    /// <summary>
    /// Creates a super-batch over flat row-major arrays (B x d each) without copying.
    /// Pass null reference arrays (and no <c>referenceLogits</c>) when no reference model is used.
    /// </summary>
    /// <exception cref="ArgumentException">An array length is not a multiple of its dimension, or the shapes disagree.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The logit parameters of a model that is present are the default (unset) value.</exception>
    public static SuperBatch FromArrays(
        int count,
        float[] studentImage,
        float[] studentText,
        int studentDimension,
        LogitParameters studentLogits,
        float[]? referenceImage = null,
        float[]? referenceText = null,
        int referenceDimension = 0,
        LogitParameters referenceLogits = default)
    {
        ArgumentNullException.ThrowIfNull(studentImage);
        ArgumentNullException.ThrowIfNull(studentText);
        Guard.Positive(count);
        Guard.Positive(studentDimension);
        var student = new ModelEmbeddings(View(studentImage, count, studentDimension, nameof(studentImage)), View(studentText, count, studentDimension, nameof(studentText)), studentLogits);
        if (referenceImage is null && referenceText is null)
        {
            return new SuperBatch(student);
        }

        if (referenceImage is null || referenceText is null)
        {
            Guard.ThrowArgument(referenceImage is null ? nameof(referenceImage) : nameof(referenceText), "is missing; give both reference arrays or neither");
        }

        Guard.Positive(referenceDimension);
        var reference = new ModelEmbeddings(View(referenceImage, count, referenceDimension, nameof(referenceImage)), View(referenceText, count, referenceDimension, nameof(referenceText)), referenceLogits);
        return new SuperBatch(student, reference);
    }

    /// <summary>The student's embeddings (empty when absent).</summary>
    public ModelEmbeddings Student { get; private set; }

    /// <summary>The reference's embeddings (empty when absent).</summary>
    public ModelEmbeddings Reference { get; private set; }

    /// <summary>True when student embeddings are present.</summary>
    public bool HasStudent => !Student.IsEmpty;

    /// <summary>True when reference embeddings are present.</summary>
    public bool HasReference => !Reference.IsEmpty;

    /// <summary>The super-batch size B.</summary>
    public int Count => _count;

    private static MatrixView View(float[] array, int count, int dimension, string name)
    {
        if ((long)count * dimension != array.Length)
        {
            Guard.ThrowArgument(name, $"has {array.Length} elements but {count} rows of dimension {dimension} need {(long)count * dimension}");
        }

        return new MatrixView(array, count, dimension);
    }
}
