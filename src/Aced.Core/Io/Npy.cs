using System;
using System.Buffers.Binary;
using System.Globalization;
using System.IO;
using System.Runtime.InteropServices;
using System.Text;

namespace Aced.Core;

/// <summary>Element types Aced reads and writes in <c>.npy</c> files.</summary>
public enum NpyDType
{
    /// <summary>Little-endian float32 (<c>&lt;f4</c>).</summary>
    Float32,

    /// <summary>Little-endian float64 (<c>&lt;f8</c>).</summary>
    Float64,

    /// <summary>Little-endian int32 (<c>&lt;i4</c>).</summary>
    Int32,

    /// <summary>Little-endian int64 (<c>&lt;i8</c>).</summary>
    Int64,
}

/// <summary>The parsed header of a <c>.npy</c> file.</summary>
/// <param name="DType">The element type.</param>
/// <param name="Shape">The dimensions (C order); empty for a 0-d array.</param>
/// <param name="DataOffset">Byte offset of the first element.</param>
public sealed record NpyHeader(NpyDType DType, int[] Shape, long DataOffset)
{
    /// <summary>Number of elements (the product of <see cref="Shape"/>).</summary>
    public long ElementCount
    {
        get
        {
            long count = 1;
            foreach (int d in Shape)
            {
                count *= d;
            }

            return count;
        }
    }

    /// <summary>Size of one element in bytes.</summary>
    public int ElementSize => DType is NpyDType.Float32 or NpyDType.Int32 ? 4 : 8;
}

/// <summary>
/// Reads and writes NumPy <c>.npy</c> files (format versions 1.0, 2.0 and 3.0): float32, float64, int32 and int64,
/// little-endian, C order, 1-D and 2-D — the interchange format for embeddings cached by PyTorch or JAX and for
/// Aced's outputs. Malformed, truncated, big-endian, Fortran-order or unknown-dtype files fail with an
/// <see cref="InvalidDataException"/> whose message starts with the file name and says why. Writes are atomic:
/// the data goes to a temporary file in the same directory that is flushed and then renamed over the target,
/// so a reader never sees a half-written file and a failed write leaves the old file intact.
/// </summary>
public static class Npy
{
    private static ReadOnlySpan<byte> Magic => [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];

    /// <summary>Reads a 2-D float32 array as a <see cref="Matrix"/> (rows x columns).</summary>
    /// <param name="path">The file.</param>
    /// <param name="allowFloat64">Also accept float64 and round it to float32.</param>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">The file is not a valid 2-D array of an accepted dtype.</exception>
    public static Matrix ReadMatrix(string path, bool allowFloat64 = false)
    {
        using FileStream stream = OpenRead(path);
        NpyHeader header = ReadHeader(stream, path);
        if (header.Shape.Length != 2)
        {
            throw Invalid(path, $"has shape {FormatShape(header.Shape)} but a 2-D array (rows = examples) is required");
        }

        float[] data = ReadFloats(stream, header, path, allowFloat64);
        return new Matrix(header.Shape[0], header.Shape[1], data);
    }

    /// <summary>Reads a 1-D float32 array.</summary>
    /// <param name="path">The file.</param>
    /// <param name="allowFloat64">Also accept float64 and round it to float32.</param>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">The file is not a valid 1-D array of an accepted dtype.</exception>
    public static float[] ReadVector(string path, bool allowFloat64 = false)
    {
        using FileStream stream = OpenRead(path);
        NpyHeader header = ReadHeader(stream, path);
        if (header.Shape.Length != 1)
        {
            throw Invalid(path, $"has shape {FormatShape(header.Shape)} but a 1-D array is required");
        }

        return ReadFloats(stream, header, path, allowFloat64);
    }

    /// <summary>Reads a 1-D int64 array (int32 files are widened).</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">The file is not a valid 1-D integer array.</exception>
    public static long[] ReadInt64(string path)
    {
        using FileStream stream = OpenRead(path);
        NpyHeader header = ReadHeader(stream, path);
        if (header.Shape.Length != 1)
        {
            throw Invalid(path, $"has shape {FormatShape(header.Shape)} but a 1-D array is required");
        }

        int count = header.Shape[0];
        switch (header.DType)
        {
            case NpyDType.Int64:
            {
                var result = new long[count];
                ReadExactly(stream, MemoryMarshal.AsBytes(result.AsSpan()), path);
                EnsureEnd(stream, path);
                return result;
            }

            case NpyDType.Int32:
            {
                var narrow = new int[count];
                ReadExactly(stream, MemoryMarshal.AsBytes(narrow.AsSpan()), path);
                EnsureEnd(stream, path);
                var result = new long[count];
                for (int i = 0; i < count; i++)
                {
                    result[i] = narrow[i];
                }

                return result;
            }

            default:
                throw Invalid(path, $"has dtype {Descr(header.DType)} but an integer array (<i8 or <i4) is required");
        }
    }

    /// <summary>Reads only the header of a file.</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">The header is malformed or unsupported.</exception>
    public static NpyHeader ReadHeader(string path)
    {
        using FileStream stream = OpenRead(path);
        return ReadHeader(stream, path);
    }

    /// <summary>
    /// Parses a header from <paramref name="stream"/>, leaving the stream at the first data byte.
    /// <paramref name="source"/> names the data in error messages.
    /// </summary>
    /// <exception cref="InvalidDataException">The header is malformed or unsupported.</exception>
    public static NpyHeader ReadHeader(Stream stream, string source)
    {
        ArgumentNullException.ThrowIfNull(stream);
        Span<byte> prefix = stackalloc byte[8];
        ReadExactly(stream, prefix, source, "header");
        if (!prefix.Slice(0, 6).SequenceEqual(Magic))
        {
            throw Invalid(source, "is not a .npy file (missing the \\x93NUMPY magic string)");
        }

        byte major = prefix[6];
        int headerLength;
        long dataOffset;
        if (major == 1)
        {
            Span<byte> len = stackalloc byte[2];
            ReadExactly(stream, len, source, "header");
            headerLength = BinaryPrimitives.ReadUInt16LittleEndian(len);
            dataOffset = 10 + headerLength;
        }
        else if (major is 2 or 3)
        {
            Span<byte> len = stackalloc byte[4];
            ReadExactly(stream, len, source, "header");
            uint raw = BinaryPrimitives.ReadUInt32LittleEndian(len);
            if (raw > 1 << 20)
            {
                throw Invalid(source, $"declares an implausible header length of {raw} bytes");
            }

            headerLength = (int)raw;
            dataOffset = 12 + headerLength;
        }
        else
        {
            throw Invalid(source, $"uses .npy format version {major}.{prefix[7]}, which is not supported (1.x, 2.x and 3.x are)");
        }

        byte[] headerBytes = new byte[headerLength];
        ReadExactly(stream, headerBytes, source, "header");
        string text = (major == 3 ? Encoding.UTF8 : Encoding.Latin1).GetString(headerBytes);
        return ParseHeader(text, source, dataOffset);
    }

    /// <summary>Writes a 2-D float32 array atomically.</summary>
    /// <exception cref="IOException">The file cannot be written (the previous file, if any, is left unchanged).</exception>
    public static void Write(string path, MatrixView matrix)
    {
        WriteAtomic(path, stream =>
        {
            WriteHeader(stream, "<f4", $"({matrix.Rows}, {matrix.Columns})");
            for (int r = 0; r < matrix.Rows; r++)
            {
                stream.Write(MemoryMarshal.AsBytes(matrix.Row(r)));
            }
        });
    }

    /// <summary>Writes a 1-D float32 array atomically.</summary>
    /// <exception cref="IOException">The file cannot be written (the previous file, if any, is left unchanged).</exception>
    public static void Write(string path, ReadOnlySpan<float> values) => WriteVector(path, "<f4", MemoryMarshal.AsBytes(values), values.Length);

    /// <summary>Writes a 1-D int64 array atomically.</summary>
    /// <exception cref="IOException">The file cannot be written (the previous file, if any, is left unchanged).</exception>
    public static void Write(string path, ReadOnlySpan<long> values) => WriteVector(path, "<i8", MemoryMarshal.AsBytes(values), values.Length);

    /// <summary>Writes a 1-D int32 array atomically.</summary>
    /// <exception cref="IOException">The file cannot be written (the previous file, if any, is left unchanged).</exception>
    public static void Write(string path, ReadOnlySpan<int> values) => WriteVector(path, "<i4", MemoryMarshal.AsBytes(values), values.Length);

    /// <summary>
    /// Runs <paramref name="write"/> against a temporary file beside <paramref name="path"/>, flushes it to disk and
    /// renames it over <paramref name="path"/>. On any failure the temporary file is deleted and the target is untouched.
    /// </summary>
    /// <exception cref="IOException">The file cannot be written.</exception>
    public static void WriteAtomic(string path, Action<FileStream> write)
    {
        ArgumentNullException.ThrowIfNull(write);
        FileStream stream = CreateTemp(path, out string temp, out string full);
        try
        {
            using (stream)
            {
                write(stream);
                stream.Flush(flushToDisk: true);
            }

            File.Move(temp, full, overwrite: true);
        }
        catch
        {
            TryDelete(temp);
            throw;
        }
    }

    private static void WriteVector(string path, string descr, ReadOnlySpan<byte> bytes, int length)
    {
        // A span cannot be captured by WriteAtomic's callback, so this repeats its three steps inline.
        FileStream stream = CreateTemp(path, out string temp, out string full);
        try
        {
            using (stream)
            {
                WriteHeader(stream, descr, $"({length},)");
                stream.Write(bytes);
                stream.Flush(flushToDisk: true);
            }

            File.Move(temp, full, overwrite: true);
        }
        catch
        {
            TryDelete(temp);
            throw;
        }
    }

    private static FileStream CreateTemp(string path, out string temp, out string full)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        full = Path.GetFullPath(path);
        string directory = Path.GetDirectoryName(full) ?? ".";
        if (!Directory.Exists(directory))
        {
            throw new DirectoryNotFoundException($"{path}: the directory {directory} does not exist");
        }

        if (Directory.Exists(full))
        {
            throw new IOException($"{path}: is a directory, not a file");
        }

        temp = Path.Combine(directory, $".{Path.GetFileName(full)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        return new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16);
    }

    private static void WriteHeader(Stream stream, string descr, string shape)
    {
        string dict = $"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}";
        // Version 1.0: magic(6) + version(2) + length(2) + header, padded with spaces so that the data starts on a
        // 64-byte boundary, terminated by '\n'.
        int unpadded = 10 + dict.Length + 1;
        int total = (unpadded + 63) / 64 * 64;
        string header = dict + new string(' ', total - unpadded) + "\n";
        Span<byte> prefix = stackalloc byte[10];
        Magic.CopyTo(prefix);
        prefix[6] = 1;
        prefix[7] = 0;
        BinaryPrimitives.WriteUInt16LittleEndian(prefix.Slice(8), (ushort)header.Length);
        stream.Write(prefix);
        stream.Write(Encoding.ASCII.GetBytes(header));
    }

    private static NpyHeader ParseHeader(string text, string source, long dataOffset)
    {
        string descr = ExtractValue(text, "descr", source).Trim().Trim('\'', '"');
        string fortran = ExtractValue(text, "fortran_order", source).Trim();
        string shapeText = ExtractValue(text, "shape", source).Trim();

        if (fortran == "True")
        {
            throw Invalid(source, "is stored in Fortran (column-major) order; save it in C order (numpy.ascontiguousarray) first");
        }

        if (fortran != "False")
        {
            throw Invalid(source, $"has an unreadable fortran_order value '{fortran}'");
        }

        NpyDType dtype = descr switch
        {
            "<f4" => NpyDType.Float32,
            "<f8" => NpyDType.Float64,
            "<i4" => NpyDType.Int32,
            "<i8" => NpyDType.Int64,
            ">f4" or ">f8" or ">i4" or ">i8" => throw Invalid(source, $"is big-endian ({descr}); convert it to little-endian (array.astype('<{descr.Substring(1)}')) first"),
            _ => throw Invalid(source, $"has dtype '{descr}', which is not supported (float32, float64, int32 and int64, little-endian, are)"),
        };

        if (!shapeText.StartsWith('(') || !shapeText.EndsWith(')'))
        {
            throw Invalid(source, $"has a malformed shape '{shapeText}'");
        }

        string[] parts = shapeText.Substring(1, shapeText.Length - 2).Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        int[] shape = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
        {
            string part = parts[i].TrimEnd('L');
            if (!int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out shape[i]))
            {
                throw Invalid(source, $"has a malformed or too large shape '{shapeText}'");
            }
        }

        var header = new NpyHeader(dtype, shape, dataOffset);
        if (header.ElementCount > Array.MaxLength)
        {
            throw Invalid(source, $"has {header.ElementCount} elements, more than one .NET array can hold");
        }

        return header;
    }

    private static string ExtractValue(string text, string key, string source)
    {
        int keyAt = text.IndexOf($"'{key}'", StringComparison.Ordinal);
        if (keyAt < 0)
        {
            keyAt = text.IndexOf($"\"{key}\"", StringComparison.Ordinal);
        }

        if (keyAt < 0)
        {
            throw Invalid(source, $"has a malformed header without a '{key}' entry");
        }

        int colon = text.IndexOf(':', keyAt + key.Length + 2);
        if (colon < 0)
        {
            throw Invalid(source, $"has a malformed header near '{key}'");
        }

        int start = colon + 1;
        int end;
        string rest = text.Substring(start).TrimStart();
        start = text.Length - rest.Length;
        if (rest.StartsWith('('))
        {
            end = text.IndexOf(')', start);
            if (end < 0)
            {
                throw Invalid(source, "has a malformed header: unterminated shape tuple");
            }

            return text.Substring(start, end - start + 1);
        }

        if (rest.StartsWith('\'') || rest.StartsWith('"'))
        {
            end = text.IndexOf(rest[0], start + 1);
            if (end < 0)
            {
                throw Invalid(source, $"has a malformed header: unterminated string for '{key}'");
            }

            return text.Substring(start, end - start + 1);
        }

        end = start;
        while (end < text.Length && text[end] != ',' && text[end] != '}')
        {
            end++;
        }

        return text.Substring(start, end - start);
    }

    private static float[] ReadFloats(Stream stream, NpyHeader header, string path, bool allowFloat64)
    {
        int count = (int)header.ElementCount;
        switch (header.DType)
        {
            case NpyDType.Float32:
            {
                var result = new float[count];
                ReadExactly(stream, MemoryMarshal.AsBytes(result.AsSpan()), path);
                EnsureEnd(stream, path);
                return result;
            }

            case NpyDType.Float64 when allowFloat64:
            {
                var wide = new double[count];
                ReadExactly(stream, MemoryMarshal.AsBytes(wide.AsSpan()), path);
                EnsureEnd(stream, path);
                var result = new float[count];
                for (int i = 0; i < count; i++)
                {
                    result[i] = (float)wide[i];
                }

                return result;
            }

            case NpyDType.Float64:
                throw Invalid(path, "has dtype float64 (<f8) but float32 is required; save it as float32 or allow float64 conversion");

            default:
                throw Invalid(path, $"has dtype {Descr(header.DType)} but a float array is required");
        }
    }

    private static FileStream OpenRead(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"{path}: file not found", path);
        }

        return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
    }

    private static void ReadExactly(Stream stream, Span<byte> buffer, string source, string part = "data")
    {
        int total = 0;
        while (total < buffer.Length)
        {
            int read = stream.Read(buffer.Slice(total));
            if (read == 0)
            {
                throw Invalid(source, $"is truncated: its {part} needs {buffer.Length} bytes but only {total} remain");
            }

            total += read;
        }
    }

    private static void EnsureEnd(Stream stream, string source)
    {
        if (stream.CanSeek && stream.Position != stream.Length)
        {
            throw Invalid(source, $"has {stream.Length - stream.Position} unexpected bytes after the data the header declares");
        }
    }

    private static string Descr(NpyDType dtype) => dtype switch
    {
        NpyDType.Float32 => "float32 (<f4)",
        NpyDType.Float64 => "float64 (<f8)",
        NpyDType.Int32 => "int32 (<i4)",
        _ => "int64 (<i8)",
    };

    private static string FormatShape(int[] shape) => "(" + string.Join(", ", shape) + (shape.Length == 1 ? ",)" : ")");

    private static InvalidDataException Invalid(string source, string reason) => new($"{source}: {reason}");

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
