using System;
using System.IO;
using System.Text;
using Aced.Models.Text;

namespace Aced.Models.Tests;

/// <summary>Hostile or malformed tokenizer JSON: every failure is an <see cref="InvalidDataException"/>, promptly.</summary>
public class TokenizerLoaderTests
{
    [Theory]
    [InlineData("[]")]
    [InlineData("42")]
    [InlineData("\"bpe\"")]
    [InlineData("null")]
    [InlineData("{\"type\":1}")]
    [InlineData("{\"type\":[\"bpe\"]}")]
    [InlineData("{\"type\":\"bpe\",\"type\":\"word\",\"words\":[]}")]
    [InlineData("{\"type\":\"bpe\",\"version\":1,\"merges\":[],\"merges\":[[3,3]]}")]
    [InlineData("{\"type\":\"bpe\",\"version\":1,\"merges\":[[3,4]],\"lowercase\":true,\"lowercase\":false}")]
    [InlineData("{\"type\":\"word\",\"words\":[\"a\"],\"words\":[\"b\"]}")]
    [InlineData("{\"type\":\"bpe\",\"version\":1,\"merges\":{\"a\":1}}")]
    [InlineData("{\"type\":\"bpe\",\"version\":1,\"merges\":[{\"a\":1,\"a\":2}]}")]
    [InlineData("{\"type\":\"bpe\",\"version\":\"1\",\"merges\":[]}")]
    [InlineData("{\"type\":\"word\",\"words\":{}}")]
    [InlineData("{\"type\":\"word\",\"words\":[1]}")]
    public void FromJson_MalformedShapes_ThrowInvalidData(string json)
    {
        Assert.Throws<InvalidDataException>(() => Tokenizer.FromJson(json));
    }

    [Fact]
    public void FromJson_MergeBombDoublingOneToken_ThrowsInvalidDataBeforeAllocating()
    {
        // 31 merges that each double one token would need 2^31 bytes; the loader must refuse at the length bound.
        string json = DoublingBomb(31);
        long before = GC.GetAllocatedBytesForCurrentThread();
        InvalidDataException ex = Assert.Throws<InvalidDataException>(() => Tokenizer.FromJson(json));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Contains(nameof(BpeTokenizer.MaxTokenBytes), ex.Message);
        Assert.True(allocated < 16 << 20, $"allocated {allocated} bytes");
    }

    [Fact]
    public void FromJson_ManyLongTokensOverTheVocabularyBudget_ThrowsInvalidData()
    {
        // a^256 by 8 doublings, then a^256 + byte b for all 256 bytes (257 bytes each), then every ordered pair of those
        // (514 bytes each, under the per-token bound): 65,536 * 514 bytes = 33.7 MB, over the vocabulary budget.
        var sb = new StringBuilder("{\"type\":\"bpe\",\"version\":1,\"merges\":[");
        int next = BpeTokenizer.ByteOffset + 256;
        int previous = BpeTokenizer.ByteOffset + 'a';
        for (int i = 0; i < 8; i++)
        {
            sb.Append('[').Append(previous).Append(',').Append(previous).Append("],");
            previous = next++;
        }

        int firstLong = next;
        for (int b = 0; b < 256; b++)
        {
            sb.Append('[').Append(previous).Append(',').Append(BpeTokenizer.ByteOffset + b).Append("],");
            next++;
        }

        for (int i = 0; i < 256; i++)
        {
            for (int j = 0; j < 256; j++)
            {
                sb.Append('[').Append(firstLong + i).Append(',').Append(firstLong + j).Append("],");
            }
        }

        sb.Length--;
        sb.Append("]}");
        InvalidDataException ex = Assert.Throws<InvalidDataException>(() => Tokenizer.FromJson(sb.ToString()));
        Assert.Contains(nameof(BpeTokenizer.MaxVocabularyBytes), ex.Message);
    }

    [Fact]
    public void FromJson_LongestAllowedToken_Loads()
    {
        // 10 doublings of one byte give a token of exactly MaxTokenBytes (1024) bytes: allowed.
        Assert.Equal(1024, BpeTokenizer.MaxTokenBytes);
        var t = (BpeTokenizer)Tokenizer.FromJson(DoublingBomb(10));
        Assert.Equal(1024, t.TokenBytes(t.VocabularySize - 1).Length);
        Assert.Throws<InvalidDataException>(() => Tokenizer.FromJson(DoublingBomb(11)));
    }

    [Fact]
    public void Train_LongRepeatedWords_NeverLearnsATokenOverTheBound()
    {
        string word = new('x', 3000);
        BpeTokenizer t = BpeTokenizer.Train([word, word, word], 400, minFrequency: 1);
        for (int id = BpeTokenizer.ByteOffset; id < t.VocabularySize; id++)
        {
            Assert.True(t.TokenBytes(id).Length <= BpeTokenizer.MaxTokenBytes);
        }

        // What training produced loads again, and still encodes the word losslessly.
        var reloaded = (BpeTokenizer)Tokenizer.FromJson(t.ToJson());
        int[] ids = reloaded.Encode(word, 4000);
        Assert.Equal(word, reloaded.Decode(ids));
    }

    internal static string DoublingBomb(int merges)
    {
        var sb = new StringBuilder("{\"type\":\"bpe\",\"version\":1,\"merges\":[");
        int previous = BpeTokenizer.ByteOffset + 'a';
        for (int i = 0; i < merges; i++)
        {
            sb.Append(i == 0 ? "[" : ",[").Append(previous).Append(',').Append(previous).Append(']');
            previous = BpeTokenizer.ByteOffset + 256 + i;
        }

        return sb.Append("]}").ToString();
    }
}
