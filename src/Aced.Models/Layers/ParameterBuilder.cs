using System;
using System.Collections.Generic;
using Aced.Core;

namespace Aced.Models.Layers;

/// <summary>How a parameter is initialised.</summary>
internal enum InitKind
{
    /// <summary>All zeros.</summary>
    Zeros,

    /// <summary>All ones.</summary>
    Ones,

    /// <summary>Uniform in [-a, a], a = sqrt(6 / (fanIn + fanOut)) (Glorot / Xavier uniform).</summary>
    XavierUniform,

    /// <summary>Normal with mean 0 and the given standard deviation.</summary>
    Normal,
}

/// <summary>
/// Creates named parameters, initialises each from its own <see cref="CounterRng"/> stream (the FNV-1a hash of its
/// name under the model seed) so initialisation never depends on construction order or thread count.
/// </summary>
internal sealed class ParameterBuilder
{
    private readonly IReadOnlyList<Parameter>? _shared;
    private int _next;

    public ParameterBuilder(ulong seed, List<Parameter> parameters)
    {
        Seed = seed;
        Parameters = parameters;
    }

    private ParameterBuilder(IReadOnlyList<Parameter> shared, List<Parameter> parameters)
    {
        _shared = shared;
        Parameters = parameters;
    }

    /// <summary>
    /// A builder that creates nothing: every <see cref="Add"/> returns the next parameter of <paramref name="shared"/>
    /// (checked by name and shape), so a second layer stack built with it shares every value and gradient array with
    /// the first while owning its own activation buffers (the inference twin of a tower).
    /// </summary>
    public static ParameterBuilder Sharing(IReadOnlyList<Parameter> shared, List<Parameter> parameters) => new(shared, parameters);

    public ulong Seed { get; }

    public List<Parameter> Parameters { get; }

    /// <summary>Adds a parameter with an initialiser; for Xavier the fan-in/out default to the first and last dimension.</summary>
    public Parameter Add(string name, int[] shape, ParameterKind kind, InitKind init, float std = 0f, int fanIn = 0, int fanOut = 0)
    {
        if (_shared is not null)
        {
            return Share(name, shape);
        }

        foreach (Parameter existing in Parameters)
        {
            if (existing.Name == name)
            {
                throw new InvalidOperationException($"Duplicate parameter name '{name}'.");
            }
        }

        var p = new Parameter(name, shape, kind);
        var rng = new CounterRng(Seed, StreamOf(name));
        switch (init)
        {
            case InitKind.Ones:
                Array.Fill(p.Value, 1f);
                break;
            case InitKind.XavierUniform:
            {
                int fi = fanIn > 0 ? fanIn : shape[0];
                int fo = fanOut > 0 ? fanOut : shape[^1];
                float limit = MathF.Sqrt(6f / (fi + fo));
                for (int i = 0; i < p.Length; i++)
                {
                    p.Value[i] = ((2f * rng.NextFloat()) - 1f) * limit;
                }

                break;
            }

            case InitKind.Normal:
                for (int i = 0; i < p.Length; i++)
                {
                    p.Value[i] = std * rng.NextNormal();
                }

                break;
        }

        Parameters.Add(p);
        return p;
    }

    private Parameter Share(string name, int[] shape)
    {
        Parameter p = _next < _shared!.Count ? _shared[_next] : throw new InvalidOperationException($"The shared parameter list has no entry for '{name}'.");
        if (p.Name != name || !p.Shape.AsSpan().SequenceEqual(shape))
        {
            throw new InvalidOperationException($"Shared parameter {_next} is '{p.Name}', expected '{name}' of the same shape.");
        }

        _next++;
        Parameters.Add(p);
        return p;
    }

    /// <summary>64-bit FNV-1a hash of the name: the RNG stream of that parameter.</summary>
    public static ulong StreamOf(string name)
    {
        ulong hash = 14695981039346656037UL;
        foreach (char ch in name)
        {
            hash ^= ch;
            hash *= 1099511628211UL;
        }

        return hash;
    }
}
