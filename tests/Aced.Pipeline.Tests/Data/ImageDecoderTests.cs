using System;
using Aced.Pipeline.Data;

namespace Aced.Pipeline.Tests.Data;

public class ImageDecoderTests
{
    private static readonly DataOptions s_options = new();

    [Fact]
    public void Decode_SolidPng_EveryPixelIsTheColourInMinusOneToOne()
    {
        byte[] png = TestFiles.SolidPng(10, 255, 0, 51);
        var chw = new float[3 * 4 * 4];
        ImageDecoder.Decode(png, "solid.png", s_options, 4, chw);
        for (int p = 0; p < 16; p++)
        {
            Assert.Equal(1f, chw[p], 5);
            Assert.Equal(-1f, chw[16 + p], 5);
            Assert.Equal((2f * 51f / 255f) - 1f, chw[32 + p], 5);
        }
    }

    [Fact]
    public void Decode_TransparentPixels_ShowTheBackground()
    {
        byte[] png = TestFiles.SolidPng(4, 255, 255, 255, 0);
        var chw = new float[3 * 2 * 2];
        ImageDecoder.Decode(png, "clear.png", s_options, 2, chw);
        foreach (float v in chw)
        {
            Assert.Equal((2f * ImageDecoder.Background) - 1f, v, 5);
        }
    }

    [Fact]
    public void ToChw_HalvingACheckerboard_AveragesEachBlock()
    {
        // 4x4: left half white, right half black, top-left 2x2 block half grey pattern.
        var rgba = new byte[4 * 4 * 4];
        for (int y = 0; y < 4; y++)
        {
            for (int x = 0; x < 4; x++)
            {
                byte v = x < 2 ? (byte)255 : (byte)0;
                if (x < 2 && y < 2 && ((x + y) & 1) == 1)
                {
                    v = 0;
                }

                int p = ((y * 4) + x) * 4;
                rgba[p] = rgba[p + 1] = rgba[p + 2] = v;
                rgba[p + 3] = 255;
            }
        }

        var chw = new float[3 * 2 * 2];
        ImageDecoder.ToChw(rgba, 4, 4, 2, chw);
        Assert.Equal(0f, chw[0], 5);   // top-left: half white -> 0.5 -> 0
        Assert.Equal(-1f, chw[1], 5);  // top-right: black
        Assert.Equal(1f, chw[2], 5);   // bottom-left: white
        Assert.Equal(-1f, chw[3], 5);  // bottom-right
    }

    [Fact]
    public void ToChw_WideImage_KeepsTheCentreSquare()
    {
        // 6x2: columns 0,1 and 4,5 red; columns 2,3 blue -> the centre 2x2 square is blue.
        var rgba = new byte[6 * 2 * 4];
        for (int y = 0; y < 2; y++)
        {
            for (int x = 0; x < 6; x++)
            {
                int p = ((y * 6) + x) * 4;
                bool centre = x is 2 or 3;
                rgba[p] = centre ? (byte)0 : (byte)255;
                rgba[p + 2] = centre ? (byte)255 : (byte)0;
                rgba[p + 3] = 255;
            }
        }

        var chw = new float[3 * 3 * 3];
        ImageDecoder.ToChw(rgba, 6, 2, 3, chw);
        for (int p = 0; p < 9; p++)
        {
            Assert.Equal(-1f, chw[p], 5);
            Assert.Equal(1f, chw[18 + p], 5);
        }
    }

    [Theory]
    [InlineData(1, 5)]
    [InlineData(7, 3)]
    [InlineData(64, 32)]
    [InlineData(64, 24)]
    [InlineData(5, 5)]
    public void ToChw_AnySizes_PreserveTheMeanAndStayInRange(int source, int target)
    {
        var rng = new Random(source * 31 + target);
        var rgba = new byte[source * source * 4];
        rng.NextBytes(rgba);
        for (int p = 3; p < rgba.Length; p += 4)
        {
            rgba[p] = 255;
        }

        var chw = new float[3 * target * target];
        ImageDecoder.ToChw(rgba, source, source, target, chw);
        double expected = 0;
        for (int p = 0; p < rgba.Length; p += 4)
        {
            expected += (2.0 * rgba[p] / 255.0) - 1.0;
        }

        expected /= source * source;
        double actual = 0;
        for (int p = 0; p < target * target; p++)
        {
            Assert.InRange(chw[p], -1f, 1f);
            actual += chw[p];
        }

        actual /= target * target;
        Assert.Equal(expected, actual, 3);
    }

    [Fact]
    public void Decode_Bmp_Decodes()
    {
        byte[] bmp = TestFiles.Bmp(3, 3, (x, y) => (0, 255, 0));
        var chw = new float[3 * 3 * 3];
        ImageDecoder.Decode(bmp, "g.bmp", s_options, 3, chw);
        Assert.Equal(-1f, chw[0], 5);
        Assert.Equal(1f, chw[9], 5);
    }

    [Fact]
    public void Decode_HeaderAboveMaxSide_RejectedBeforeDecoding()
    {
        byte[] png = TestFiles.PngHeaderOnly(100_000, 3);
        var ex = Assert.Throws<DataException>(() => ImageDecoder.Decode(png, "huge.png", s_options, 4, new float[48]));
        Assert.Equal("huge.png", ex.FilePath);
        Assert.Contains("100000x3", ex.Message, StringComparison.Ordinal);
        Assert.Contains(nameof(DataOptions.MaxImageSide), ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Decode_AboveMaxBytes_Rejected()
    {
        byte[] png = TestFiles.SolidPng(8, 1, 2, 3);
        var options = new DataOptions { MaxImageBytes = 10 };
        var ex = Assert.Throws<DataException>(() => ImageDecoder.Decode(png, "big.png", options, 4, new float[48]));
        Assert.Contains(nameof(DataOptions.MaxImageBytes), ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Decode_TruncatedPng_Rejected()
    {
        byte[] png = TestFiles.Png(16, 16, (x, y) => ((byte)(x * 13), (byte)(y * 7), (byte)(x ^ y), 255));
        byte[] truncated = png.AsSpan(0, png.Length / 2).ToArray();
        var ex = Assert.Throws<DataException>(() => ImageDecoder.Decode(truncated, "cut.png", s_options, 4, new float[48]));
        Assert.StartsWith("cut.png: ", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("GIF89a-not-supported")]
    [InlineData("hello, I am a text file")]
    [InlineData("")]
    public void Decode_UnsupportedFormat_Rejected(string content)
    {
        var ex = Assert.Throws<DataException>(() => ImageDecoder.Decode(TestFiles.Utf8(content), "x.gif", s_options, 4, new float[48]));
        Assert.Contains("PNG, JPEG or BMP", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Decode_CorruptPngBody_Rejected()
    {
        byte[] png = TestFiles.SolidPng(8, 9, 9, 9);
        for (int i = 40; i < png.Length - 12; i++)
        {
            png[i] ^= 0x5A;
        }

        Assert.Throws<DataException>(() => ImageDecoder.Decode(png, "bad.png", s_options, 4, new float[48]));
    }

    [Fact]
    public void Decode_CorruptJpeg_Rejected()
    {
        byte[] jpeg = [0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, (byte)'J', (byte)'F', (byte)'I', (byte)'F', 0, 1, 1, 0, 0, 1];
        var ex = Assert.Throws<DataException>(() => ImageDecoder.Decode(jpeg, "bad.jpg", s_options, 4, new float[48]));
        Assert.Contains("JPEG", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Decode_MinimalJpeg_DecodesToGrey()
    {
        var chw = new float[3 * 4 * 4];
        ImageDecoder.Decode(TestFiles.GreyJpeg8(), "grey.jpg", s_options, 4, chw);
        foreach (float v in chw)
        {
            Assert.Equal((2f * 128f / 255f) - 1f, v, 2);
        }
    }

    public static TheoryData<string> Formats() => new() { "png", "bmp", "jpeg" };

    [Theory]
    [MemberData(nameof(Formats))]
    public async System.Threading.Tasks.Task Decode_EveryTruncation_FailsCleanlyOrDecodes_NeverHangs(string format)
    {
        byte[] full = format switch
        {
            "png" => TestFiles.Png(9, 7, (x, y) => ((byte)(x * 20), (byte)(y * 30), 7, 255)),
            "bmp" => TestFiles.Bmp(9, 7, (x, y) => ((byte)(x * 20), (byte)(y * 30), 7)),
            _ => TestFiles.GreyJpeg8(),
        };
        for (int length = 0; length < full.Length; length++)
        {
            byte[] prefix = full.AsSpan(0, length).ToArray();
            var work = System.Threading.Tasks.Task.Run(() =>
            {
                try
                {
                    ImageDecoder.Decode(prefix, "cut", s_options, 4, new float[48]);
                }
                catch (DataException)
                {
                }
            });
            System.Threading.Tasks.Task first = await System.Threading.Tasks.Task.WhenAny(work, System.Threading.Tasks.Task.Delay(TimeSpan.FromSeconds(10)));
            Assert.True(first == work, $"{format} truncated to {length} of {full.Length} bytes did not finish");
            await work;
        }
    }
}
