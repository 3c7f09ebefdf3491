using System;
using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Numerics.Tensors;
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
    /// <summary>Number of elements (the product of <see cref="Shape"/>; 1 for a 0-d array).</summary>
    /// <exception cref="OverflowException">The product does not fit a <see cref="long"/> (never for a header read by <see cref="Npy"/>).</exception>
    public long ElementCount
    {
        get
        {
            long count = 1;
            foreach (int d in Shape)
            {
                count = checked(count * d);
            }

            return count;
        }
    }

    /// <summary>Size of one element in bytes.</summary>
    public int ElementSize => DType is NpyDType.Float32 or NpyDType.Int32 ? 4 : 8;
}

/// <summary>
/// Reads and writes NumPy <c>.npy</c> files (format versions 1.0, 2.0 and 3.0 exactly, as NumPy's format
/// specification defines them): float32, float64, int32 and int64, little-endian, C order, 1-D and 2-D — the
/// interchange format for embeddings cached by PyTorch or JAX and for Aced's outputs. The header must be one Python
/// dictionary with exactly the keys <c>descr</c>, <c>fortran_order</c> and <c>shape</c>, each once (NumPy itself
/// would keep the last of a repeated key). Malformed, truncated, big-endian, Fortran-order or unknown-dtype files fail with an
/// <see cref="InvalidDataException"/> whose message starts with the file name and says why. Writes are atomic:
/// the data goes to a temporary file in the same directory that is flushed and then renamed over the target,
/// so a reader never sees a half-written file and a failed write leaves the old file intact. Because the target is
/// replaced by a rename, a read-only target file in a writable directory is replaced (as <c>mv</c> would on Unix; on
/// Windows the rename is refused with <see cref="UnauthorizedAccessException"/>); a target that is a directory is
/// refused with an <see cref="IOException"/>.
/// </summary>
public static class Npy
{
    private static ReadOnlySpan<byte> Magic => [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];

    /// <summary>Reads a 2-D float32 array as a <see cref="Matrix"/> (rows x columns).</summary>
    /// <param name="path">The file.</param>
    /// <param name="allowFloat64">Also accept float64 and round it to float32.</param>
    /// <exception cref="ArgumentException"><paramref name="path"/> is null or empty.</exception>
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
    /// <exception cref="ArgumentException"><paramref name="path"/> is null or empty.</exception>
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
    /// <exception cref="ArgumentException"><paramref name="path"/> is null or empty.</exception>
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
        if (header.DType is NpyDType.Int64 or NpyDType.Int32)
        {
            EnsureDataPresent(stream, header, path);
        }

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
                var result = new long[count];
                ReadConverted(stream, result.AsSpan(), path, static (ReadOnlySpan<byte> src, Span<long> dst) =>
                {
                    ReadOnlySpan<int> narrow = MemoryMarshal.Cast<byte, int>(src);
                    for (int i = 0; i < narrow.Length; i++)
                    {
                        dst[i] = narrow[i];
                    }
                }, sizeof(int));
                EnsureEnd(stream, path);
                return result;
            }

            default:
                throw Invalid(path, $"has dtype {Descr(header.DType)} but an integer array (<i8 or <i4) is required");
        }
    }

    /// <summary>Reads only the header of a file.</summary>
    /// <exception cref="ArgumentException"><paramref name="path"/> is null or empty.</exception>
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
    /// <exception cref="ArgumentNullException"><paramref name="stream"/> is null.</exception>
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
        if (major is < 1 or > 3 || prefix[7] != 0)
        {
            throw Invalid(source, $"uses .npy format version {major}.{prefix[7]}, which is not supported (NumPy's format specification defines 1.0, 2.0 and 3.0)");
        }

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
            throw Invalid(source, $"uses .npy format version {major}.{prefix[7]}, which is not supported (NumPy's format specification defines 1.0, 2.0 and 3.0)");
        }

        byte[] headerBytes = new byte[headerLength];
        ReadExactly(stream, headerBytes, source, "header");
        string text = (major == 3 ? Encoding.UTF8 : Encoding.Latin1).GetString(headerBytes);
        return ParseHeader(text, source, dataOffset);
    }

    /// <summary>Writes a 2-D float32 array atomically.</summary>
    /// <exception cref="ArgumentException"><paramref name="path"/> is null or empty.</exception>
    /// <exception cref="DirectoryNotFoundException">The directory of <paramref name="path"/> does not exist.</exception>
    /// <exception cref="IOException"><paramref name="path"/> is a directory, or the file cannot be written (the previous file, if any, is left unchanged).</exception>
    /// <exception cref="UnauthorizedAccessException">The directory (or, on Windows, a read-only target) does not permit the write; nothing is changed.</exception>
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
    /// <exception cref="ArgumentException"><paramref name="path"/> is null or empty.</exception>
    /// <exception cref="DirectoryNotFoundException">The directory of <paramref name="path"/> does not exist.</exception>
    /// <exception cref="IOException"><paramref name="path"/> is a directory, or the file cannot be written (the previous file, if any, is left unchanged).</exception>
    /// <exception cref="UnauthorizedAccessException">The directory (or, on Windows, a read-only target) does not permit the write; nothing is changed.</exception>
    public static void Write(string path, ReadOnlySpan<float> values) => WriteVector(path, "<f4", MemoryMarshal.AsBytes(values), values.Length);

    /// <summary>Writes a 1-D int64 array atomically.</summary>
    /// <exception cref="ArgumentException"><paramref name="path"/> is null or empty.</exception>
    /// <exception cref="DirectoryNotFoundException">The directory of <paramref name="path"/> does not exist.</exception>
    /// <exception cref="IOException"><paramref name="path"/> is a directory, or the file cannot be written (the previous file, if any, is left unchanged).</exception>
    /// <exception cref="UnauthorizedAccessException">The directory (or, on Windows, a read-only target) does not permit the write; nothing is changed.</exception>
    public static void Write(string path, ReadOnlySpan<long> values) => WriteVector(path, "<i8", MemoryMarshal.AsBytes(values), values.Length);

    /// <summary>Writes a 1-D int32 array atomically.</summary>
    /// <exception cref="ArgumentException"><paramref name="path"/> is null or empty.</exception>
    /// <exception cref="DirectoryNotFoundException">The directory of <paramref name="path"/> does not exist.</exception>
    /// <exception cref="IOException"><paramref name="path"/> is a directory, or the file cannot be written (the previous file, if any, is left unchanged).</exception>
    /// <exception cref="UnauthorizedAccessException">The directory (or, on Windows, a read-only target) does not permit the write; nothing is changed.</exception>
    public static void Write(string path, ReadOnlySpan<int> values) => WriteVector(path, "<i4", MemoryMarshal.AsBytes(values), values.Length);

    /// <summary>
    /// Runs <paramref name="write"/> against a temporary file beside <paramref name="path"/>, flushes it to disk and
    /// renames it over <paramref name="path"/>. On any failure the temporary file is deleted and the target is untouched.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="path"/> is null or empty.</exception>
    /// <exception cref="ArgumentNullException"><paramref name="write"/> is null.</exception>
    /// <exception cref="DirectoryNotFoundException">The directory of <paramref name="path"/> does not exist.</exception>
    /// <exception cref="IOException"><paramref name="path"/> is a directory, or the file cannot be written.</exception>
    /// <exception cref="UnauthorizedAccessException">The directory (or, on Windows, a read-only target) does not permit the write.</exception>
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
        Dictionary<string, string> entries = ParseDictionary(text, source);
        string descrText = Value(entries, "descr", source);
        bool quoted = descrText.Length >= 2 && (descrText[0] == '\'' || descrText[0] == '"') && descrText[^1] == descrText[0];
        string descr = quoted ? descrText.Substring(1, descrText.Length - 2) : descrText;
        string fortran = Value(entries, "fortran_order", source);
        string shapeText = Value(entries, "shape", source);

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

        // A Python tuple: "()" (0-d), "(3,)", "(3, 4)" or "(3, 4,)". Only the last entry may be empty (the
        // trailing comma), and only when there is at least one dimension: "(,)" and "(3,,4)" are malformed.
        string inner = shapeText.Substring(1, shapeText.Length - 2).Trim();
        string[] parts = inner.Length == 0 ? [] : inner.Split(',', StringSplitOptions.TrimEntries);
        int rank = parts.Length > 1 && parts[^1].Length == 0 ? parts.Length - 1 : parts.Length;
        int[] shape = new int[rank];
        for (int i = 0; i < rank; i++)
        {
            string part = parts[i].EndsWith('L') ? parts[i].Substring(0, parts[i].Length - 1) : parts[i];
            if (!int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out shape[i]))
            {
                throw Invalid(source, $"has a malformed or too large shape '{shapeText}' (dimensions must be non-negative integers)");
            }
        }

        // Multiply with an early exit so that shapes such as (65536, 65536, 65536, 65536) cannot wrap around to a
        // small (or zero) element count: every factor is at least 1, so the running product only grows.
        if (Array.IndexOf(shape, 0) < 0)
        {
            long count = 1;
            foreach (int d in shape)
            {
                count *= d;
                if (count > Array.MaxLength)
                {
                    throw Invalid(source, $"has shape {FormatShape(shape)} with more elements than one .NET array can hold ({Array.MaxLength})");
                }
            }
        }

        return new NpyHeader(dtype, shape, dataOffset);
    }

    private static string Value(Dictionary<string, string> entries, string key, string source) =>
        entries.TryGetValue(key, out string? value) ? value : throw Invalid(source, $"has a malformed header without a '{key}' entry");

    /// <summary>
    /// Splits the header's Python dictionary literal into raw values by key, as strict as NumPy's reader: the header
    /// is one dictionary (trailing white space allowed), keys are quoted strings, each key appears once (NumPy's
    /// <c>literal_eval</c> would silently keep the last), and the keys are exactly <c>descr</c>,
    /// <c>fortran_order</c> and <c>shape</c>. Values are quoted strings, parenthesised tuples or bare words.
    /// </summary>
    private static Dictionary<string, string> ParseDictionary(string text, string source)
    {
        var entries = new Dictionary<string, string>(3, StringComparer.Ordinal);
        string body = text.Trim();
        if (body.Length < 2 || body[0] != '{' || body[^1] != '}')
        {
            throw Invalid(source, "has a malformed header: it is not one Python dictionary literal");
        }

        int i = 1;
        int end = body.Length - 1;
        while (true)
        {
            i = SkipSpace(body, i, end);
            if (i == end)
            {
                break;
            }

            if (body[i] != '\'' && body[i] != '"')
            {
                throw Invalid(source, $"has a malformed header: expected a quoted key at position {i}");
            }

            int keyEnd = body.IndexOf(body[i], i + 1);
            if (keyEnd < 0 || keyEnd >= end)
            {
                throw Invalid(source, "has a malformed header: unterminated key");
            }

            string key = body.Substring(i + 1, keyEnd - i - 1);
            i = SkipSpace(body, keyEnd + 1, end);
            if (i == end || body[i] != ':')
            {
                throw Invalid(source, $"has a malformed header: expected ':' after '{key}'");
            }

            i = SkipSpace(body, i + 1, end);
            int valueStart = i;
            if (i < end && (body[i] == '\'' || body[i] == '"'))
            {
                int close = body.IndexOf(body[i], i + 1);
                if (close < 0 || close >= end)
                {
                    throw Invalid(source, $"has a malformed header: unterminated string for '{key}'");
                }

                i = close + 1;
            }
            else if (i < end && body[i] == '(')
            {
                int close = body.IndexOf(')', i);
                if (close < 0 || close >= end)
                {
                    throw Invalid(source, "has a malformed header: unterminated shape tuple");
                }

                i = close + 1;
            }
            else
            {
                while (i < end && body[i] != ',' && !char.IsWhiteSpace(body[i]))
                {
                    i++;
                }
            }

            string value = body.Substring(valueStart, i - valueStart);
            if (key is not ("descr" or "fortran_order" or "shape"))
            {
                throw Invalid(source, $"has a header key '{key}'; a .npy header holds exactly 'descr', 'fortran_order' and 'shape'");
            }

            if (!entries.TryAdd(key, value))
            {
                throw Invalid(source, $"has a malformed header: the key '{key}' appears more than once");
            }

            i = SkipSpace(body, i, end);
            if (i == end)
            {
                break;
            }

            if (body[i] != ',')
            {
                throw Invalid(source, $"has a malformed header: expected ',' or '}}' after the value of '{key}'");
            }

            i++;
        }

        return entries;
    }

    private static int SkipSpace(string text, int i, int end)
    {
        while (i < end && char.IsWhiteSpace(text[i]))
        {
            i++;
        }

        return i;
    }

    private static float[] ReadFloats(Stream stream, NpyHeader header, string path, bool allowFloat64)
    {
        int count = (int)header.ElementCount;
        if (header.DType == NpyDType.Float32 || (header.DType == NpyDType.Float64 && allowFloat64))
        {
            EnsureDataPresent(stream, header, path);
        }

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
                var result = new float[count];
                ReadConverted(stream, result.AsSpan(), path, static (ReadOnlySpan<byte> src, Span<float> dst) =>
                    TensorPrimitives.ConvertTruncating<double, float>(MemoryMarshal.Cast<byte, double>(src), dst), sizeof(double));
                EnsureEnd(stream, path);
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

    private delegate void Converter<T>(ReadOnlySpan<byte> source, Span<T> destination);

    /// <summary>
    /// Reads <c>destination.Length</c> elements of <paramref name="sourceSize"/> bytes each through a pooled 1 MiB
    /// buffer and converts them chunk by chunk, so a widening or narrowing read allocates only its result.
    /// </summary>
    private static void ReadConverted<T>(Stream stream, Span<T> destination, string path, Converter<T> convert, int sourceSize)
    {
        const int ChunkBytes = 1 << 20;
        int perChunk = ChunkBytes / sourceSize;
        byte[] buffer = ArrayPool<byte>.Shared.Rent(ChunkBytes);
        try
        {
            for (int start = 0; start < destination.Length; start += perChunk)
            {
                int n = Math.Min(perChunk, destination.Length - start);
                Span<byte> bytes = buffer.AsSpan(0, n * sourceSize);
                ReadExactly(stream, bytes, path);
                convert(bytes, destination.Slice(start, n));
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
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

    /// <summary>
    /// Fails with the "truncated" message before any allocation when a seekable stream holds fewer bytes than the
    /// header declares, so a corrupt or hostile header cannot make a small file allocate gigabytes.
    /// </summary>
    private static void EnsureDataPresent(Stream stream, NpyHeader header, string source)
    {
        if (!stream.CanSeek)
        {
            return;
        }

        long needed = header.ElementCount * header.ElementSize;
        long remaining = Math.Max(0, stream.Length - stream.Position);
        if (remaining < needed)
        {
            throw Invalid(source, $"is truncated: its data needs {needed} bytes but only {remaining} remain");
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
