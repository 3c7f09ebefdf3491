using System.Collections.Generic;

namespace Aced.Pipeline.Data;

/// <summary>What loading skipped under <see cref="DataOptions.SkipBad"/>: a count and the first messages.</summary>
public sealed class DataLoadReport
{
    private const int MaxKept = 20;
    private readonly List<string> _messages = new();

    /// <summary>Items (images, lines, archive entries) skipped as bad.</summary>
    public int Skipped { get; private set; }

    /// <summary>The first skipped items' error messages (at most 20).</summary>
    public IReadOnlyList<string> Messages => _messages;

    /// <summary>Records one skipped item.</summary>
    public void Skip(DataException error)
    {
        Skipped++;
        if (_messages.Count < MaxKept)
        {
            _messages.Add(error.Message);
        }
    }

    /// <summary>Records <paramref name="error"/> as skipped when <paramref name="options"/> skip bad data; otherwise throws it.</summary>
    internal void SkipOrThrow(DataException error, DataOptions options)
    {
        if (!options.SkipBad)
        {
            throw error;
        }

        Skip(error);
    }
}
