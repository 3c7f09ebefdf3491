using System;
using System.Collections.Generic;
using System.Numerics.Tensors;
using Aced.Core;
using Aced.Models.Layers;

namespace Aced.Models;

/// <summary>
/// ViT image tower: patchify, linear patch embedding plus learned position embedding, pre-LN transformer blocks,
/// final layer norm, pooling (<see cref="VisionTransformerConfig.Pooling"/>) and a linear projection to the
/// embedding width. Activations are allocated once for the largest batch seen; activation gradients only on the
/// first <see cref="Backward"/>, so an encode-only tower holds no gradient buffers for activations.
/// </summary>
/// <remarks>
/// Initialisation (big_vision style): dense kernels Glorot-uniform (the fused QKV kernel uses the fan-out of one of
/// Q, K, V), biases zero, layer-norm scale one and shift zero, position embedding normal with std 1/sqrt(D), patch
/// embedding Glorot-uniform over (patch pixels, D). Each tensor draws from its own <see cref="CounterRng"/> stream.
/// </remarks>
public sealed class VisionTransformer : IImageEncoder, IInferenceTwin<IImageEncoder>
{
    private readonly List<Parameter> _parameters = [];
    private readonly string _prefix;
    private readonly Parameter _patchWeight;
    private readonly Parameter _patchBias;
    private readonly Parameter _position;
    private readonly TransformerEncoder _encoder;
    private readonly PooledProjectionHead _head;
    private int _capacity;
    private int _batch;
    private float[] _patches = [];
    private int[] _last = [];
    private readonly int[] _nonFinite = new int[1];

    /// <summary>Creates the tower with parameters initialised from <paramref name="seed"/>.</summary>
    /// <param name="config">Shape; validated.</param>
    /// <param name="seed">Initialisation seed.</param>
    /// <param name="prefix">Prefix of every parameter name.</param>
    /// <exception cref="ArgumentException">Invalid config.</exception>
    public VisionTransformer(VisionTransformerConfig config, ulong seed, string prefix = "image")
        : this(config, seed, prefix, null)
    {
    }

    private VisionTransformer(VisionTransformerConfig config, ulong seed, string prefix, IReadOnlyList<Parameter>? shared)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(prefix);
        Config = config.Validated();
        _prefix = prefix;
        ParameterBuilder builder = shared is null ? new ParameterBuilder(seed, _parameters) : ParameterBuilder.Sharing(shared, _parameters);
        int d = config.Width;
        int patchLength = config.PatchSize * config.PatchSize * config.Channels;
        _patchWeight = builder.Add($"{prefix}.patch.weight", [patchLength, d], ParameterKind.Weight, InitKind.XavierUniform);
        _patchBias = builder.Add($"{prefix}.patch.bias", [d], ParameterKind.Bias, InitKind.Zeros);
        _position = builder.Add($"{prefix}.position", [config.Tokens, d], ParameterKind.Embedding, InitKind.Normal, std: 1f / MathF.Sqrt(d));
        _encoder = new TransformerEncoder(prefix, d, config.Depth, config.Heads, config.MlpWidth, config.Tokens, causal: false, builder);
        _head = new PooledProjectionHead(prefix, config.Pooling, d, config.Heads, config.EmbeddingDimension, builder);
    }

    /// <summary>
    /// A tower over the same <see cref="Parameter"/> objects (values and gradients shared) with its own activation
    /// buffers, so encoding with it leaves this tower's saved activations intact.
    /// </summary>
    IImageEncoder IInferenceTwin<IImageEncoder>.CreateInferenceTwin() => new VisionTransformer(Config, 0, _prefix, _parameters);

    /// <summary>The tower's shape.</summary>
    public VisionTransformerConfig Config { get; }

    /// <inheritdoc/>
    public int EmbeddingDimension => Config.EmbeddingDimension;

    /// <inheritdoc/>
    public int InputLength => Config.InputLength;

    /// <inheritdoc/>
    public IReadOnlyList<Parameter> Parameters => _parameters;

    /// <inheritdoc/>
    /// <exception cref="ArgumentException">Wrong row length, or a NaN/infinite pixel.</exception>
    public MatrixView Forward(MatrixView images)
    {
        if (!(images.Columns == InputLength))
        {
            Guard.ThrowArgument(nameof(images), $"has {images.Columns} columns but this tower takes {InputLength} floats per image ({Config.ImageSize}x{Config.ImageSize}x{Config.Channels})");
        }
        Guard.Positive(images.Rows, nameof(images));
        int batch = images.Rows;
        CheckFinite(images);

        EnsureCapacity(batch);
        _batch = batch;
        int t = Config.Tokens;
        int n = batch * t;
        int d = Config.Width;
        MatrixView patches = View(_patches, n, _patchWeight.Shape[0]);
        Patchify(images, patches);
        MatrixView x = _encoder.Input(batch);
        Linear.Forward(patches, _patchWeight.AsMatrix(_patchWeight.Shape[0]), _patchBias.Value, x);
        TowerPasses.Run(batch, TowerPasses.Chunk(batch, 1), (long)n * d, new PositionAddPass(x.Array, _position.Value, t * d));

        MatrixView tokens = _encoder.Forward(batch, _head.PooledRows(batch, t, LastIndices(batch)));
        return _head.Forward(tokens, batch, t, LastIndices(batch));
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
        int t = Config.Tokens;
        int d = Config.Width;
        int n = batch * t;
        MatrixView dTokens = _head.Backward(_encoder.Output(batch), batch, t, LastIndices(batch), embeddingGradient);
        MatrixView dx = _encoder.Backward(batch, dTokens);

        // Position embedding: sum over examples in example order (split by the sum's columns); patch embedding through
        // the GEMM.
        if (TowerPasses.Parallel)
        {
            TowerPasses.Run(t * d, TowerPasses.Chunk(t * d, 256), (long)n * d, new PositionSumPass(_position.Gradient, dx.Array, batch, t * d));
        }
        else
        {
            // The serial form (the same bits; tests pin the pool form to it).
            for (int e = 0; e < batch; e++)
            {
                TensorPrimitives.Add(_position.Gradient, dx.Array.AsSpan(e * t * d, t * d), _position.Gradient);
            }
        }

        int patchLength = _patchWeight.Shape[0];
        Linear.Backward(View(_patches, n, patchLength), _patchWeight.AsMatrix(patchLength), dx, default, false, _patchWeight.GradientAsMatrix(patchLength), Linear.RowView(_patchBias.Gradient));
    }

    private void EnsureCapacity(int batch)
    {
        if (batch <= _capacity)
        {
            return;
        }

        int t = Config.Tokens;
        _patches = new float[batch * t * _patchWeight.Shape[0]];
        _last = new int[batch];
        Array.Fill(_last, t - 1);
        _encoder.EnsureCapacity(batch);
        _head.EnsureCapacity(batch, t);
        _capacity = batch;
    }

    private ReadOnlySpan<int> LastIndices(int batch) => _last.AsSpan(0, batch);

    /// <summary>Throws as <see cref="Guard.AllFinite"/> on the first image (in row order) with a NaN or infinity.</summary>
    private void CheckFinite(MatrixView images)
    {
        _nonFinite[0] = 0;
        int batch = images.Rows;
        TowerPasses.Run(batch, TowerPasses.Chunk(batch, 1), (long)batch * images.Columns, new FiniteCheckPass(images, _nonFinite));
        if (_nonFinite[0] != 0)
        {
            // The serial check finds the first bad image and throws its message.
            for (int i = 0; i < batch; i++)
            {
                Guard.AllFinite(images.Row(i), nameof(images));
            }
        }
    }

    private void Patchify(MatrixView images, MatrixView patches)
    {
        int batch = images.Rows;
        TowerPasses.Run(batch, TowerPasses.Chunk(batch, 1), 2L * patches.Rows * patches.Columns, new PatchifyPass(images, patches, Config));
    }

    /// <summary>Sets the flag when an image of the range has a NaN or infinity.</summary>
    private readonly struct FiniteCheckPass(MatrixView images, int[] flag) : IRangePass
    {
        public void Run(int start, int end)
        {
            for (int e = start; e < end; e++)
            {
                if (Guard.IndexOfNonFinite(images.Row(e)) >= 0)
                {
                    System.Threading.Volatile.Write(ref flag[0], 1);
                }
            }
        }
    }

    /// <summary>The patches of the images of the range, row-major patch pixels (py, px, channel).</summary>
    private readonly struct PatchifyPass(MatrixView images, MatrixView patches, VisionTransformerConfig config) : IRangePass
    {
        public void Run(int start, int end)
        {
            int s = config.ImageSize;
            int p = config.PatchSize;
            int c = config.Channels;
            int grid = s / p;
            int t = config.Tokens;
            for (int e = start; e < end; e++)
            {
                Span<float> image = images.Row(e);
                for (int gy = 0; gy < grid; gy++)
                {
                    for (int gx = 0; gx < grid; gx++)
                    {
                        Span<float> dst = patches.Row((e * t) + (gy * grid) + gx);
                        for (int py = 0; py < p; py++)
                        {
                            image.Slice((((gy * p) + py) * s * c) + (gx * p * c), p * c).CopyTo(dst.Slice(py * p * c, p * c));
                        }
                    }
                }
            }
        }
    }

    private static MatrixView View(float[] array, int rows, int columns) => new(array, 0, rows, columns, columns);
}
