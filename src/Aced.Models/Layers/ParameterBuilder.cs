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
    public ParameterBuilder(ulong seed, List<Parameter> parameters)
    {
        Seed = seed;
        Parameters = parameters;
    }

    public ulong Seed { get; }

    public List<Parameter> Parameters { get; }

    /// <summary>Adds a parameter with an initialiser; for Xavier the fan-in/out default to the first and last dimension.</summary>
    public Parameter Add(string name, int[] shape, ParameterKind kind, InitKind init, float std = 0f, int fanIn = 0, int fanOut = 0)
    {
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
