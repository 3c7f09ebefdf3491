using System;
using System.Collections.Generic;
using Aced.Core;
using Aced.Models.Layers;

namespace Aced.Models;

/// <summary>Shape of a <see cref="TwoTowerModel"/> built from this package's towers.</summary>
public sealed record TwoTowerConfig
{
    /// <summary>Image tower shape.</summary>
    public VisionTransformerConfig Image { get; init; } = new();

    /// <summary>Text tower shape.</summary>
    public TextTransformerConfig Text { get; init; } = new();

    /// <summary>Contrastive objective the scalars are initialised for.</summary>
    public ContrastiveKind Kind { get; init; } = ContrastiveKind.Sigmoid;

    /// <summary>Both towers at the same size preset (Mu, Ti, S, B) with a shared embedding width.</summary>
    /// <param name="size">The preset (<see cref="ModelSizes.Parse"/> reads it from text).</param>
    /// <param name="vocabularySize">Text vocabulary size.</param>
    /// <param name="contextLength">Tokens per caption.</param>
    /// <param name="imageSize">Image side.</param>
    /// <param name="patchSize">Patch side.</param>
    /// <param name="embeddingDimension">Shared embedding width.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="size"/> is not defined.</exception>
    /// <exception cref="ArgumentException">Invalid sizes.</exception>
    public static TwoTowerConfig Preset(ModelSize size, int vocabularySize = 4096, int contextLength = 32, int imageSize = 32, int patchSize = 4, int embeddingDimension = 128) => new()
    {
        Image = VisionTransformerConfig.Preset(size, imageSize, patchSize, embeddingDimension),
        Text = TextTransformerConfig.Preset(size, vocabularySize, contextLength, embeddingDimension),
    };

    /// <summary>Checks both towers and that their embedding widths agree; returns this config.</summary>
    /// <exception cref="ArgumentException">Invalid tower config or mismatched embedding widths.</exception>
    public TwoTowerConfig Validated()
    {
        ArgumentNullException.ThrowIfNull(Image);
        ArgumentNullException.ThrowIfNull(Text);
        Image.Validated();
        Text.Validated();
        if (!(Image.EmbeddingDimension == Text.EmbeddingDimension))
        {
            Guard.ThrowArgument(nameof(Text), $"image embedding width {Image.EmbeddingDimension} differs from text embedding width {Text.EmbeddingDimension}");
        }
        return this;
    }
}

/// <summary>
/// Two-tower contrastive model: <c>z_img = f_img(I)/||f_img(I)||</c>, <c>z_txt = f_txt(T)/||f_txt(T)||</c>, and
/// learnable scalars <c>t</c> (log-scale, logits use <c>a = exp(t)</c>) and <c>c</c> (bias), so a loss forms
/// <c>l_ij = exp(t) &lt;z_img_i, z_txt_j&gt; + c</c>. The loss itself lives outside (Aced.Losses, or your own):
/// <see cref="Forward"/> returns the normalised embeddings, <see cref="Logits"/> the current <c>(a, t, c)</c> for the
/// loss, and <see cref="Backward(MatrixView, MatrixView, LogitGradients)"/> takes dL/dz for both towers and the loss's
/// <see cref="LogitGradients"/> and accumulates every parameter gradient. A training step is
/// <c>ZeroGradients -&gt; Forward -&gt; loss.Compute(z_img, z_txt, Logits, gradients) -&gt; Backward -&gt; AdamW.Update -&gt; ClampLogScale</c>
/// (the package README shows it in full).
/// </summary>
/// <remarks>
/// An instance is not thread-safe: one training or encoding loop per model (each call parallelises internally over
/// <see cref="GemmControl.MaxDegreeOfParallelism"/> threads with results independent of that number). NaN or infinite
/// pixels and out-of-range token ids are rejected with <see cref="ArgumentException"/>; a NaN reaching the gradients
/// is caught by <see cref="Training.AdamW.Update"/>.
/// </remarks>
public sealed class TwoTowerModel
{
    /// <summary>Upper clamp of <c>t</c>: ln 100.</summary>
    public static readonly float MaxLogScale = MathF.Log(100f);

    private readonly List<Parameter> _parameters = [];
    private int _capacity;
    private int _batch;
    private float[] _imageNormalized = [];
    private float[] _textNormalized = [];
    private float[] _imageNorms = [];
    private float[] _textNorms = [];
    private float[] _dImageRaw = [];
    private float[] _dTextRaw = [];
    private MatrixView _imageRaw;
    private (float[] Array, int Start, int Length)[]? _gradientChunks;
    private long _gradientFloats;
    private MatrixView _textRaw;
    private IImageEncoder? _inferenceImage;
    private ITextEncoder? _inferenceText;
    private bool _activationsOverwritten;

    /// <summary>Builds both towers of <paramref name="config"/> from <paramref name="seed"/> (image and text use separate parameter streams).</summary>
    /// <param name="config">Model shape; validated.</param>
    /// <param name="seed">Initialisation seed.</param>
    /// <exception cref="ArgumentException">Invalid config.</exception>
    public TwoTowerModel(TwoTowerConfig config, ulong seed)
        : this(new VisionTransformer(Validate(config).Image, seed), new TextTransformer(config.Text, seed), config.Kind)
    {
        Config = config;
    }

    /// <summary>Wraps user-provided towers (whose embedding widths must agree).</summary>
    /// <param name="image">Image tower.</param>
    /// <param name="text">Text tower.</param>
    /// <param name="kind">Objective that decides the initial <c>t</c> and <c>c</c> (<see cref="LogitParameters.Initial(ContrastiveKind)"/>).</param>
    /// <exception cref="ArgumentException">Embedding widths differ or parameter names collide.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="kind"/> is not defined.</exception>
    public TwoTowerModel(IImageEncoder image, ITextEncoder text, ContrastiveKind kind = ContrastiveKind.Sigmoid)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(text);
        if (!(image.EmbeddingDimension == text.EmbeddingDimension))
        {
            Guard.ThrowArgument(nameof(text), $"text embedding width {text.EmbeddingDimension} differs from image embedding width {image.EmbeddingDimension}");
        }
        ImageEncoder = image;
        TextEncoder = text;
        Kind = kind;
        LogScale = new Parameter("logit.scale", [1], ParameterKind.Scalar);
        Bias = new Parameter("logit.bias", [1], ParameterKind.Scalar);
        LogitParameters initial = LogitParameters.Initial(kind);
        LogScale.Value[0] = initial.LogScale;
        Bias.Value[0] = initial.Bias;
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (Parameter p in image.Parameters)
        {
            AddParameter(p, names);
        }

        foreach (Parameter p in text.Parameters)
        {
            AddParameter(p, names);
        }

        AddParameter(LogScale, names);
        AddParameter(Bias, names);
    }

    /// <summary>The config when built from this package's towers; null for user towers.</summary>
    public TwoTowerConfig? Config { get; }

    /// <summary>Objective the scalars were initialised for.</summary>
    public ContrastiveKind Kind { get; }

    /// <summary>The image tower.</summary>
    public IImageEncoder ImageEncoder { get; }

    /// <summary>The text tower.</summary>
    public ITextEncoder TextEncoder { get; }

    /// <summary>Learnable log-scale <c>t</c> (logit scale <c>exp(t)</c>).</summary>
    public Parameter LogScale { get; }

    /// <summary>Learnable logit bias <c>c</c>.</summary>
    public Parameter Bias { get; }

    /// <summary>Shared embedding width.</summary>
    public int EmbeddingDimension => ImageEncoder.EmbeddingDimension;

    /// <summary>All parameters: image tower, text tower, then <c>t</c> and <c>c</c>.</summary>
    public IReadOnlyList<Parameter> Parameters => _parameters;

    /// <summary>Current logit scale <c>exp(t)</c>.</summary>
    public float Scale => MathF.Exp(LogScale.Value[0]);

    /// <summary>
    /// The current logit parameters (<c>t</c> and <c>c</c> as they are now, <c>a = exp(t)</c>): pass them to a loss of
    /// Aced.Losses or to an Aced.Selection <c>ModelEmbeddings</c>. A snapshot: read it again after every optimizer step.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><c>t</c> or <c>c</c> is not finite (a diverged model).</exception>
    public LogitParameters Logits => LogitParameters.FromLogScale(LogScale.Value[0], Bias.Value[0]);

    /// <summary>
    /// Encodes a batch of pairs; returns L2-normalised image and text embeddings (batch x EmbeddingDimension), views
    /// into model buffers valid until the next call.
    /// </summary>
    /// <param name="images">batch x InputLength pixels.</param>
    /// <param name="tokens">batch x ContextLength ids.</param>
    /// <exception cref="ArgumentException">Shapes disagree, or inputs are invalid for a tower.</exception>
    public (MatrixView Image, MatrixView Text) Forward(MatrixView images, ReadOnlySpan<int> tokens)
    {
        int batch = images.Rows;
        Guard.Positive(batch, nameof(images));
        if (!(tokens.Length == batch * TextEncoder.ContextLength))
        {
            Guard.ThrowArgument(nameof(tokens), $"has {tokens.Length} ids but {batch} images need {batch * TextEncoder.ContextLength}");
        }
        EnsureCapacity(batch);
        _batch = batch;
        _activationsOverwritten = false;
        _imageRaw = ImageEncoder.Forward(images);
        _textRaw = TextEncoder.Forward(tokens, batch);
        MatrixView zi = View(_imageNormalized, batch);
        MatrixView zt = View(_textNormalized, batch);
        StableMath.L2NormalizeRows(_imageRaw, zi, _imageNorms.AsSpan(0, batch));
        StableMath.L2NormalizeRows(_textRaw, zt, _textNorms.AsSpan(0, batch));
        return (zi, zt);
    }

    /// <summary>
    /// Back-propagates dL/dz_img, dL/dz_txt (gradients w.r.t. the normalised embeddings of the last
    /// <see cref="Forward"/>), dL/dt and dL/dc; accumulates (+=) into every parameter's gradient.
    /// </summary>
    /// <exception cref="ArgumentException">Gradient shapes differ from the last forward, or a value is not finite.</exception>
    /// <exception cref="InvalidOperationException">
    /// No forward pass has run, or a user tower without an inference twin ran an encode-only call after the last
    /// <see cref="Forward"/> (its saved activations were overwritten; call <see cref="Forward"/> again).
    /// </exception>
    public void Backward(MatrixView imageGradient, MatrixView textGradient, float logScaleGradient, float biasGradient)
    {
        if (_batch == 0)
        {
            throw new InvalidOperationException("Call Forward before Backward.");
        }

        if (_activationsOverwritten)
        {
            throw new InvalidOperationException("EncodeImages/EncodeTexts ran after Forward on a user tower that shares its activation buffers with training, so the activations Backward needs were overwritten; call Forward again before Backward (or encode before Forward).");
        }

        Guard.Finite(logScaleGradient);
        Guard.Finite(biasGradient);
        int batch = _batch;
        imageGradient.EnsureShape(batch, EmbeddingDimension, nameof(imageGradient));
        textGradient.EnsureShape(batch, EmbeddingDimension, nameof(textGradient));
        if (_dImageRaw.Length < _capacity * EmbeddingDimension)
        {
            _dImageRaw = new float[_capacity * EmbeddingDimension];
            _dTextRaw = new float[_capacity * EmbeddingDimension];
        }

        MatrixView dImage = View(_dImageRaw, batch);
        MatrixView dText = View(_dTextRaw, batch);
        StableMath.L2NormalizeRowsBackward(View(_imageNormalized, batch), _imageNorms.AsSpan(0, batch), imageGradient, dImage);
        StableMath.L2NormalizeRowsBackward(View(_textNormalized, batch), _textNorms.AsSpan(0, batch), textGradient, dText);
        ImageEncoder.Backward(dImage);
        TextEncoder.Backward(dText);
        LogScale.Gradient[0] += logScaleGradient;
        Bias.Gradient[0] += biasGradient;
    }

    /// <summary>
    /// Back-propagates a loss result: dL/dz_img and dL/dz_txt (the gradient views the loss wrote, for the embeddings of
    /// the last <see cref="Forward"/>) and the loss's <see cref="LogitGradients"/> (<c>LossResult.LogitGradients</c>,
    /// <c>CombinedResult.LogitGradients</c>, ...), of which <c>t</c> receives <see cref="LogitGradients.LogScale"/> and
    /// <c>c</c> receives <see cref="LogitGradients.Bias"/>. Accumulates (+=) into every parameter's gradient.
    /// </summary>
    /// <exception cref="ArgumentException">Gradient shapes differ from the last forward.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A scalar gradient is not finite in single precision.</exception>
    /// <exception cref="InvalidOperationException">As <see cref="Backward(MatrixView, MatrixView, float, float)"/>.</exception>
    public void Backward(MatrixView imageGradient, MatrixView textGradient, LogitGradients logitGradients)
    {
        float dt = (float)logitGradients.LogScale;
        float dc = (float)logitGradients.Bias;
        if (!float.IsFinite(dt) || !float.IsFinite(dc))
        {
            Guard.ThrowOutOfRange(nameof(logitGradients), logitGradients, "must hold a dL/dt and dL/dc that are finite in single precision; the loss diverged (lower the learning rate or check the inputs)");
        }

        Backward(imageGradient, textGradient, dt, dc);
    }

    /// <summary>Sets every parameter gradient to zero.</summary>
    public void ZeroGradients()
    {
        if (!TowerPasses.Parallel)
        {
            foreach (Parameter p in _parameters)
            {
                p.ZeroGradient();
            }

            return;
        }

        // The gradients in chunks of at most 2^15 floats, cleared on the pool.
        if (_gradientChunks is null)
        {
            const int ChunkFloats = 1 << 15;
            var chunks = new List<(float[], int, int)>();
            long floats = 0;
            foreach (Parameter p in _parameters)
            {
                for (int start = 0; start < p.Gradient.Length; start += ChunkFloats)
                {
                    chunks.Add((p.Gradient, start, Math.Min(ChunkFloats, p.Gradient.Length - start)));
                }

                floats += p.Gradient.Length;
            }

            _gradientChunks = chunks.ToArray();
            _gradientFloats = floats;
        }

        TowerPasses.Run(_gradientChunks.Length, 1, _gradientFloats, new ChunkClearPass(_gradientChunks));
    }

    /// <summary>Clamps <c>t</c> to [0, ln 100]; call after every optimizer step.</summary>
    public void ClampLogScale() => LogScale.Value[0] = Math.Clamp(LogScale.Value[0], 0f, MaxLogScale);

    /// <summary>
    /// Encode-only: L2-normalised image embeddings for every row of <paramref name="images"/>, computed in batches of
    /// <paramref name="batchSize"/> (no gradient buffers are allocated), written to <paramref name="destination"/>.
    /// </summary>
    /// <remarks>
    /// Runs on inference buffers separate from the training activations (this package's towers build an inference
    /// twin over the same parameters on first use), so it may be called between <see cref="Forward"/> and
    /// <see cref="Backward(MatrixView, MatrixView, float, float)"/> without changing the gradients. A user tower
    /// (<see cref="IImageEncoder"/>) has only one set of buffers: then the encode overwrites the training activations
    /// and the next <c>Backward</c> throws instead of returning wrong gradients.
    /// </remarks>
    /// <exception cref="ArgumentException">Destination shape is not images.Rows x EmbeddingDimension.</exception>
    public void EncodeImages(MatrixView images, MatrixView destination, int batchSize = 256)
    {
        Guard.Positive(batchSize);
        destination.EnsureShape(images.Rows, EmbeddingDimension, nameof(destination));
        IImageEncoder encoder = InferenceImageEncoder();
        for (int start = 0; start < images.Rows; start += batchSize)
        {
            int count = Math.Min(batchSize, images.Rows - start);
            MatrixView raw = encoder.Forward(images.RowRange(start, count));
            NormalizeInto(raw, destination.RowRange(start, count));
        }
    }

    /// <summary>
    /// Encode-only: L2-normalised text embeddings of the captions in <paramref name="tokens"/> (captions x
    /// ContextLength ids, flat), one row of <paramref name="destination"/> each, computed in batches of
    /// <paramref name="batchSize"/>.
    /// </summary>
    /// <remarks>Uses inference buffers as <see cref="EncodeImages"/> does.</remarks>
    /// <exception cref="ArgumentException">The id count is not a whole number of captions, or the destination is not captions x EmbeddingDimension.</exception>
    public void EncodeTexts(ReadOnlySpan<int> tokens, MatrixView destination, int batchSize = 256)
    {
        Guard.Positive(batchSize);
        int t = TextEncoder.ContextLength;
        if (tokens.Length % t != 0)
        {
            Guard.ThrowArgument(nameof(tokens), $"has {tokens.Length} ids, not a whole number of captions of ContextLength {t}");
        }

        int count = tokens.Length / t;
        destination.EnsureShape(count, EmbeddingDimension, nameof(destination));
        ITextEncoder encoder = InferenceTextEncoder();
        for (int start = 0; start < count; start += batchSize)
        {
            int n = Math.Min(batchSize, count - start);
            MatrixView raw = encoder.Forward(tokens.Slice(start * t, n * t), n);
            NormalizeInto(raw, destination.RowRange(start, n));
        }
    }

    private IImageEncoder InferenceImageEncoder()
    {
        if (_inferenceImage is null && ImageEncoder is IInferenceTwin<IImageEncoder> twin)
        {
            _inferenceImage = twin.CreateInferenceTwin();
        }

        _activationsOverwritten |= _inferenceImage is null && _batch > 0;
        return _inferenceImage ?? ImageEncoder;
    }

    private ITextEncoder InferenceTextEncoder()
    {
        if (_inferenceText is null && TextEncoder is IInferenceTwin<ITextEncoder> twin)
        {
            _inferenceText = twin.CreateInferenceTwin();
        }

        _activationsOverwritten |= _inferenceText is null && _batch > 0;
        return _inferenceText ?? TextEncoder;
    }

    private static void NormalizeInto(MatrixView raw, MatrixView destination)
    {
        // Same kernel as Forward, so cached embeddings equal training-time embeddings bit for bit.
        float[] norms = System.Buffers.ArrayPool<float>.Shared.Rent(raw.Rows);
        try
        {
            StableMath.L2NormalizeRows(raw, destination, norms.AsSpan(0, raw.Rows));
        }
        finally
        {
            System.Buffers.ArrayPool<float>.Shared.Return(norms);
        }
    }

    private static TwoTowerConfig Validate(TwoTowerConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return config.Validated();
    }

    private void AddParameter(Parameter p, HashSet<string> names)
    {
        if (!(names.Add(p.Name)))
        {
            Guard.ThrowArgument(nameof(p), $"parameter name '{p.Name}' appears twice; give the towers distinct prefixes");
        }
        _parameters.Add(p);
    }

    private void EnsureCapacity(int batch)
    {
        if (batch <= _capacity)
        {
            return;
        }

        _imageNormalized = new float[batch * EmbeddingDimension];
        _textNormalized = new float[batch * EmbeddingDimension];
        _imageNorms = new float[batch];
        _textNorms = new float[batch];
        if (_dImageRaw.Length > 0)
        {
            _dImageRaw = new float[batch * EmbeddingDimension];
            _dTextRaw = new float[batch * EmbeddingDimension];
        }

        _capacity = batch;
    }

    private MatrixView View(float[] array, int batch) => new(array, 0, batch, EmbeddingDimension, EmbeddingDimension);
}
