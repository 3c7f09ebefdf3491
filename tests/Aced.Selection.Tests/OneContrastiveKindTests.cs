using System;
using Aced.Core;
using Aced.Losses;
using Aced.Selection;

namespace Aced.Selection.Tests;

/// <summary>
/// Issue 8 item 15: with Aced.Core, Aced.Losses and Aced.Selection imported together, <c>ContrastiveKind</c> names one
/// type (this file did not compile while Aced.Losses had its own enum: CS0104), and every option that means "sigmoid or
/// softmax" uses it.
/// </summary>
public class OneContrastiveKindTests
{
    [Fact]
    public void Options_LossesAndSelection_UseTheCoreEnum()
    {
        var selection = new ActiveBatchSamplerOptions { Loss = ContrastiveKind.Softmax };
        var objective = new CombinedObjectiveOptions { Contrastive = ContrastiveKind.Softmax };
        Assert.Equal(typeof(ContrastiveKind), selection.Loss.GetType());
        Assert.Equal(selection.Loss, objective.Contrastive);
        Assert.Equal(typeof(ContrastiveKind?), typeof(CombinedObjectiveOptions).GetProperty(nameof(CombinedObjectiveOptions.Contrastive))!.PropertyType);
    }

    [Theory]
    [InlineData("ContrastiveKind")]
    [InlineData("SelectionLoss")]
    [InlineData("LogitParameters")]
    public void ExportedTypes_SelectionAndLosses_DefineNoSecondCopy(string name)
    {
        foreach (Type t in typeof(ActiveBatchSampler).Assembly.GetExportedTypes())
        {
            Assert.NotEqual(name, t.Name);
        }

        foreach (Type t in typeof(CombinedObjective).Assembly.GetExportedTypes())
        {
            Assert.NotEqual(name, t.Name);
        }
    }

    [Fact]
    public void CombinedObjectiveOptions_UndefinedContrastive_ThrowsNamingOption()
    {
        var options = new CombinedObjectiveOptions();
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => options.Contrastive = (ContrastiveKind)2);
        Assert.Equal(nameof(CombinedObjectiveOptions.Contrastive), e.ParamName);
    }

    [Fact]
    public void PairSimilarityProxy_Scores_IgnoreScaleBiasAndLoss()
    {
        SuperBatch batch = TestData.Batch(12, 5, 3, ContrastiveKind.Sigmoid);
        var sigmoid = new ActiveBatchSamplerOptions { PairSimilarityProxy = true, Loss = ContrastiveKind.Sigmoid };
        var softmax = new ActiveBatchSamplerOptions { PairSimilarityProxy = true, Loss = ContrastiveKind.Softmax };
        int[] members = { 3, 7, 0 };
        double expected = Scorers.PairSimilarityLoss(batch.Student, members) - Scorers.PairSimilarityLoss(batch.Reference, members);
        Assert.Equal(expected, Scorers.BatchScore(batch, sigmoid, members), 12);
        Assert.Equal(expected, Scorers.BatchScore(batch, softmax, members), 12);
        Assert.NotEqual(expected, Scorers.BatchScore(batch, ScoringMethod.Learnability, ContrastiveKind.Sigmoid, members));
    }
}

/// <summary>Issue 8 item 20: the options' helpers are not public API.</summary>
public class OptionsSurfaceTests
{
    [Theory]
    [InlineData("Validate")]
    [InlineData("ResolveBatchSize")]
    [InlineData("ChunkSize")]
    public void ActiveBatchSamplerOptions_Helper_IsNotPublic(string name)
    {
        Assert.Null(typeof(ActiveBatchSamplerOptions).GetMethod(name, System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.Static));
        Assert.NotNull(typeof(ActiveBatchSamplerOptions).GetMethod(name, System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.Static));
    }
}
