using System;
using System.Collections.Generic;
using System.IO;
using Aced.Models.Text;
using FsCheck;
using FsCheck.Fluent;

namespace Aced.Models.Tests;

public class TokenizerTests
{
    private static readonly string[] s_corpus =
    [
        "a red circle on the left", "a red square on the right", "the red circle", "two red circles",
        "a blue circle", "the blue square is above the red circle", "Ünïcödé café ☕ 漢字", "count: 3 circles!",
    ];

    [Fact]
    public void BpeTrain_IsDeterministic_AndRespectsVocabularySize()
    {
        BpeTokenizer a = BpeTokenizer.Train(s_corpus, 300);
        BpeTokenizer b = BpeTokenizer.Train(s_corpus, 300);
        Assert.Equal(a.ToJson(), b.ToJson());
        Assert.True(a.VocabularySize <= 300 && a.VocabularySize > 259);
        BpeTokenizer small = BpeTokenizer.Train(s_corpus, 259);
        Assert.Equal(259, small.VocabularySize);
    }

    [Fact]
    public void BpeTrain_FirstMergeIsTheMostFrequentPair_TiesBrokenLexicographically()
    {
        // "ab" and "cd" both occur 3 times; "ab" < "cd" lexicographically, so it is merged first.
        BpeTokenizer t = BpeTokenizer.Train(["cd", "ab", "cd", "ab", "cd", "ab"], 260, minFrequency: 1);
        Assert.Equal("ab"u8.ToArray(), t.TokenBytes(259).ToArray());
        BpeTokenizer u = BpeTokenizer.Train(["cd", "ab", "cd"], 260, minFrequency: 1);
        Assert.Equal("cd"u8.ToArray(), u.TokenBytes(259).ToArray());
    }

    [Fact]
    public void BpeTrain_IncrementalCounts_MatchNaiveRecountingReference()
    {
        Prop.ForAll(Gen.Choose(0, int.MaxValue).ToArbitrary(), seed =>
        {
            var rng = new Aced.Core.CounterRng((ulong)seed, 5);
            string[] syllables = ["ab", "ba", "aa", "c", "abc", " ", "b"];
            string[] corpus = new string[12];
            for (int i = 0; i < corpus.Length; i++)
            {
                var sb = new System.Text.StringBuilder();
                int parts = 1 + rng.NextInt(8);
                for (int k = 0; k < parts; k++)
                {
                    sb.Append(syllables[rng.NextInt(syllables.Length)]);
                }

                corpus[i] = string.Join(' ', sb.ToString().Split(' ', StringSplitOptions.RemoveEmptyEntries));
            }

            BpeTokenizer fast = BpeTokenizer.Train(corpus, 300, lowercase: false, minFrequency: 1);
            return fast.ToJson() == NaiveMerges(corpus, 300 - 259);
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(40));
    }

    private static string NaiveMerges(string[] corpus, int maxMerges)
    {
        var words = new System.Collections.Generic.List<System.Collections.Generic.List<int>>();
        var bytes = new System.Collections.Generic.List<byte[]>();
        for (int i = 0; i < 3; i++)
        {
            bytes.Add([]);
        }

        for (int b = 0; b < 256; b++)
        {
            bytes.Add([(byte)b]);
        }

        foreach (string caption in corpus)
        {
            foreach (string w in Tokenizer.PreTokenize(caption))
            {
                var ids = new System.Collections.Generic.List<int>();
                foreach (byte b in System.Text.Encoding.UTF8.GetBytes(w))
                {
                    ids.Add(3 + b);
                }

                words.Add(ids);
            }
        }

        var merges = new System.Text.StringBuilder();
        for (int m = 0; m < maxMerges; m++)
        {
            var counts = new System.Collections.Generic.Dictionary<(int, int), int>();
            foreach (var w in words)
            {
                for (int i = 0; i + 1 < w.Count; i++)
                {
                    counts[(w[i], w[i + 1])] = counts.GetValueOrDefault((w[i], w[i + 1])) + 1;
                }
            }

            (int, int) best = (-1, -1);
            int bestCount = 0;
            foreach (var kv in counts)
            {
                bool better = kv.Value > bestCount;
                if (!better && kv.Value == bestCount)
                {
                    int c = bytes[kv.Key.Item1].AsSpan().SequenceCompareTo(bytes[best.Item1]);
                    better = c < 0 || (c == 0 && bytes[kv.Key.Item2].AsSpan().SequenceCompareTo(bytes[best.Item2]) < 0);
                }

                if (better)
                {
                    best = kv.Key;
                    bestCount = kv.Value;
                }
            }

            if (bestCount < 1)
            {
                break;
            }

            int id = bytes.Count;
            bytes.Add([.. bytes[best.Item1], .. bytes[best.Item2]]);
            merges.Append(merges.Length > 0 ? "," : string.Empty).Append('[').Append(best.Item1).Append(',').Append(best.Item2).Append(']');
            foreach (var w in words)
            {
                for (int i = 0; i + 1 < w.Count; i++)
                {
                    if (w[i] == best.Item1 && w[i + 1] == best.Item2)
                    {
                        w[i] = id;
                        w.RemoveAt(i + 1);
                    }
                }
            }
        }

        return $"{{\"type\":\"bpe\",\"version\":1,\"lowercase\":false,\"vocabularySize\":{bytes.Count},\"merges\":[{merges}]}}";
    }

    [Fact]
    public void Encode_LayoutPaddingAndTruncation()
    {
        BpeTokenizer t = BpeTokenizer.Train(s_corpus, 320);
        int[] ids = t.Encode("a red circle", 64);
        Assert.Equal(64, ids.Length);
        Assert.Equal(Tokenizer.ClsId, ids[0]);
        int eos = Array.IndexOf(ids, Tokenizer.EosId);
        Assert.True(eos > 1);
        for (int i = eos + 1; i < 64; i++)
        {
            Assert.Equal(Tokenizer.PadId, ids[i]);
        }

        Assert.Equal("a red circle", t.Decode(ids));
        int[] shortIds = t.Encode("the blue square is above the red circle and more words here", 6);
        Assert.Equal(Tokenizer.ClsId, shortIds[0]);
        Assert.Equal(Tokenizer.EosId, shortIds[5]);
        Assert.DoesNotContain(Tokenizer.PadId, shortIds);
        int[] full = t.Encode("the blue square is above the red circle and more words here", 64);
        Assert.Equal(full.AsSpan(1, 4).ToArray(), shortIds.AsSpan(1, 4).ToArray());
        Assert.Throws<ArgumentOutOfRangeException>(() => t.Encode("x", 1));
    }

    [Fact]
    public void Bpe_DecodeOfEncode_IsTheNormalizedText()
    {
        BpeTokenizer t = BpeTokenizer.Train(s_corpus, 320, lowercase: false);
        Prop.ForAll(ArbMap.Default.ArbFor<string>(), s =>
        {
            s ??= string.Empty;
            if (s.Contains('\uFFFD') || HasLoneSurrogate(s))
            {
                return true;
            }

            string normalized = string.Join(' ', s.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));
            int[] ids = t.Encode(s, 4096);
            return t.Decode(ids) == normalized;
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(200));
    }

    [Fact]
    public void Json_RoundTrip_GivesIdenticalEncodings()
    {
        Tokenizer[] tokenizers = [BpeTokenizer.Train(s_corpus, 300), WordTokenizer.Train(s_corpus, 20)];
        foreach (Tokenizer t in tokenizers)
        {
            string path = Path.Combine(Path.GetTempPath(), $"aced-tok-{Guid.NewGuid():N}.json");
            try
            {
                t.Save(path);
                Tokenizer loaded = Tokenizer.Load(path);
                Assert.Equal(t.GetType(), loaded.GetType());
                Assert.Equal(t.VocabularySize, loaded.VocabularySize);
                foreach (string s in s_corpus)
                {
                    Assert.Equal(t.Encode(s, 16), loaded.Encode(s, 16));
                }
            }
            finally
            {
                File.Delete(path);
            }
        }

        Assert.Throws<InvalidDataException>(() => Tokenizer.FromJson("{\"type\":\"bpe\",\"version\":1,\"merges\":[[3,999]]}"));
        Assert.Throws<InvalidDataException>(() => Tokenizer.FromJson("{\"type\":\"sentencepiece\"}"));
        Assert.Throws<InvalidDataException>(() => Tokenizer.FromJson("not json"));
    }

    [Fact]
    public void WordTokenizer_KeepsFrequentWords_AndMapsUnknownToUnk()
    {
        WordTokenizer t = WordTokenizer.Train(s_corpus, 8);
        Assert.Equal(8, t.VocabularySize);
        int[] ids = t.Encode("red zebra", 5);
        Assert.Equal([Tokenizer.ClsId, ids[1], WordTokenizer.UnkId, Tokenizer.EosId, Tokenizer.PadId], ids);
        Assert.NotEqual(WordTokenizer.UnkId, ids[1]);
        Assert.Equal("red [UNK]", t.Decode(ids));
    }

    private static bool HasLoneSurrogate(string s)
    {
        for (int i = 0; i < s.Length; i++)
        {
            if (char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(s[i]))
            {
                return true;
            }
        }

        return false;
    }
}
