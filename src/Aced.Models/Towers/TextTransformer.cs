using System;
using System.Collections.Generic;
using System.Numerics.Tensors;
using Aced.Core;
using Aced.Models.Layers;

namespace Aced.Models;

/// <summary>
/// BERT-style transformer text tower: token embedding plus learned position embedding, pre-LN blocks (bidirectional
/// unless <see cref="TextTransformerConfig.Causal"/>), final layer norm, pooling and a linear projection. As in
/// big_vision, padding tokens are not masked out of attention; they are ordinary (learned) tokens.
/// </summary>
/// <remarks>
/// Initialisation: token embedding normal with std 1/sqrt(D), position embedding normal with std 1/sqrt(D), dense
/// kernels Glorot-uniform, biases zero, layer-norm scale one and shift zero; one <see cref="CounterRng"/> stream per
/// tensor.
/// </remarks>
public sealed class TextTransformer : ITextEncoder, IInferenceTwin<ITextEncoder>
{
    private readonly List<Parameter> _parameters = [];
    private readonly string _prefix;
    private readonly Parameter _tokenEmbedding;
    private readonly Parameter _position;
    private readonly TransformerEncoder _encoder;
    private readonly PooledProjectionHead _head;
    private int _capacity;
    private int _batch;
    private int[] _tokens = [];
    private int[] _last = [];

    /// <summary>Creates the tower with parameters initialised from <paramref name="seed"/>.</summary>
    /// <param name="config">Shape; validated.</param>
    /// <param name="seed">Initialisation seed.</param>
    /// <param name="prefix">Prefix of every parameter name.</param>
    /// <exception cref="ArgumentException">Invalid config.</exception>
    public TextTransformer(TextTransformerConfig config, ulong seed, string prefix = "text")
        : this(config, seed, prefix, null)
    {
    }

    private TextTransformer(TextTransformerConfig config, ulong seed, string prefix, IReadOnlyList<Parameter>? shared)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(prefix);
        Config = config.Validated();
        _prefix = prefix;
        ParameterBuilder builder = shared is null ? new ParameterBuilder(seed, _parameters) : ParameterBuilder.Sharing(shared, _parameters);
        int d = config.Width;
        _tokenEmbedding = builder.Add($"{prefix}.token", [config.VocabularySize, d], ParameterKind.Embedding, InitKind.Normal, std: 1f / MathF.Sqrt(d));
        _position = builder.Add($"{prefix}.position", [config.ContextLength, d], ParameterKind.Embedding, InitKind.Normal, std: 1f / MathF.Sqrt(d));
        _encoder = new TransformerEncoder(prefix, d, config.Depth, config.Heads, config.MlpWidth, config.ContextLength, config.Causal, builder);
        _head = new PooledProjectionHead(prefix, config.Pooling, d, config.Heads, config.EmbeddingDimension, builder);
    }

    /// <summary>
    /// A tower over the same <see cref="Parameter"/> objects (values and gradients shared) with its own activation
    /// buffers, so encoding with it leaves this tower's saved activations intact.
    /// </summary>
    ITextEncoder IInferenceTwin<ITextEncoder>.CreateInferenceTwin() => new TextTransformer(Config, 0, _prefix, _parameters);

    /// <summary>The tower's shape.</summary>
    public TextTransformerConfig Config { get; }

    /// <inheritdoc/>
    public int EmbeddingDimension => Config.EmbeddingDimension;

    /// <inheritdoc/>
    public int ContextLength => Config.ContextLength;

    /// <inheritdoc/>
    public int VocabularySize => Config.VocabularySize;

    /// <inheritdoc/>
    public IReadOnlyList<Parameter> Parameters => _parameters;

    /// <inheritdoc/>
    /// <exception cref="ArgumentException">The token count is not batch x ContextLength, or an id is outside [0, VocabularySize).</exception>
    public MatrixView Forward(ReadOnlySpan<int> tokens, int batch)
    {
        Guard.Positive(batch);
        int t = Config.ContextLength;
        if (!(tokens.Length == batch * t))
        {
            Guard.ThrowArgument(nameof(tokens), $"has {tokens.Length} ids but {batch} captions of {t} tokens need {batch * t}");
        }
        int v = Config.VocabularySize;
        for (int i = 0; i < tokens.Length; i++)
        {
            if ((uint)tokens[i] >= (uint)v)
            {
                Guard.ThrowArgument(nameof(tokens), $"id {tokens[i]} at index {i} is outside [0, {v}); encode with a tokenizer whose vocabulary fits this tower");
            }
        }

        EnsureCapacity(batch);
        _batch = batch;
        int d = Config.Width;
        tokens.CopyTo(_tokens);
        for (int e = 0; e < batch; e++)
        {
            int last = 0;
            for (int j = 0; j < t; j++)
            {
                if (tokens[(e * t) + j] != Config.PadId)
                {
                    last = j;
                }
            }

            _last[e] = last;
        }

        MatrixView x = _encoder.Input(batch);
        int n = batch * t;
        TowerPasses.Run(n, TowerPasses.Chunk(n, 64), (long)n * d, new GatherPass(_tokenEmbedding.Value, _position.Value, _tokens, x, t));

        MatrixView encoded = _encoder.Forward(batch, _head.PooledRows(batch, t, _last.AsSpan(0, batch)));
        return _head.Forward(encoded, batch, t, _last.AsSpan(0, batch));
    }

    /// <inheritdoc/>
    /// <exception cref="ArgumentException">The gradient's shape differs from the last forward's output.</exception>
    /// <exception cref="InvalidOperationException">No forward pass has run.</exception>
    public void Backward(MatrixView embeddingGradient)
    {
        if (_batch == 0)
        {
            throw new InvalidOperationException("Call Forward before Backward.");
        }

        int batch = _batch;
        embeddingGradient.EnsureShape(batch, EmbeddingDimension, nameof(embeddingGradient));
        int t = Config.ContextLength;
        int d = Config.Width;
        int n = batch * t;
        MatrixView dTokens = _head.Backward(_encoder.Output(batch), batch, t, _last.AsSpan(0, batch), embeddingGradient);
        MatrixView dx = _encoder.Backward(batch, dTokens);

        // Embedding tables: scatter-add in row order (each destination row adds its terms in row order; the pool items
        // split the destination rows, never one row's terms).
        if (TowerPasses.Parallel)
        {
            // Items by destination: the token rows in classes of id mod tokenClasses, then the position rows in ranges.
            // The padding id's class is the largest item (a padded caption adds many rows into one row); the smaller
            // position items after it even out the threads.
            int threads = Math.Max(1, AcedControl.MaxDegreeOfParallelism);
            int tokenClasses = 2 * threads;
            int positionRanges = Math.Min(t, 4 * threads);
            var pass = new ScatterPass(_tokenEmbedding.Gradient, _position.Gradient, _tokens, dx, t, tokenClasses, positionRanges);
            TowerPasses.Run(tokenClasses + positionRanges, 1, 2L * n * d, pass);
            return;
        }

        // The serial form (the same bits; tests pin the pool form to it).
        float[] dTable = _tokenEmbedding.Gradient;
        float[] dPosition = _position.Gradient;
        for (int r = 0; r < n; r++)
        {
            Span<float> g = dx.Row(r);
            Span<float> tokenRow = dTable.AsSpan(_tokens[r] * d, d);
            TensorPrimitives.Add(tokenRow, g, tokenRow);
            Span<float> positionRow = dPosition.AsSpan((r % t) * d, d);
            TensorPrimitives.Add(positionRow, g, positionRow);
        }
    }

    /// <summary>x[r] = token embedding of token r + position embedding of r's position, for the rows of the range.</summary>
    private readonly struct GatherPass(float[] table, float[] position, int[] tokens, MatrixView x, int t) : IRangePass
    {
        public void Run(int start, int end)
        {
            int d = x.Columns;
            for (int r = start; r < end; r++)
            {
                TensorPrimitives.Add(table.AsSpan(tokens[r] * d, d), position.AsSpan((r % t) * d, d), x.Row(r));
            }
        }
    }

    /// <summary>
    /// The token and position tables' gradients += each row of dx, in row order, split by destination row: items
    /// [0, tokenClasses) add the rows whose token id is the item's class (id mod tokenClasses) into the token table,
    /// the next positionRanges items the rows of their range of positions into the position table. Every destination
    /// row adds its terms in row order, as the serial pass does, so any split gives the same bits.
    /// </summary>
    private readonly struct ScatterPass(float[] dTable, float[] dPosition, int[] tokens, MatrixView dx, int t, int tokenClasses, int positionRanges) : IRangePass
    {
        public void Run(int start, int end)
        {
            for (int item = start; item < end; item++)
            {
                if (item < tokenClasses)
                {
                    AddTokens(item);
                }
                else
                {
                    int range = item - tokenClasses;
                    AddPositions((int)((long)range * t / positionRanges), (int)((long)(range + 1) * t / positionRanges));
                }
            }
        }

        private void AddTokens(int tokenClass)
        {
            int d = dx.Columns;
            for (int r = 0; r < dx.Rows; r++)
            {
                if (tokens[r] % tokenClasses == tokenClass)
                {
                    Span<float> tokenRow = dTable.AsSpan(tokens[r] * d, d);
                    TensorPrimitives.Add(tokenRow, dx.Row(r), tokenRow);
                }
            }
        }

        private void AddPositions(int first, int last)
        {
            int d = dx.Columns;
            for (int r0 = 0; r0 < dx.Rows; r0 += t)
            {
                for (int j = first; j < last; j++)
                {
                    Span<float> positionRow = dPosition.AsSpan(j * d, d);
                    TensorPrimitives.Add(positionRow, dx.Row(r0 + j), positionRow);
                }
            }
        }
    }

    private void EnsureCapacity(int batch)
    {
        if (batch <= _capacity)
        {
            return;
        }

        int t = Config.ContextLength;
        _tokens = new int[batch * t];
        _last = new int[batch];
        _encoder.EnsureCapacity(batch);
        _head.EnsureCapacity(batch, t);
        _capacity = batch;
    }
}
