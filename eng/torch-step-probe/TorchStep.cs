using System;
using System.Collections.Generic;
using System.Diagnostics;
using Aced.Core;
using Aced.Models;
using Aced.Models.Training;
using Aced.TorchSharp.Losses;
using Aced.TorchSharp.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Aced.TorchStepProbe;

/// <summary>
/// The managed training step (<c>TrainingStepBenchmarks.TrainingStep</c>) on CPU libtorch: a
/// <see cref="TorchTwoTowerModel"/> with the managed model's initial weights, forward, <see cref="TorchLosses.SigmoidContrastive"/>,
/// autograd backward, global gradient-norm clipping, <c>torch.optim.AdamW</c> with the managed <see cref="AdamWOptions"/>
/// and the log-scale clamp. The hyper-parameters are mapped so both sides follow the same trajectory: Aced decays
/// <c>p -= wd * p</c> (not scaled by the learning rate) on weight matrices only, torch's AdamW <c>p *= 1 - lr * wd'</c>,
/// so the weight-matrix group gets <c>wd' = wd / lr</c> and the other group none.
/// </summary>
internal sealed class TorchStep : IDisposable
{
    private readonly TorchTwoTowerModel _model;
    private readonly global::TorchSharp.Modules.AdamW _optimizer;
    private readonly List<global::TorchSharp.Modules.Parameter> _parameters = new();
    private readonly AdamWOptions _options = new();
    private readonly Tensor _images;
    private readonly Tensor _tokens;
    private readonly Func<Tensor, Tensor, (Tensor Image, Tensor Text)> _forward;
    private (double Forward, double Backward, double Update) _phases;
    private int _steps;

    /// <summary>
    /// Builds the torch model from <paramref name="initial"/>'s weights and the step's batch; the forward is
    /// Aced.TorchSharp's towers, or <see cref="FusedTowers"/> when <paramref name="fused"/>.
    /// </summary>
    public TorchStep(TwoTowerModel initial, TwoTowerConfig config, Matrix images, int[] tokens, float learningRate, bool fused)
    {
        _model = new TorchTwoTowerModel(config, 1);
        _model.CopyFrom(initial);
        _forward = fused ? new FusedTowers(_model).Forward : _model.Forward;
        var decayed = new HashSet<string>(StringComparer.Ordinal);
        foreach (Aced.Models.Parameter p in initial.Parameters)
        {
            if (p.Kind == ParameterKind.Weight)
            {
                decayed.Add(p.Name.Replace('.', '_'));
            }
        }

        var weights = new List<global::TorchSharp.Modules.Parameter>();
        var others = new List<global::TorchSharp.Modules.Parameter>();
        foreach ((string name, global::TorchSharp.Modules.Parameter parameter) in _model.named_parameters())
        {
            _parameters.Add(parameter);
            (decayed.Contains(name[(name.LastIndexOf('.') + 1)..]) ? weights : others).Add(parameter);
        }

        if (weights.Count != decayed.Count)
        {
            throw new InvalidOperationException($"{weights.Count} of the {decayed.Count} weight matrices were found among the torch parameters");
        }

        var groups = new[]
        {
            new global::TorchSharp.Modules.AdamW.ParamGroup(weights, learningRate, _options.Beta1, _options.Beta2, _options.Epsilon, _options.WeightDecay / learningRate, false, false),
            new global::TorchSharp.Modules.AdamW.ParamGroup(others, learningRate, _options.Beta1, _options.Beta2, _options.Epsilon, 0, false, false),
        };
        _optimizer = torch.optim.AdamW(groups, learningRate);
        _images = torch.tensor(images.Data, new long[] { images.Rows, images.Columns });
        long[] wide = new long[tokens.Length];
        for (int i = 0; i < wide.Length; i++)
        {
            wide[i] = tokens[i];
        }

        _tokens = torch.tensor(wide, new long[] { images.Rows, tokens.Length / images.Rows });
    }

    /// <summary>Parameter count (elements) of the torch model.</summary>
    public long ParameterCount
    {
        get
        {
            long count = 0;
            foreach (global::TorchSharp.Modules.Parameter p in _parameters)
            {
                count += p.numel();
            }

            return count;
        }
    }

    /// <summary>Mean seconds of forward + loss, backward, and clip + AdamW + clamp over the steps since <see cref="ResetPhases"/>.</summary>
    public (double Forward, double Backward, double Update) MeanPhases =>
        _steps == 0 ? default : (_phases.Forward / _steps, _phases.Backward / _steps, _phases.Update / _steps);

    /// <summary>Starts a new <see cref="MeanPhases"/> average.</summary>
    public void ResetPhases()
    {
        _phases = default;
        _steps = 0;
    }

    /// <summary>The embeddings of the current weights (no gradient), copied to the host.</summary>
    public (float[] Image, float[] Text, long[] Shape) Embed()
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        (Tensor zi, Tensor zt) = _forward(_images, _tokens);
        return (zi.contiguous().data<float>().ToArray(), zt.contiguous().data<float>().ToArray(), zi.shape);
    }

    /// <summary>One training step; returns the loss before the update.</summary>
    public float Step()
    {
        using var scope = torch.NewDisposeScope();
        long t0 = Stopwatch.GetTimestamp();
        _optimizer.zero_grad();
        (Tensor zi, Tensor zt) = _forward(_images, _tokens);
        Tensor loss = TorchLosses.SigmoidContrastive(zi, zt, _model.Logits);
        long t1 = Stopwatch.GetTimestamp();
        loss.backward();
        long t2 = Stopwatch.GetTimestamp();
        torch.nn.utils.clip_grad_norm_(_parameters, _options.MaxGradientNorm);
        _optimizer.step();
        using (torch.no_grad())
        {
            _model.LogScale.clamp_(0f, TwoTowerModel.MaxLogScale);
        }

        long t3 = Stopwatch.GetTimestamp();
        _phases = (_phases.Forward + Seconds(t0, t1), _phases.Backward + Seconds(t1, t2), _phases.Update + Seconds(t2, t3));
        _steps++;
        return loss.ToSingle();
    }

    public void Dispose()
    {
        _optimizer.Dispose();
        _model.Dispose();
        _images.Dispose();
        _tokens.Dispose();
    }

    private static double Seconds(long from, long to) => (to - from) / (double)Stopwatch.Frequency;
}

/// <summary>libtorch's own square SGEMM (<c>torch.mm</c>, MKL in the NuGet libtorch), the same operands as the benchmark's.</summary>
internal sealed class TorchSgemm : IDisposable
{
    private readonly Tensor _a;
    private readonly Tensor _b;

    public TorchSgemm(int n)
    {
        _a = torch.full(n, n, 0.5f);
        _b = torch.full(n, n, 0.25f);
    }

    public void Multiply()
    {
        using Tensor c = _a.mm(_b);
    }

    public void Dispose()
    {
        _a.Dispose();
        _b.Dispose();
    }
}
