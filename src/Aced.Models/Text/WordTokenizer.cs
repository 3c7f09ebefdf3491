using System;
using System.Collections.Generic;
using System.IO;
using System.Text;
using System.Text.Json.Nodes;
using Aced.Core;

namespace Aced.Models.Text;

/// <summary>
/// Plain word-level tokenizer (a simple fallback for tests and tiny vocabularies): ids 0..2 specials, 3 = [UNK],
/// then one id per known word. Words are maximal runs of letters/digits or single punctuation characters (spaces
/// dropped). The vocabulary keeps the most frequent words, ties in ordinal order.
/// </summary>
public sealed class WordTokenizer : Tokenizer
{
    /// <summary>Id of the unknown-word token.</summary>
    public const int UnkId = SpecialCount;

    private readonly string[] _words;
    private readonly Dictionary<string, int> _ids;

    private WordTokenizer(string[] words, bool lowercase)
        : base(lowercase)
    {
        _words = words;
        _ids = new Dictionary<string, int>(words.Length, StringComparer.Ordinal);
        for (int i = 0; i < words.Length; i++)
        {
            if (string.IsNullOrEmpty(words[i]) || !_ids.TryAdd(words[i], UnkId + 1 + i))
            {
                throw new InvalidDataException($"Word vocabulary entry {i} ('{words[i]}') is empty or duplicated.");
            }
        }
    }

    /// <inheritdoc/>
    public override int VocabularySize => UnkId + 1 + _words.Length;

    /// <summary>Builds the vocabulary from a corpus.</summary>
    /// <param name="corpus">Captions.</param>
    /// <param name="vocabularySize">Largest vocabulary including specials and [UNK] (at least 5); smaller when the corpus has fewer distinct words.</param>
    /// <param name="lowercase">Lower-case text first.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="vocabularySize"/> below 5.</exception>
    public static WordTokenizer Train(IEnumerable<string> corpus, int vocabularySize, bool lowercase = true)
    {
        ArgumentNullException.ThrowIfNull(corpus);
        if (vocabularySize < UnkId + 2)
        {
            Guard.ThrowOutOfRange(nameof(vocabularySize), vocabularySize, $"must be at least {UnkId + 2}");
        }

        var probe = new WordTokenizer([], lowercase);
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (string caption in corpus)
        {
            foreach (string word in Words(probe.Normalize(caption ?? string.Empty)))
            {
                counts[word] = counts.TryGetValue(word, out long c) ? c + 1 : 1;
            }
        }

        var entries = new List<KeyValuePair<string, long>>(counts);
        entries.Sort((a, b) => a.Value != b.Value ? b.Value.CompareTo(a.Value) : string.CompareOrdinal(a.Key, b.Key));
        int keep = Math.Min(entries.Count, vocabularySize - UnkId - 1);
        string[] words = new string[keep];
        for (int i = 0; i < keep; i++)
        {
            words[i] = entries[i].Key;
        }

        return new WordTokenizer(words, lowercase);
    }

    /// <inheritdoc/>
    public override string Decode(ReadOnlySpan<int> ids)
    {
        var sb = new StringBuilder();
        foreach (int id in ids)
        {
            string? word = id == UnkId ? "[UNK]" : id > UnkId && id < VocabularySize ? _words[id - UnkId - 1] : null;
            if (word is not null)
            {
                if (sb.Length > 0)
                {
                    sb.Append(' ');
                }

                sb.Append(word);
            }
        }

        return sb.ToString();
    }

    /// <inheritdoc/>
    public override string ToJson()
    {
        var words = new JsonArray();
        foreach (string w in _words)
        {
            words.Add(w);
        }

        return new JsonObject { ["type"] = "word", ["version"] = 1, ["lowercase"] = Lowercase, ["words"] = words }.ToJsonString();
    }

    internal static WordTokenizer FromJsonNode(JsonNode root)
    {
        try
        {
            bool lowercase = root["lowercase"]?.GetValue<bool>() ?? true;
            JsonArray array = root["words"]?.AsArray() ?? throw new InvalidDataException("Word tokenizer JSON lacks 'words'.");
            string[] words = new string[array.Count];
            for (int i = 0; i < words.Length; i++)
            {
                words[i] = array[i]!.GetValue<string>();
            }

            return new WordTokenizer(words, lowercase);
        }
        catch (Exception ex) when (ex is InvalidOperationException or FormatException or NullReferenceException)
        {
            throw new InvalidDataException("Word tokenizer JSON is malformed: " + ex.Message, ex);
        }
    }

    /// <inheritdoc/>
    protected override void EncodeContent(string normalized, List<int> ids)
    {
        foreach (string word in Words(normalized))
        {
            ids.Add(_ids.TryGetValue(word, out int id) ? id : UnkId);
        }
    }

    private static IEnumerable<string> Words(string normalized)
    {
        foreach (string w in PreTokenize(normalized))
        {
            string trimmed = w.TrimStart(' ');
            if (trimmed.Length > 0)
            {
                yield return trimmed;
            }
        }
    }
}
