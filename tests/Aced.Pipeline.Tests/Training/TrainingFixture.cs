using System;
using System.IO;
using Aced.Pipeline.Data;
using Aced.Pipeline.Training;

namespace Aced.Pipeline.Tests.Training;

/// <summary>Tiny shapes data and two tiny references (clean and held-out) trained once for every training test.</summary>
public sealed class TrainingFixture : IDisposable
{
    public TrainingFixture()
    {
        Root = Path.Combine(Path.GetTempPath(), "aced-train-tests-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Root);
        Data = DatasetCatalog.Load("shapes", TinyData);
        Reference = Path.Combine(Root, "reference");
        HoldoutReference = Path.Combine(Root, "reference-holdout");
        Trainer.Run(Options(Reference) with { Role = TrainingRole.Reference, Steps = 300 }, Data);
        Trainer.Run(Options(HoldoutReference) with { Role = TrainingRole.Reference, Holdout = true, Steps = 6 }, Data);
    }

    public static DataOptions TinyData { get; } = new()
    {
        Seed = 5,
        ImageSize = 16,
        ReferenceTrainSize = 192,
        StudentTrainSize = 192,
        HoldoutSize = 96,
        EvaluationSize = 32,
    };

    public string Root { get; }

    public DatasetSplits Data { get; }

    public string Reference { get; }

    public string HoldoutReference { get; }

    /// <summary>A fresh directory under the fixture's root.</summary>
    public string NewDirectory(string name) => Path.Combine(Root, name + "-" + Guid.NewGuid().ToString("N")[..8]);

    /// <summary>Tiny defaults: Mu towers with 32-wide embeddings, b = 16, 4 steps.</summary>
    public static TrainOptions Options(string outDir) => new()
    {
        Dataset = "shapes",
        Data = TinyData,
        Size = "Mu",
        ProxySize = "Mu",
        Steps = 4,
        BatchSize = 16,
        Chunks = 4,
        ContextLength = 12,
        VocabularySize = 300,
        EmbeddingDimension = 32,
        CheckpointEvery = 0,
        LearningRate = 3e-3,
        Seed = 11,
        OutDir = outDir,
    };

    public void Dispose()
    {
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
