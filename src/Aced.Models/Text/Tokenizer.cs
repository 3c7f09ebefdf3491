using System;
using System.Collections.Generic;
using System.IO;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Aced.Core;

namespace Aced.Models.Text;

/// <summary>
/// Turns captions into fixed-length id sequences for the text tower. Every tokenizer here shares the layout
/// <c>[CLS] content... [EOS] [PAD]...</c>: ids 0 = [PAD], 1 = [CLS] (also BOS), 2 = [EOS]. Truncation: when the
/// content needs more than <c>maxTokens - 2</c> ids it is cut to its first <c>maxTokens - 2</c> ids and [EOS] is
/// still written last; shorter captions are right-padded with [PAD]. Text is normalised first: trimmed, every run of
/// white space collapsed to one space, and lower-cased when <see cref="Lowercase"/> is set.
/// </summary>
public abstract class Tokenizer
{
    /// <summary>Id of the padding token.</summary>
    public const int PadId = 0;

    /// <summary>Id of the [CLS] / beginning-of-sequence token.</summary>
    public const int ClsId = 1;

    /// <summary>Id of the end-of-sequence token.</summary>
    public const int EosId = 2;

    /// <summary>Number of special tokens before the regular vocabulary.</summary>
    public const int SpecialCount = 3;

    /// <summary>Default sequence length (the paper truncates captions to 64 tokens).</summary>
    public const int DefaultMaxTokens = 64;

    /// <summary>Creates the base with a normalisation flag.</summary>
    protected Tokenizer(bool lowercase)
    {
        Lowercase = lowercase;
    }

    /// <summary>Whether text is lower-cased before tokenisation.</summary>
    public bool Lowercase { get; }

    /// <summary>Number of distinct ids (specials included).</summary>
    public abstract int VocabularySize { get; }

    /// <summary>Encodes into a new array of <paramref name="maxTokens"/> ids (see the class remarks for the layout).</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxTokens"/> is below 2.</exception>
    public int[] Encode(string text, int maxTokens = DefaultMaxTokens)
    {
        if (maxTokens < 2)
        {
            Guard.ThrowOutOfRange(nameof(maxTokens), maxTokens, "must be at least 2 ([CLS] and [EOS])");
        }

        int[] ids = new int[maxTokens];
        Encode(text, ids);
        return ids;
    }

    /// <summary>Encodes into <paramref name="destination"/>, whose length is the sequence length; returns the count of non-padding ids.</summary>
    /// <exception cref="ArgumentException">Destination shorter than 2.</exception>
    public int Encode(string text, Span<int> destination)
    {
        ArgumentNullException.ThrowIfNull(text);
        Guard.That(destination.Length >= 2, "must hold at least 2 ids ([CLS] and [EOS])", nameof(destination));
        var content = new List<int>();
        EncodeContent(Normalize(text), content);
        int keep = Math.Min(content.Count, destination.Length - 2);
        destination[0] = ClsId;
        for (int i = 0; i < keep; i++)
        {
            destination[1 + i] = content[i];
        }

        destination[1 + keep] = EosId;
        destination.Slice(2 + keep).Fill(PadId);
        return 2 + keep;
    }

    /// <summary>Encodes many captions into one flat array of <c>texts.Length x maxTokens</c> ids (an array, a span or a list's <c>CollectionsMarshal.AsSpan</c>).</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxTokens"/> is below 2.</exception>
    /// <exception cref="ArgumentNullException">A caption is null.</exception>
    public int[] EncodeBatch(ReadOnlySpan<string> texts, int maxTokens = DefaultMaxTokens)
    {
        if (maxTokens < 2)
        {
            Guard.ThrowOutOfRange(nameof(maxTokens), maxTokens, "must be at least 2 ([CLS] and [EOS])");
        }

        int[] ids = new int[texts.Length * maxTokens];
        EncodeBatch(texts, maxTokens, ids);
        return ids;
    }

    /// <summary>Encodes many captions into <paramref name="destination"/>: caption i fills ids <c>[i maxTokens, (i + 1) maxTokens)</c>.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxTokens"/> is below 2.</exception>
    /// <exception cref="ArgumentException"><paramref name="destination"/> does not hold exactly <c>texts.Length x maxTokens</c> ids.</exception>
    /// <exception cref="ArgumentNullException">A caption is null.</exception>
    public void EncodeBatch(ReadOnlySpan<string> texts, int maxTokens, Span<int> destination)
    {
        if (maxTokens < 2)
        {
            Guard.ThrowOutOfRange(nameof(maxTokens), maxTokens, "must be at least 2 ([CLS] and [EOS])");
        }

        if ((long)texts.Length * maxTokens != destination.Length)
        {
            Guard.ThrowArgument(nameof(destination), $"holds {destination.Length} ids but {texts.Length} captions of {maxTokens} need {(long)texts.Length * maxTokens}");
        }

        for (int i = 0; i < texts.Length; i++)
        {
            Encode(texts[i], destination.Slice(i * maxTokens, maxTokens));
        }
    }

    /// <summary>Encodes a list of captions (any <see cref="IReadOnlyList{T}"/>) into one flat array of <c>texts.Count x maxTokens</c> ids.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxTokens"/> is below 2.</exception>
    public int[] EncodeBatch(IReadOnlyList<string> texts, int maxTokens = DefaultMaxTokens)
    {
        ArgumentNullException.ThrowIfNull(texts);
        if (maxTokens < 2)
        {
            Guard.ThrowOutOfRange(nameof(maxTokens), maxTokens, "must be at least 2 ([CLS] and [EOS])");
        }

        int[] ids = new int[texts.Count * maxTokens];
        for (int i = 0; i < texts.Count; i++)
        {
            Encode(texts[i], ids.AsSpan(i * maxTokens, maxTokens));
        }

        return ids;
    }

    /// <summary>Turns ids back into text, skipping special tokens.</summary>
    public abstract string Decode(ReadOnlySpan<int> ids);

    /// <summary>Serialises to JSON (a <c>type</c> field plus the vocabulary or merges).</summary>
    public abstract string ToJson();

    /// <summary>Writes <see cref="ToJson"/> to a file (UTF-8).</summary>
    public void Save(string path) => File.WriteAllText(path, ToJson(), new UTF8Encoding(false));

    /// <summary>Reads a tokenizer written by <see cref="ToJson"/> (BPE or word-level).</summary>
    /// <remarks>
    /// The root must be a JSON object with a string <c>type</c> (<c>"bpe"</c> or <c>"word"</c>); no object anywhere
    /// may repeat a property name. A BPE tokenizer must also respect <see cref="BpeTokenizer.MaxTokenBytes"/> and
    /// <see cref="BpeTokenizer.MaxVocabularyBytes"/>, checked before any token is built, so hostile input cannot
    /// exhaust memory.
    /// </remarks>
    /// <exception cref="ArgumentNullException"><paramref name="json"/> is null.</exception>
    /// <exception cref="InvalidDataException">
    /// Malformed JSON, a root that is not an object, a missing or non-string or unknown type, a repeated property
    /// name, a field of the wrong kind, or a vocabulary over the bounds.
    /// </exception>
    public static Tokenizer FromJson(string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        try
        {
            JsonNode? parsed = JsonNode.Parse(json, documentOptions: new JsonDocumentOptions { AllowDuplicateProperties = false });
            if (parsed is not JsonObject root)
            {
                throw new InvalidDataException($"Tokenizer JSON must be an object with a 'type' field, not {Describe(parsed)}.");
            }

            string? type = root["type"] is JsonValue v && v.TryGetValue(out string? text) ? text : null;
            return type switch
            {
                "bpe" => BpeTokenizer.FromJsonNode(root),
                "word" => WordTokenizer.FromJsonNode(root),
                null => throw new InvalidDataException("Tokenizer JSON lacks a string 'type' field ('bpe' or 'word')."),
                _ => throw new InvalidDataException($"Tokenizer JSON has type '{type}'; expected 'bpe' or 'word'."),
            };
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or ArgumentException or FormatException or NullReferenceException)
        {
            // System.Text.Json reports a wrong node kind as InvalidOperationException and a repeated key as
            // ArgumentException (lazily, when the object is first read): both are malformed data here.
            throw new InvalidDataException("Tokenizer JSON is malformed: " + ex.Message, ex);
        }
    }

    private static string Describe(JsonNode? node) => node switch
    {
        null => "null",
        JsonArray => "an array",
        _ => "a " + node.GetValueKind().ToString().ToLowerInvariant(),
    };

    /// <summary>Reads a tokenizer file written by <see cref="Save"/>.</summary>
    public static Tokenizer Load(string path) => FromJson(File.ReadAllText(path));

    /// <summary>Appends the ids of already normalised text.</summary>
    protected abstract void EncodeContent(string normalized, List<int> ids);

    /// <summary>Trim, collapse white space, optionally lower-case.</summary>
    protected string Normalize(string text)
    {
        var sb = new StringBuilder(text.Length);
        bool space = false;
        foreach (char ch in text)
        {
            if (char.IsWhiteSpace(ch))
            {
                space = sb.Length > 0;
                continue;
            }

            if (space)
            {
                sb.Append(' ');
                space = false;
            }

            sb.Append(Lowercase ? char.ToLowerInvariant(ch) : ch);
        }

        return sb.ToString();
    }

    /// <summary>
    /// Splits normalised text into words: maximal runs of letters or digits, or single other characters; a word that
    /// follows a space carries that space as its first character (GPT-2 style).
    /// </summary>
    internal static List<string> PreTokenize(string normalized)
    {
        var words = new List<string>();
        int i = 0;
        while (i < normalized.Length)
        {
            int start = i;
            if (normalized[i] == ' ')
            {
                i++;
            }

            if (i < normalized.Length && char.IsLetterOrDigit(normalized[i]))
            {
                while (i < normalized.Length && char.IsLetterOrDigit(normalized[i]))
                {
                    i++;
                }
            }
            else if (i < normalized.Length)
            {
                i += char.IsSurrogatePair(normalized, i) ? 2 : 1;
            }

            words.Add(normalized.Substring(start, i - start));
        }

        return words;
    }
}
