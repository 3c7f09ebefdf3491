using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Formats.Tar;
using System.IO;
using System.IO.Compression;
using System.Text;

namespace Aced.Pipeline.Tests.Data;

/// <summary>Writes tiny PNG/BMP images and .tgz archives for the data tests (no network, no image library).</summary>
internal static class TestFiles
{
    private static readonly uint[] s_crcTable = CrcTable();

    /// <summary>A valid 8-bit RGBA PNG of <paramref name="width"/> x <paramref name="height"/>, pixel (x, y) = <paramref name="pixel"/>(x, y).</summary>
    public static byte[] Png(int width, int height, Func<int, int, (byte R, byte G, byte B, byte A)> pixel)
    {
        var raw = new MemoryStream();
        for (int y = 0; y < height; y++)
        {
            raw.WriteByte(0); // filter: none
            for (int x = 0; x < width; x++)
            {
                (byte r, byte g, byte b, byte a) = pixel(x, y);
                raw.WriteByte(r);
                raw.WriteByte(g);
                raw.WriteByte(b);
                raw.WriteByte(a);
            }
        }

        var compressed = new MemoryStream();
        using (var zlib = new ZLibStream(compressed, CompressionLevel.Fastest, leaveOpen: true))
        {
            raw.Position = 0;
            raw.CopyTo(zlib);
        }

        return PngFromChunks(width, height, compressed.ToArray());
    }

    /// <summary>A solid-colour PNG.</summary>
    public static byte[] SolidPng(int side, byte r, byte g, byte b, byte a = 255) => Png(side, side, (_, _) => (r, g, b, a));

    /// <summary>A PNG whose header claims <paramref name="width"/> x <paramref name="height"/> but whose data is a few bytes only.</summary>
    public static byte[] PngHeaderOnly(int width, int height) => PngFromChunks(width, height, [0x78, 0x9C, 0x03, 0x00]);

    /// <summary>A 24-bit bottom-up BMP, pixel (x, y) = <paramref name="pixel"/>(x, y).</summary>
    public static byte[] Bmp(int width, int height, Func<int, int, (byte R, byte G, byte B)> pixel)
    {
        int rowBytes = ((width * 3) + 3) & ~3;
        int dataBytes = rowBytes * height;
        var bytes = new byte[54 + dataBytes];
        bytes[0] = (byte)'B';
        bytes[1] = (byte)'M';
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(2), bytes.Length);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(10), 54);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(14), 40);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(18), width);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(22), height);
        BinaryPrimitives.WriteInt16LittleEndian(bytes.AsSpan(26), 1);
        BinaryPrimitives.WriteInt16LittleEndian(bytes.AsSpan(28), 24);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(34), dataBytes);
        for (int y = 0; y < height; y++)
        {
            int row = 54 + ((height - 1 - y) * rowBytes);
            for (int x = 0; x < width; x++)
            {
                (byte r, byte g, byte b) = pixel(x, y);
                bytes[row + (3 * x)] = b;
                bytes[row + (3 * x) + 1] = g;
                bytes[row + (3 * x) + 2] = r;
            }
        }

        return bytes;
    }

    /// <summary>
    /// A minimal valid baseline JPEG: 8 x 8 grey (level 128), one component, quantisation all ones, one-symbol
    /// Huffman tables (DC difference 0, AC end-of-block), entropy data "00" padded with ones.
    /// </summary>
    public static byte[] GreyJpeg8()
    {
        var jpeg = new MemoryStream();
        jpeg.Write([0xFF, 0xD8]);
        jpeg.Write([0xFF, 0xDB, 0x00, 0x43, 0x00]);
        for (int i = 0; i < 64; i++)
        {
            jpeg.WriteByte(1);
        }

        jpeg.Write([0xFF, 0xC0, 0x00, 0x0B, 0x08, 0x00, 0x08, 0x00, 0x08, 0x01, 0x01, 0x11, 0x00]);
        foreach (byte tableClass in new byte[] { 0x00, 0x10 })
        {
            jpeg.Write([0xFF, 0xC4, 0x00, 0x14, tableClass, 0x01]);
            jpeg.Write(new byte[15]);
            jpeg.WriteByte(0x00);
        }

        jpeg.Write([0xFF, 0xDA, 0x00, 0x08, 0x01, 0x01, 0x00, 0x00, 0x3F, 0x00]);
        jpeg.WriteByte(0x3F);
        jpeg.Write([0xFF, 0xD9]);
        return jpeg.ToArray();
    }

    /// <summary>Writes a .tgz holding <paramref name="entries"/> (name, bytes) as regular files, names stored as given.</summary>
    public static void Tgz(string path, IEnumerable<(string Name, byte[] Bytes)> entries)
    {
        using FileStream file = File.Create(path);
        using var gzip = new GZipStream(file, CompressionLevel.Fastest);
        using var tar = new TarWriter(gzip, TarEntryFormat.Pax, leaveOpen: false);
        foreach ((string name, byte[] bytes) in entries)
        {
            var entry = new PaxTarEntry(TarEntryType.RegularFile, name) { DataStream = new MemoryStream(bytes) };
            tar.WriteEntry(entry);
        }
    }

    /// <summary>A fresh empty directory under the temp folder.</summary>
    public static string TempDirectory()
    {
        string path = Path.Combine(Path.GetTempPath(), "aced-data-tests-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(path);
        return path;
    }

    public static byte[] Utf8(string text) => Encoding.UTF8.GetBytes(text);

    private static byte[] PngFromChunks(int width, int height, byte[] idat)
    {
        var png = new MemoryStream();
        png.Write([0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A]);
        var ihdr = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr, width);
        BinaryPrimitives.WriteInt32BigEndian(ihdr.AsSpan(4), height);
        ihdr[8] = 8; // bit depth
        ihdr[9] = 6; // RGBA
        Chunk(png, "IHDR", ihdr);
        Chunk(png, "IDAT", idat);
        Chunk(png, "IEND", []);
        return png.ToArray();
    }

    private static void Chunk(Stream stream, string type, byte[] data)
    {
        Span<byte> word = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(word, data.Length);
        stream.Write(word);
        byte[] typeBytes = Encoding.ASCII.GetBytes(type);
        stream.Write(typeBytes);
        stream.Write(data);
        uint crc = 0xFFFFFFFF;
        foreach (byte b in typeBytes)
        {
            crc = s_crcTable[(crc ^ b) & 0xFF] ^ (crc >> 8);
        }

        foreach (byte b in data)
        {
            crc = s_crcTable[(crc ^ b) & 0xFF] ^ (crc >> 8);
        }

        BinaryPrimitives.WriteUInt32BigEndian(word, crc ^ 0xFFFFFFFF);
        stream.Write(word);
    }

    private static uint[] CrcTable()
    {
        var table = new uint[256];
        for (uint n = 0; n < 256; n++)
        {
            uint c = n;
            for (int k = 0; k < 8; k++)
            {
                c = (c & 1) != 0 ? 0xEDB88320 ^ (c >> 1) : c >> 1;
            }

            table[n] = c;
        }

        return table;
    }
}
