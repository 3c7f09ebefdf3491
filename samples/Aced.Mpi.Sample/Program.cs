// A data-parallel training loop with sharded selection. Run with MPICH:
//   mpiexec -n 4 dotnet samples/Aced.Mpi.Sample/bin/Release/net10.0/aced-mpi-sample.dll --steps 3
// Every rank holds identical replicas of the student and the reference model (as in data-parallel training),
// owns rows [offset, offset + n) of each step's super-batch, embeds only those rows, and calls the sharded sampler;
// all ranks get the same global indices, and each trains on the chosen examples it owns.
// --check makes rank 0 also run the single-process ActiveBatchSampler over the whole super-batch and compare.
using System;
using Aced.Core;
using Aced.Models;
using Aced.Mpi;
using Aced.Selection;
using Aced.Selection.Distributed;

int superBatch = 1024;
int steps = 2;
bool check = false;
for (int i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--super-batch": superBatch = int.Parse(args[++i], System.Globalization.CultureInfo.InvariantCulture); break;
        case "--steps": steps = int.Parse(args[++i], System.Globalization.CultureInfo.InvariantCulture); break;
        case "--check": check = true; break;
        default:
            Console.Error.WriteLine($"aced-mpi-sample: error: unknown option {args[i]}; use --super-batch N, --steps N, --check");
            return 2;
    }
}

MpiSession mpi;
try
{
    mpi = MpiSession.Start(ref args, TimeSpan.FromSeconds(60));
}
catch (MpiUnavailableException e)
{
    Console.Error.WriteLine("aced-mpi-sample: error: " + e.Message);
    return 2;
}

using (mpi)
{
    int rank = mpi.Rank, size = mpi.Size;

    // This rank's rows of every super-batch: contiguous, as even as possible.
    int offset = (int)((long)superBatch * rank / size);
    int count = (int)((long)superBatch * (rank + 1) / size) - offset;

    // Identical replicas on every rank (same seeds); the reference is a second, independently initialised model.
    TwoTowerConfig config = TwoTowerConfig.Preset(ModelSize.Mu, vocabularySize: 256, contextLength: 8, imageSize: 8, patchSize: 4, embeddingDimension: 32);
    var student = new TwoTowerModel(config, seed: 1);
    var reference = new TwoTowerModel(config, seed: 2);
    var options = new ActiveBatchSamplerOptions { FilterRatio = 0.8, Chunks = 8, Seed = 7 };
    var sampler = new ShardedBatchSampler(options, mpi.Collectives);
    int failures = 0;
    for (int step = 0; step < steps; step++)
    {
        // 1. Load and embed this rank's shard only (none when there are more ranks than examples: every rank then
        //    reports the same error).
        SuperBatch? shard = count == 0 ? null : Embed(student, reference, config, step, offset, count);

        // 2. Select jointly over all ranks: the same global indices everywhere.
        SelectionResult chosen;
        try
        {
            chosen = sampler.Sample(shard, step);
        }
        catch (Exception e) when (e is ArgumentException or CollectiveException)
        {
            Console.Error.WriteLine($"aced-mpi-sample: error: rank {rank}: {e.Message}");
            return 2;
        }

        // 3. Train on the chosen examples this rank owns (the gradient all-reduce of data-parallel training
        //    belongs to the training framework and is not shown).
        int mine = 0;
        foreach (int index in chosen.Indices)
        {
            mine += index >= offset && index < offset + count ? 1 : 0;
        }

        ShardStatistics s = sampler.Statistics;
        Console.WriteLine($"step {step} rank {rank}/{size}: rows [{offset}, {offset + count}), chose {chosen.Count} of {s.SuperBatchSize}, {mine} here; {s.Collectives} collectives, {s.BytesSent} B sent, {s.BytesReceived} B received, {s.CollectiveSeconds * 1e3:F1} ms communicating of {s.Seconds * 1e3:F1} ms");

        if (check && rank == 0)
        {
            // The whole super-batch in one process, embedded in the same row ranges the ranks used.
            SuperBatch whole = EmbedWhole(student, reference, config, step, superBatch, size);
            int[] expected = new ActiveBatchSampler(options).Sample(whole, step).ToArray();
            bool same = expected.AsSpan().SequenceEqual(chosen.Indices);
            Console.WriteLine($"check step {step}: sharded selection over {size} rank(s) {(same ? "equals" : "DIFFERS FROM")} the single-process selection");
            failures += same ? 0 : 1;
        }
    }

    return failures == 0 ? 0 : 1;
}

static SuperBatch Embed(TwoTowerModel student, TwoTowerModel reference, TwoTowerConfig config, int step, int offset, int count)
{
    (Matrix images, int[] tokens) = Inputs(config, step, offset, count);
    return new SuperBatch(Encode(student, images, tokens, count), Encode(reference, images, tokens, count));
}

static SuperBatch EmbedWhole(TwoTowerModel student, TwoTowerModel reference, TwoTowerConfig config, int step, int total, int size)
{
    int d = student.EmbeddingDimension;
    var parts = new Matrix[4];
    for (int p = 0; p < 4; p++)
    {
        parts[p] = new Matrix(total, d);
    }

    for (int r = 0; r < size; r++)
    {
        int offset = (int)((long)total * r / size);
        int count = (int)((long)total * (r + 1) / size) - offset;
        SuperBatch shard = Embed(student, reference, config, step, offset, count);
        shard.Student.Image.Span.CopyTo(parts[0].Span.Slice(offset * d));
        shard.Student.Text.Span.CopyTo(parts[1].Span.Slice(offset * d));
        shard.Reference.Image.Span.CopyTo(parts[2].Span.Slice(offset * d));
        shard.Reference.Text.Span.CopyTo(parts[3].Span.Slice(offset * d));
    }

    return new SuperBatch(
        new ModelEmbeddings(parts[0], parts[1], student.Logits),
        new ModelEmbeddings(parts[2], parts[3], reference.Logits));
}

static ModelEmbeddings Encode(TwoTowerModel model, Matrix images, int[] tokens, int count)
{
    var image = new Matrix(count, model.EmbeddingDimension);
    var text = new Matrix(count, model.EmbeddingDimension);
    model.EncodeImages(images, image);
    model.EncodeTexts(tokens, text);
    return new ModelEmbeddings(image, text, model.Logits);
}

// Synthetic example i of step t: pixels and caption tokens that depend only on (t, i), so any rank can load any row.
static (Matrix Images, int[] Tokens) Inputs(TwoTowerConfig config, int step, int offset, int count)
{
    int pixels = config.Image.ImageSize * config.Image.ImageSize * config.Image.Channels;
    int context = config.Text.ContextLength;
    var images = new Matrix(count, pixels);
    int[] tokens = new int[count * context];
    for (int i = 0; i < count; i++)
    {
        var rng = new CounterRng(1234, ((ulong)step << 32) | (uint)(offset + i));
        for (int j = 0; j < pixels; j++)
        {
            images[i, j] = rng.NextFloat();
        }

        for (int j = 0; j < context; j++)
        {
            tokens[(i * context) + j] = rng.NextInt(config.Text.VocabularySize);
        }
    }

    return (images, tokens);
}
