using System;
using System.Collections.Generic;
using System.IO;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Aced.Core;

namespace Aced.Models.Text;

/// <summary>
/// Byte-level byte-pair encoding. Ids: 0..2 specials, 3..258 the 256 byte values (byte b is id 3 + b), then one id
/// per learned merge in merge order. Every UTF-8 string is representable, so there is no unknown token.
/// </summary>
/// <remarks>
/// Training (<see cref="Train"/>) is deterministic: words are counted after normalisation and pre-tokenisation
/// (<see cref="Tokenizer"/>), then repeatedly the most frequent adjacent pair (weighted by word counts) is merged;
/// ties are broken by the lexicographically smallest (left bytes, right bytes) in ordinal byte order. Training stops at
/// the requested vocabulary size or when no pair occurs at least <c>minFrequency</c> times. Encoding applies merges
/// by rank (earliest learned first), as GPT-2 does.
/// </remarks>
public sealed class BpeTokenizer : Tokenizer
{
    /// <summary>Id of the first byte token.</summary>
    public const int ByteOffset = SpecialCount;

    /// <summary>
    /// Longest token, in UTF-8 bytes, that a tokenizer may hold (1024). Loading rejects merges that build a longer
    /// token, and <see cref="Train"/> never learns one, so a few hostile merges that each double a token cannot
    /// allocate gigabytes.
    /// </summary>
    public const int MaxTokenBytes = 1024;

    /// <summary>
    /// Largest total size, in bytes, of all token byte strings (16 MiB; a 50,000-merge GPT-2 vocabulary needs about
    /// 0.4 MB). Loading rejects a vocabulary over it; <see cref="Train"/> stops before reaching it.
    /// </summary>
    public const int MaxVocabularyBytes = 16 << 20;

    private readonly (int Left, int Right)[] _merges;
    private readonly Dictionary<(int, int), int> _rank;
    private readonly byte[][] _bytes;

    private BpeTokenizer((int Left, int Right)[] merges, bool lowercase)
        : base(lowercase)
    {
        _merges = merges;
        _rank = new Dictionary<(int, int), int>(merges.Length);
        _bytes = new byte[ByteOffset + 256 + merges.Length][];
        for (int b = 0; b < 256; b++)
        {
            _bytes[ByteOffset + b] = [(byte)b];
        }

        long totalBytes = 256;
        for (int i = 0; i < merges.Length; i++)
        {
            (int l, int r) = merges[i];
            int id = ByteOffset + 256 + i;
            if (l < ByteOffset || r < ByteOffset || l >= id || r >= id)
            {
                throw new InvalidDataException($"BPE merge {i} ({l}, {r}) refers to an id that is special or not yet defined.");
            }

            if (!_rank.TryAdd((l, r), i))
            {
                throw new InvalidDataException($"BPE merge {i} ({l}, {r}) is a duplicate.");
            }

            // Check the bounds before allocating the merged token.
            int length = _bytes[l].Length + _bytes[r].Length;
            if (length > MaxTokenBytes)
            {
                throw new InvalidDataException($"BPE merge {i} ({l}, {r}) builds a token of {length} bytes, over {nameof(MaxTokenBytes)} ({MaxTokenBytes}).");
            }

            totalBytes += length;
            if (totalBytes > MaxVocabularyBytes)
            {
                throw new InvalidDataException($"BPE merge {i} ({l}, {r}) brings the vocabulary to {totalBytes} bytes of tokens, over {nameof(MaxVocabularyBytes)} ({MaxVocabularyBytes}).");
            }

            _bytes[id] = [.. _bytes[l], .. _bytes[r]];
        }
    }

    /// <inheritdoc/>
    public override int VocabularySize => _bytes.Length;

    /// <summary>Number of learned merges.</summary>
    public int MergeCount => _merges.Length;

    /// <summary>Learns merges from a caption corpus.</summary>
    /// <param name="corpus">Captions.</param>
    /// <param name="vocabularySize">Largest vocabulary including the 3 specials and 256 bytes (at least 259); smaller when no pair reaches <paramref name="minFrequency"/> (as <see cref="WordTokenizer.Train"/>).</param>
    /// <param name="lowercase">Lower-case text before tokenisation.</param>
    /// <param name="minFrequency">Smallest pair count still merged (at least 1).</param>
    /// <exception cref="ArgumentOutOfRangeException">Vocabulary below 259 or minFrequency below 1.</exception>
    public static BpeTokenizer Train(IEnumerable<string> corpus, int vocabularySize, bool lowercase = true, int minFrequency = 2)
    {
        ArgumentNullException.ThrowIfNull(corpus);
        if (vocabularySize < ByteOffset + 256)
        {
            Guard.ThrowOutOfRange(nameof(vocabularySize), vocabularySize, $"must be at least {ByteOffset + 256} (specials plus bytes)");
        }

        Guard.Positive(minFrequency);
        var probe = new BpeTokenizer([], lowercase);
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (string caption in corpus)
        {
            foreach (string word in PreTokenize(probe.Normalize(caption ?? string.Empty)))
            {
                counts[word] = counts.TryGetValue(word, out long c) ? c + 1 : 1;
            }
        }

        // Unique words in ordinal order, so every pass visits them identically.
        var keys = new List<string>(counts.Keys);
        keys.Sort(StringComparer.Ordinal);
        var words = new List<int>[keys.Count];
        long[] weights = new long[keys.Count];
        for (int w = 0; w < keys.Count; w++)
        {
            byte[] utf8 = Encoding.UTF8.GetBytes(keys[w]);
            words[w] = new List<int>(utf8.Length);
            foreach (byte b in utf8)
            {
                words[w].Add(ByteOffset + b);
            }

            weights[w] = counts[keys[w]];
        }

        var merges = new List<(int, int)>();
        var bytes = new List<byte[]>();
        for (int i = 0; i < ByteOffset; i++)
        {
            bytes.Add([]);
        }

        for (int b = 0; b < 256; b++)
        {
            bytes.Add([(byte)b]);
        }

        // Pair counts are kept incrementally: a merge only re-counts the words that contain the merged pair.
        var pairCounts = new Dictionary<(int, int), long>();
        var pairWords = new Dictionary<(int, int), HashSet<int>>();
        for (int w = 0; w < words.Length; w++)
        {
            AddPairs(words[w], weights[w], w, pairCounts, pairWords, +1);
        }

        var affected = new List<int>();
        long totalBytes = 256;
        while (ByteOffset + 256 + merges.Count < vocabularySize)
        {
            (int, int) best = default;
            long bestCount = 0;
            foreach (KeyValuePair<(int, int), long> kv in pairCounts)
            {
                if (bytes[kv.Key.Item1].Length + bytes[kv.Key.Item2].Length > MaxTokenBytes)
                {
                    continue;
                }

                if (kv.Value > bestCount || (kv.Value == bestCount && kv.Value > 0 && ComparePair(bytes, kv.Key, best) < 0))
                {
                    best = kv.Key;
                    bestCount = kv.Value;
                }
            }

            int mergedLength = bestCount == 0 ? 0 : bytes[best.Item1].Length + bytes[best.Item2].Length;
            if (bestCount < minFrequency || totalBytes + mergedLength > MaxVocabularyBytes)
            {
                break;
            }

            totalBytes += mergedLength;

            int newId = bytes.Count;
            merges.Add(best);
            bytes.Add([.. bytes[best.Item1], .. bytes[best.Item2]]);
            affected.Clear();
            affected.AddRange(pairWords[best]);
            affected.Sort();
            foreach (int w in affected)
            {
                AddPairs(words[w], weights[w], w, pairCounts, pairWords, -1);
                ApplyMerge(words[w], best.Item1, best.Item2, newId);
                AddPairs(words[w], weights[w], w, pairCounts, pairWords, +1);
            }
        }

        return new BpeTokenizer(merges.ToArray(), lowercase);
    }

    /// <inheritdoc/>
    public override string Decode(ReadOnlySpan<int> ids)
    {
        var buffer = new List<byte>();
        foreach (int id in ids)
        {
            if (id >= ByteOffset && id < _bytes.Length)
            {
                buffer.AddRange(_bytes[id]);
            }
        }

        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    /// <summary>The byte string of token <paramref name="id"/> (empty for specials).</summary>
    /// <exception cref="ArgumentOutOfRangeException">Id outside the vocabulary.</exception>
    public ReadOnlySpan<byte> TokenBytes(int id)
    {
        if ((uint)id >= (uint)_bytes.Length)
        {
            Guard.ThrowOutOfRange(nameof(id), id, $"must lie in [0, {_bytes.Length})");
        }

        return id < ByteOffset ? ReadOnlySpan<byte>.Empty : _bytes[id];
    }

    /// <inheritdoc/>
    public override string ToJson()
    {
        var merges = new JsonArray();
        foreach ((int l, int r) in _merges)
        {
            merges.Add(new JsonArray(l, r));
        }

        var root = new JsonObject
        {
            ["type"] = "bpe",
            ["version"] = 1,
            ["lowercase"] = Lowercase,
            ["vocabularySize"] = VocabularySize,
            ["merges"] = merges,
        };
        return root.ToJsonString(new JsonSerializerOptions { WriteIndented = false });
    }

    internal static BpeTokenizer FromJsonNode(JsonNode root)
    {
        try
        {
            int version = root["version"]?.GetValue<int>() ?? throw new InvalidDataException("BPE tokenizer JSON lacks 'version'.");
            if (version != 1)
            {
                throw new InvalidDataException($"BPE tokenizer JSON version {version} is not supported (expected 1).");
            }

            bool lowercase = root["lowercase"]?.GetValue<bool>() ?? true;
            JsonArray array = root["merges"]?.AsArray() ?? throw new InvalidDataException("BPE tokenizer JSON lacks 'merges'.");
            var merges = new (int, int)[array.Count];
            for (int i = 0; i < array.Count; i++)
            {
                JsonArray pair = array[i]!.AsArray();
                if (pair.Count != 2)
                {
                    throw new InvalidDataException($"BPE merge {i} does not have two ids.");
                }

                merges[i] = (pair[0]!.GetValue<int>(), pair[1]!.GetValue<int>());
            }

            var tokenizer = new BpeTokenizer(merges, lowercase);
            int? declared = root["vocabularySize"]?.GetValue<int>();
            if (declared is int v && v != tokenizer.VocabularySize)
            {
                throw new InvalidDataException($"BPE tokenizer JSON declares vocabularySize {v} but its merges give {tokenizer.VocabularySize}.");
            }

            return tokenizer;
        }
        catch (Exception ex) when (ex is InvalidOperationException or FormatException or NullReferenceException)
        {
            throw new InvalidDataException("BPE tokenizer JSON is malformed: " + ex.Message, ex);
        }
    }

    /// <inheritdoc/>
    protected override void EncodeContent(string normalized, List<int> ids)
    {
        var symbols = new List<int>();
        foreach (string word in PreTokenize(normalized))
        {
            symbols.Clear();
            foreach (byte b in Encoding.UTF8.GetBytes(word))
            {
                symbols.Add(ByteOffset + b);
            }

            while (symbols.Count > 1)
            {
                int bestRank = int.MaxValue;
                int bestAt = -1;
                for (int i = 0; i + 1 < symbols.Count; i++)
                {
                    if (_rank.TryGetValue((symbols[i], symbols[i + 1]), out int rank) && rank < bestRank)
                    {
                        bestRank = rank;
                        bestAt = i;
                    }
                }

                if (bestAt < 0)
                {
                    break;
                }

                (int l, int r) = _merges[bestRank];
                ApplyMerge(symbols, l, r, ByteOffset + 256 + bestRank);
            }

            ids.AddRange(symbols);
        }
    }

    private static void AddPairs(List<int> s, long weight, int word, Dictionary<(int, int), long> counts, Dictionary<(int, int), HashSet<int>> where, int sign)
    {
        for (int i = 0; i + 1 < s.Count; i++)
        {
            (int, int) key = (s[i], s[i + 1]);
            long updated = (counts.TryGetValue(key, out long c) ? c : 0) + (sign * weight);
            if (sign > 0)
            {
                counts[key] = updated;
                if (!where.TryGetValue(key, out HashSet<int>? set))
                {
                    where[key] = set = [];
                }

                set.Add(word);
            }
            else if (updated <= 0)
            {
                counts.Remove(key);
                where.Remove(key);
            }
            else
            {
                counts[key] = updated;
                where[key].Remove(word);
            }
        }
    }

    private static void ApplyMerge(List<int> s, int left, int right, int merged)
    {
        int write = 0;
        for (int read = 0; read < s.Count; read++)
        {
            if (read + 1 < s.Count && s[read] == left && s[read + 1] == right)
            {
                s[write++] = merged;
                read++;
            }
            else
            {
                s[write++] = s[read];
            }
        }

        s.RemoveRange(write, s.Count - write);
    }

    private static int ComparePair(List<byte[]> bytes, (int, int) a, (int, int) b)
    {
        if (b == default)
        {
            return -1;
        }

        int c = bytes[a.Item1].AsSpan().SequenceCompareTo(bytes[b.Item1]);
        return c != 0 ? c : bytes[a.Item2].AsSpan().SequenceCompareTo(bytes[b.Item2]);
    }
}
