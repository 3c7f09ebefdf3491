using System;
using System.CommandLine;
using System.IO;
using System.Text.Json;
using Aced.Core;
using Aced.Models;
using Aced.Selection;
using Aced.TorchSharp.Losses;
using Aced.TorchSharp.Models;
using Aced.TorchSharp.Selection;
using TorchSharp;
using static TorchSharp.torch;

namespace Aced.TorchSharp.Sample;

/// <summary>
/// <c>aced-torch train</c>: the example a TorchSharp user copies. A reference model is trained on clean data, then a
/// student is trained with H-ACID selection (learnability scores from the student and the reference, joint sampler)
/// on a pool where a fraction of the captions is wrong; both are evaluated by image-to-text retrieval on clean
/// held-out pairs, next to a student trained on uniform (IID) batches for the same number of steps.
/// </summary>
public static class TrainCommand
{
    public sealed record Arguments
    {
        public int Steps { get; init; } = 150;
        public int ReferenceSteps { get; init; } = 150;
        public int SuperBatch { get; init; } = 160;
        public int Batch { get; init; } = 32;
        public double NoiseFraction { get; init; } = 0.5;
        public double LearningRate { get; init; } = 3e-3;
        public ulong Seed { get; init; } = 1;
        public string Device { get; init; } = "cpu";
        public string? Checkpoint { get; init; }
    }

    public static Command Create(TextWriter? stdout = null, TextWriter? stderr = null)
    {
        var steps = new Option<int>("--steps") { Description = "Student training steps.", DefaultValueFactory = _ => 150 };
        var referenceSteps = new Option<int>("--reference-steps") { Description = "Reference training steps (clean data).", DefaultValueFactory = _ => 150 };
        var superBatch = new Option<int>("--super-batch") { Description = "Super-batch size B scored per step.", DefaultValueFactory = _ => 160 };
        var batch = new Option<int>("--batch-size") { Description = "Trained sub-batch size b.", DefaultValueFactory = _ => 32 };
        var noise = new Option<double>("--noise") { Description = "Fraction of training captions replaced by a wrong one.", DefaultValueFactory = _ => 0.5 };
        var lr = new Option<double>("--lr") { Description = "AdamW learning rate.", DefaultValueFactory = _ => 3e-3 };
        var seed = new Option<ulong>("--seed") { Description = "Seed of data, initialisation and selection.", DefaultValueFactory = _ => 1UL };
        var device = new Option<string>("--device") { Description = "cpu | cuda (or cuda:N).", DefaultValueFactory = _ => "cpu" };
        var checkpoint = new Option<string?>("--checkpoint") { Description = "Write the ACID student as an Aced checkpoint (readable by the managed towers)." };
        var command = new Command("train", "Train a small two-tower model with ACID selection in a TorchSharp loop (procedural data).")
        {
            steps, referenceSteps, superBatch, batch, noise, lr, seed, device, checkpoint,
        };
        command.SetAction(parse => Program.Run(
            () => Execute(
                new Arguments
                {
                    Steps = parse.GetValue(steps),
                    ReferenceSteps = parse.GetValue(referenceSteps),
                    SuperBatch = parse.GetValue(superBatch),
                    Batch = parse.GetValue(batch),
                    NoiseFraction = parse.GetValue(noise),
                    LearningRate = parse.GetValue(lr),
                    Seed = parse.GetValue(seed),
                    Device = parse.GetValue(device)!,
                    Checkpoint = parse.GetValue(checkpoint),
                },
                stdout ?? Console.Out,
                stderr ?? Console.Error),
            stderr));
        return command;
    }

    public static int Execute(Arguments args, TextWriter stdout, TextWriter progress)
    {
        ArgumentNullException.ThrowIfNull(args);
        if (args.Steps < 1 || args.ReferenceSteps < 1)
        {
            throw new UsageException("--steps and --reference-steps must be at least 1");
        }

        if (args.Batch < 2 || args.SuperBatch < args.Batch)
        {
            throw new UsageException($"--batch-size must be at least 2 and at most --super-batch (were {args.Batch} and {args.SuperBatch})");
        }

        if (!(args.NoiseFraction >= 0 && args.NoiseFraction < 1))
        {
            throw new UsageException($"--noise must lie in [0, 1) (was {args.NoiseFraction})");
        }

        Device device = SelectCommand.ParseDevice(args.Device);
        torch.manual_seed((long)args.Seed);
        TwoTowerConfig config = ShapesData.Config();
        using ShapesData clean = ShapesData.Create(2048, 0, args.Seed, device);
        using ShapesData noisy = ShapesData.Create(2048, args.NoiseFraction, args.Seed + 1, device);
        using ShapesData test = ShapesData.Create(256, 0, args.Seed + 2, device);

        progress.WriteLine($"reference: {args.ReferenceSteps} IID steps on clean data");
        using var reference = new TorchTwoTowerModel(config, args.Seed + 10);
        reference.to(device);
        Train(reference, clean, null, null, args, args.ReferenceSteps, progress, "reference");

        // The reference's embeddings of the training pool, computed once (as the pipeline's reference cache).
        Tensor referenceImage, referenceText;
        using (torch.no_grad())
        {
            (referenceImage, referenceText) = reference.Forward(noisy.Images, noisy.Tokens);
        }

        LogitParameters referenceLogits = ReadLogits(reference);
        var sampler = new TorchActiveBatchSampler(MethodPreset.For(TrainingMethod.HAcid), args.Batch, args.Seed);

        progress.WriteLine($"student (ACID): {args.Steps} steps, b = {args.Batch} of B = {args.SuperBatch}, noise {args.NoiseFraction:P0}");
        using var student = new TorchTwoTowerModel(config, args.Seed + 20);
        student.to(device);
        double acidLoss = Train(student, noisy, sampler, (referenceImage, referenceText, referenceLogits), args, args.Steps, progress, "acid");

        progress.WriteLine($"student (IID): {args.Steps} steps on uniform batches of {args.Batch}");
        using var iid = new TorchTwoTowerModel(config, args.Seed + 20);
        iid.to(device);
        double iidLoss = Train(iid, noisy, null, null, args, args.Steps, progress, "iid");

        double referenceAccuracy = Accuracy(reference, test);
        double acidAccuracy = Accuracy(student, test);
        double iidAccuracy = Accuracy(iid, test);
        if (args.Checkpoint is not null)
        {
            TorchCheckpoint.Save(args.Checkpoint, student, args.Steps);
        }

        stdout.WriteLine(JsonSerializer.Serialize(new
        {
            command = "train",
            device = device.ToString(),
            steps = args.Steps,
            superBatch = args.SuperBatch,
            batchSize = args.Batch,
            noise = args.NoiseFraction,
            referenceAccuracy,
            acidAccuracy,
            iidAccuracy,
            acidFinalLoss = acidLoss,
            iidFinalLoss = iidLoss,
            checkpoint = args.Checkpoint,
        }));
        referenceImage.Dispose();
        referenceText.Dispose();
        return 0;
    }

    /// <summary>
    /// The training loop: draw a super-batch, score it with the student (no gradient) and the cached reference
    /// embeddings, select b examples on the device, then a normal TorchSharp step on the selected examples.
    /// Without a sampler the first b of the super-batch are used (IID).
    /// </summary>
    private static double Train(TorchTwoTowerModel model, ShapesData data, TorchActiveBatchSampler? sampler, (Tensor Image, Tensor Text, LogitParameters Logits)? reference, Arguments args, int steps, TextWriter progress, string label)
    {
        using var optimizer = torch.optim.AdamW(model.parameters(), args.LearningRate, weight_decay: 1e-4);
        var generator = new CounterRng(args.Seed, 1000);
        double last = double.NaN;
        for (int step = 0; step < steps; step++)
        {
            using var scope = torch.NewDisposeScope();
            Tensor pool = SuperBatchIndices(data.Count, sampler is null ? args.Batch : args.SuperBatch, ref generator, data.Images.device);
            Tensor chosen = pool;
            if (sampler is not null)
            {
                Tensor si, st;
                using (torch.no_grad())
                {
                    (si, st) = model.Forward(data.Images.index_select(0, pool), data.Tokens.index_select(0, pool));
                }

                var batch = new TorchSuperBatch(
                    new TorchModelEmbeddings(si, st, ReadLogits(model)),
                    new TorchModelEmbeddings(reference!.Value.Image.index_select(0, pool), reference.Value.Text.index_select(0, pool), reference.Value.Logits));
                using TorchSelectionResult selection = sampler.Sample(batch);
                chosen = pool.index_select(0, selection.Indices);
            }

            (Tensor zi, Tensor zt) = model.Forward(data.Images.index_select(0, chosen), data.Tokens.index_select(0, chosen));
            Tensor loss = TorchLosses.SigmoidContrastive(zi, zt, model.Logits);
            optimizer.zero_grad();
            loss.backward();
            optimizer.step();
            using (torch.no_grad())
            {
                // Keep t = log a <= log 100 as the managed trainer does.
                model.LogScale.clamp_(max: TwoTowerModel.MaxLogScale);
            }

            last = loss.ToDouble();
            if (step % 25 == 0 || step == steps - 1)
            {
                progress.WriteLine($"  {label} step {step + 1}/{steps}: loss {last:F4}");
            }
        }

        return last;
    }

    private static Tensor SuperBatchIndices(int count, int size, ref CounterRng rng, Device device)
    {
        int[] chosen = new int[size];
        Sampling.UniformWithoutReplacement(count, size, ref rng, chosen, new int[count]);
        long[] wide = new long[size];
        for (int i = 0; i < size; i++)
        {
            wide[i] = chosen[i];
        }

        return torch.tensor(wide, new long[] { size }).to(device);
    }

    private static LogitParameters ReadLogits(TorchTwoTowerModel model) =>
        LogitParameters.FromLogScale(model.LogScale.ToSingle(), model.Bias.ToSingle());

    /// <summary>Image-to-text top-1 retrieval accuracy among the test pairs.</summary>
    private static double Accuracy(TorchTwoTowerModel model, ShapesData test)
    {
        using var scope = torch.NewDisposeScope();
        using (torch.no_grad())
        {
            (Tensor zi, Tensor zt) = model.Forward(test.Images, test.Tokens);
            Tensor predicted = zi.mm(zt.t()).argmax(1);
            Tensor correct = test.Classes.index_select(0, predicted).eq(test.Classes);
            return correct.to_type(ScalarType.Float64).mean().ToDouble();
        }
    }
}
