using System;
using Aced.Core;
using Aced.Models.Training;

namespace Aced.Models.Tests;

/// <summary>
/// AdamW's passes on the worker pool (<see cref="AdamW.ParallelUpdate"/>, step12) against the serial form: the
/// parameters, both moments, the (clipped) gradients and the measured norm are identical bit for bit at 1, 2 and 3
/// threads, with and without clipping, with parameters that span several chunks and end in a partial vector; and the
/// real training step with the switch on and off.
/// </summary>
[Collection(GemmProviderCollection.Name)]
public sealed class AdamWParallelTests
{
    /// <summary>Parameters of odd sizes (chunk boundaries, vector tails), weights and biases, 2^17 elements and more in all.</summary>
    private static Parameter[] MakeParameters(ulong seed)
    {
        (string Name, int[] Shape, ParameterKind Kind)[] specs =
        [
            ("bias", [7], ParameterKind.Bias),
            ("table", [1031, 97], ParameterKind.Embedding),
            ("scale", [130], ParameterKind.Norm),
            ("w", [65536 + 13], ParameterKind.Weight),
            ("b2", [32768], ParameterKind.Bias),
            ("tiny", [1], ParameterKind.Weight),
        ];
        var parameters = new Parameter[specs.Length];
        for (int i = 0; i < specs.Length; i++)
        {
            parameters[i] = new Parameter(specs[i].Name, specs[i].Shape, specs[i].Kind);
            TestData.Random(parameters[i].Length, seed + (ulong)i).CopyTo(parameters[i].Value, 0);
        }

        return parameters;
    }

    private static (float[][] State, double[] Norms) Run(bool parallel, int threads, float maxNorm, float gradientScale)
    {
        bool saved = AdamW.ParallelUpdate;
        int savedThreads = AcedControl.MaxDegreeOfParallelism;
        try
        {
            AdamW.ParallelUpdate = parallel;
            AcedControl.MaxDegreeOfParallelism = threads;
            Parameter[] parameters = MakeParameters(5);
            var optimizer = new AdamW(parameters, new AdamWOptions { MaxGradientNorm = maxNorm });
            var norms = new double[3];
            for (int step = 0; step < norms.Length; step++)
            {
                for (int i = 0; i < parameters.Length; i++)
                {
                    TestData.Random(parameters[i].Length, 100 + (ulong)(step * 10) + (ulong)i, gradientScale).CopyTo(parameters[i].Gradient, 0);
                }

                optimizer.Update(new ConstantSchedule(1e-2f));
                norms[step] = optimizer.LastGradientNorm;
            }

            var state = new float[parameters.Length * 4][];
            for (int i = 0; i < parameters.Length; i++)
            {
                state[4 * i] = parameters[i].Value;
                state[(4 * i) + 1] = parameters[i].Gradient;
                state[(4 * i) + 2] = optimizer.FirstMoment(i);
                state[(4 * i) + 3] = optimizer.SecondMoment(i);
            }

            return (state, norms);
        }
        finally
        {
            AdamW.ParallelUpdate = saved;
            AcedControl.MaxDegreeOfParallelism = savedThreads;
        }
    }

    [Theory]
    [InlineData(1f, 1f)] // norms ~300: every step clips
    [InlineData(0f, 1f)] // no clipping
    [InlineData(1e6f, 1e-3f)] // below the bound: not clipped
    public void Update_ParallelOnOrOff_BitIdenticalForAnyThreadCount(float maxNorm, float gradientScale)
    {
        (float[][] expected, double[] expectedNorms) = Run(parallel: false, threads: 1, maxNorm, gradientScale);
        foreach (int threads in new[] { 1, 2, 3 })
        {
            (float[][] actual, double[] norms) = Run(parallel: true, threads, maxNorm, gradientScale);
            Assert.Equal(expectedNorms, norms);
            for (int i = 0; i < expected.Length; i++)
            {
                Assert.Equal(expected[i], actual[i]);
            }
        }
    }

    [Fact]
    public void Training_ParallelUpdateOnAndOff_AreBitIdenticalForAnyThreadCount()
    {
        bool saved = AdamW.ParallelUpdate;
        try
        {
            TestTrainer.AssertSwitchIsBitIdenticalForAnyThreadCount(AttentionFusedTests.ReferenceWidths, on => AdamW.ParallelUpdate = on);
        }
        finally
        {
            AdamW.ParallelUpdate = saved;
        }
    }
}
