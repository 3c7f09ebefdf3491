using System;
using System.Buffers.Binary;
using System.IO;
using System.Linq;
using System.Text;
using Aced.Core;
using FsCheck;
using FsCheck.Fluent;

namespace Aced.Core.Tests.Io;

public sealed class NpyTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("aced-npy-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string PathOf(string name) => Path.Combine(_dir, name);

    /// <summary>Builds a file the way numpy.save does (format 1.0 unless told otherwise).</summary>
    private static byte[] NumpyFile(string dict, byte[] payload, int major = 1)
    {
        int prefix = major == 1 ? 10 : 12;
        int unpadded = prefix + dict.Length + 1;
        int total = (unpadded + 63) / 64 * 64;
        string header = dict + new string(' ', total - unpadded) + "\n";
        var bytes = new byte[prefix + header.Length + payload.Length];
        new byte[] { 0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y' }.CopyTo(bytes, 0);
        bytes[6] = (byte)major;
        bytes[7] = 0;
        if (major == 1)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(8), (ushort)header.Length);
        }
        else
        {
            BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(8), (uint)header.Length);
        }

        Encoding.ASCII.GetBytes(header).CopyTo(bytes, prefix);
        payload.CopyTo(bytes, prefix + header.Length);
        return bytes;
    }

    private static byte[] Floats(params float[] values) => values.SelectMany(BitConverter.GetBytes).ToArray();

    [Fact]
    public void ReadMatrix_NumpyWrittenFloat32_ReadsRowMajorValues()
    {
        string path = PathOf("a.npy");
        File.WriteAllBytes(path, NumpyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", Floats(1, 2, 3, 4, 5, 6)));

        Matrix m = Npy.ReadMatrix(path);

        Assert.Equal(2, m.Rows);
        Assert.Equal(3, m.Columns);
        Assert.Equal(new float[] { 1, 2, 3, 4, 5, 6 }, m.Data);
    }

    [Fact]
    public void ReadMatrix_Version2Header_IsAccepted()
    {
        string path = PathOf("v2.npy");
        File.WriteAllBytes(path, NumpyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2), }", Floats(7, 8), major: 2));

        Assert.Equal(new float[] { 7, 8 }, Npy.ReadMatrix(path).Data);
    }

    [Fact]
    public void ReadMatrix_Float64_RequiresOptIn()
    {
        string path = PathOf("f8.npy");
        byte[] payload = new double[] { 0.5, 1e-3 }.SelectMany(BitConverter.GetBytes).ToArray();
        File.WriteAllBytes(path, NumpyFile("{'descr': '<f8', 'fortran_order': False, 'shape': (1, 2), }", payload));

        var ex = Assert.Throws<InvalidDataException>(() => Npy.ReadMatrix(path));
        Assert.StartsWith(path, ex.Message);
        Assert.Contains("float64", ex.Message);
        Assert.Equal(new float[] { 0.5f, 1e-3f }, Npy.ReadMatrix(path, allowFloat64: true).Data);
    }

    [Theory]
    [InlineData("{'descr': '>f4', 'fortran_order': False, 'shape': (1, 1), }", "big-endian")]
    [InlineData("{'descr': '<f4', 'fortran_order': True, 'shape': (1, 1), }", "Fortran")]
    [InlineData("{'descr': '<c8', 'fortran_order': False, 'shape': (1, 1), }", "not supported")]
    [InlineData("{'descr': '<f4', 'fortran_order': False, }", "'shape'")]
    [InlineData("{'descr': '<f4', 'fortran_order': False, 'shape': (1, x), }", "malformed")]
    [InlineData("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", "2-D")]
    public void ReadMatrix_BadHeader_NamesFileAndReason(string dict, string reason)
    {
        string path = PathOf("bad.npy");
        File.WriteAllBytes(path, NumpyFile(dict, Floats(1, 2, 3, 4)));

        var ex = Assert.Throws<InvalidDataException>(() => Npy.ReadMatrix(path));

        Assert.StartsWith(path, ex.Message);
        Assert.Contains(reason, ex.Message);
    }

    [Theory]
    [InlineData("{'descr': '<f4', 'fortran_order': False, 'shape': (3,,4), }", "malformed")]
    [InlineData("{'descr': '<f4', 'fortran_order': False, 'shape': (,), }", "malformed")]
    [InlineData("{'descr': '<f4', 'fortran_order': False, 'shape': (,4), }", "malformed")]
    [InlineData("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }", "non-negative")]
    [InlineData("{'descr': '<f4', 'fortran_order': False, 'shape': (65536, 65536, 65536, 65536), }", "more elements")]
    [InlineData("{'descr': '<f4', 'fortran_order': False, 'shape': (2147483647, 2), }", "more elements")]
    [InlineData("{'descr': \"<f4'\", 'fortran_order': False, 'shape': (1,), }", "not supported")]
    [InlineData("{'descr': '<f4', 'shape': (1,), }", "'fortran_order'")]
    public void ReadHeader_AdversarialHeader_IsRejectedNamingFile(string dict, string reason)
    {
        // (3,,4) and (,) used to parse as (3, 4) and (); 65536^4 wrapped to an element count of 0; "<f4'" had its
        // mismatched quotes trimmed away and was read as float32.
        string path = PathOf("adversarial.npy");
        File.WriteAllBytes(path, NumpyFile(dict, Floats(1)));

        var ex = Assert.Throws<InvalidDataException>(() => Npy.ReadHeader(path));

        Assert.StartsWith(path, ex.Message);
        Assert.Contains(reason, ex.Message);
    }

    [Theory]
    [InlineData("()", new int[0], 1L)]
    [InlineData("(5,)", new[] { 5 }, 5L)]
    [InlineData("(5, )", new[] { 5 }, 5L)]
    [InlineData("(2, 3,)", new[] { 2, 3 }, 6L)]
    [InlineData("(2L, 3L)", new[] { 2, 3 }, 6L)]
    [InlineData("(0, 7)", new[] { 0, 7 }, 0L)]
    [InlineData("(2147483647, 0, 2147483647)", new[] { 2147483647, 0, 2147483647 }, 0L)]
    public void ReadHeader_ValidShapeSpellings_AreParsed(string shape, int[] expected, long count)
    {
        string path = PathOf("shape.npy");
        File.WriteAllBytes(path, NumpyFile($"{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}", Array.Empty<byte>()));

        NpyHeader header = Npy.ReadHeader(path);

        Assert.Equal(expected, header.Shape);
        Assert.Equal(count, header.ElementCount);
    }

    [Fact]
    public void ReadMatrix_ZeroDimensionalArray_NamesShape()
    {
        string path = PathOf("scalar.npy");
        File.WriteAllBytes(path, NumpyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (), }", Floats(3)));

        var ex = Assert.Throws<InvalidDataException>(() => Npy.ReadMatrix(path));

        Assert.Contains("()", ex.Message);
        Assert.Contains("2-D", ex.Message);
    }

    [Fact]
    public void ReadVector_LargeFloat64_ConvertsInChunksWithOneAllocation()
    {
        // 300001 doubles span three 1 MiB conversion chunks; the result must equal the (float) cast of every value
        // (round to nearest, including values halfway between floats), and the read used to allocate a temporary
        // double[] as large as the file on top of the result.
        const int n = 300_001;
        var rng = new System.Random(12);
        var values = new double[n];
        for (int i = 0; i < n; i++)
        {
            values[i] = (rng.NextDouble() - 0.5) * Math.Pow(10, rng.Next(-40, 40));
        }

        values[0] = 1.0 + Math.Pow(2, -24); // halfway between 1 and the next float: rounds to even (1)
        values[1] = 1.0 + (3 * Math.Pow(2, -24)); // halfway, rounds up
        values[2] = 1e300; // overflows float: +Inf
        string path = PathOf("wide.npy");
        File.WriteAllBytes(path, NumpyFile($"{{'descr': '<f8', 'fortran_order': False, 'shape': ({n},), }}", System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()).ToArray()));

        Npy.ReadVector(path, allowFloat64: true); // warm up (pool, file system caches)
        long before = GC.GetAllocatedBytesForCurrentThread();
        float[] read = Npy.ReadVector(path, allowFloat64: true);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        for (int i = 0; i < n; i++)
        {
            Assert.Equal(BitConverter.SingleToInt32Bits((float)values[i]), BitConverter.SingleToInt32Bits(read[i]));
        }

        Assert.True(allocated < ((long)n * sizeof(float)) + (256 << 10), $"allocated {allocated} bytes for a {n * sizeof(float)}-byte result");
    }

    [Fact]
    public void ReadInt64_LargeInt32File_WidensWithOneAllocation()
    {
        const int n = 600_001;
        var values = new int[n];
        for (int i = 0; i < n; i++)
        {
            values[i] = (i * 7919) - (n / 2) + (i % 2 == 0 ? int.MinValue / 2 : 0);
        }

        values[^1] = int.MinValue;
        string path = PathOf("narrow.npy");
        File.WriteAllBytes(path, NumpyFile($"{{'descr': '<i4', 'fortran_order': False, 'shape': ({n},), }}", System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()).ToArray()));

        Npy.ReadInt64(path);
        long before = GC.GetAllocatedBytesForCurrentThread();
        long[] read = Npy.ReadInt64(path);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        for (int i = 0; i < n; i++)
        {
            Assert.Equal(values[i], read[i]);
        }

        Assert.True(allocated < ((long)n * sizeof(long)) + (256 << 10), $"allocated {allocated} bytes for a {n * sizeof(long)}-byte result");
    }

    [Fact]
    public void ReadMatrix_TruncatedData_SaysTruncated()
    {
        string path = PathOf("short.npy");
        File.WriteAllBytes(path, NumpyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", Floats(1, 2, 3)));

        var ex = Assert.Throws<InvalidDataException>(() => Npy.ReadMatrix(path));

        Assert.Contains("truncated", ex.Message);
    }

    [Theory]
    [InlineData("{'descr': '<f4', 'fortran_order': False, 'shape': (500000000,), }")]
    [InlineData("{'descr': '<f8', 'fortran_order': False, 'shape': (250000000,), }")]
    [InlineData("{'descr': '<i8', 'fortran_order': False, 'shape': (250000000,), }")]
    [InlineData("{'descr': '<i4', 'fortran_order': False, 'shape': (500000000,), }")]
    public void ReadVector_HugeDeclaredShapeInTinyFile_FailsBeforeAllocating(string dict)
    {
        // A corrupt header declaring 2 GB of data in a 4-byte payload used to allocate the whole array first.
        string path = PathOf("huge.npy");
        File.WriteAllBytes(path, NumpyFile(dict, Floats(1)));

        long before = GC.GetAllocatedBytesForCurrentThread();
        var ex = Assert.Throws<InvalidDataException>(() =>
        {
            if (dict.Contains("<i"))
            {
                Npy.ReadInt64(path);
            }
            else
            {
                Npy.ReadVector(path, allowFloat64: true);
            }
        });
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.StartsWith(path, ex.Message);
        Assert.Contains("truncated", ex.Message);
        Assert.True(allocated < 4 << 20, $"allocated {allocated} bytes before rejecting the file");
    }

    [Fact]
    public void ReadMatrix_TrailingBytes_AreRejected()
    {
        string path = PathOf("long.npy");
        File.WriteAllBytes(path, NumpyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2), }", Floats(1, 2, 3)));

        var ex = Assert.Throws<InvalidDataException>(() => Npy.ReadMatrix(path));

        Assert.Contains("unexpected bytes", ex.Message);
    }

    [Theory]
    [InlineData(new byte[0])]
    [InlineData(new byte[] { 0x93, (byte)'N', (byte)'U' })]
    [InlineData(new byte[] { (byte)'P', (byte)'K', 3, 4, 0, 0, 0, 0, 0, 0 })]
    public void ReadHeader_NotNpy_IsRejected(byte[] content)
    {
        string path = PathOf("junk.npy");
        File.WriteAllBytes(path, content);

        var ex = Assert.Throws<InvalidDataException>(() => Npy.ReadHeader(path));

        Assert.StartsWith(path, ex.Message);
    }

    [Fact]
    public void ReadHeader_UnknownVersion_IsRejected()
    {
        string path = PathOf("v9.npy");
        byte[] bytes = NumpyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", Floats(1));
        bytes[6] = 9;
        File.WriteAllBytes(path, bytes);

        var ex = Assert.Throws<InvalidDataException>(() => Npy.ReadHeader(path));

        Assert.Contains("version 9", ex.Message);
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(2, 7)]
    [InlineData(3, 1)]
    [InlineData(0, 0)]
    [InlineData(4, 0)]
    public void ReadHeader_VersionOutsideNumpySpec_IsRejected(int major, int minor)
    {
        // NumPy's format spec defines exactly 1.0, 2.0 and 3.0.
        string path = PathOf($"v{major}{minor}.npy");
        byte[] bytes = NumpyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", Floats(1), major: major is 2 or 3 ? major : 1);
        bytes[6] = (byte)major;
        bytes[7] = (byte)minor;
        File.WriteAllBytes(path, bytes);

        var ex = Assert.Throws<InvalidDataException>(() => Npy.ReadHeader(path));

        Assert.Contains($"version {major}.{minor}", ex.Message);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void ReadVector_Versions1To3Minor0_AreRead(int major)
    {
        string path = PathOf($"ok{major}.npy");
        File.WriteAllBytes(path, NumpyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", Floats(4, 5), major: major));

        Assert.Equal(new[] { 4f, 5f }, Npy.ReadVector(path));
    }

    [Theory]
    [InlineData("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'shape': (2,), }", "'shape'")]
    [InlineData("{'descr': '<f4', 'descr': '<f8', 'fortran_order': False, 'shape': (1,), }", "'descr'")]
    [InlineData("{'descr': '<f4', 'fortran_order': False, 'fortran_order': True, 'shape': (1,), }", "'fortran_order'")]
    [InlineData("{'descr': '<f4', \"shape\": (2,), 'fortran_order': False, 'shape': (1,), }", "'shape'")]
    public void ReadHeader_RepeatedKey_IsRejected(string dict, string key)
    {
        // NumPy's literal_eval keeps the last value; reading the first silently would read another array.
        string path = PathOf("dup.npy");
        File.WriteAllBytes(path, NumpyFile(dict, Floats(1, 2)));

        var ex = Assert.Throws<InvalidDataException>(() => Npy.ReadHeader(path));

        Assert.Contains("more than once", ex.Message);
        Assert.Contains(key, ex.Message);
    }

    [Theory]
    [InlineData("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'extra': 1, }", "'extra'")]
    [InlineData("'descr': '<f4', 'fortran_order': False, 'shape': (1,)", "dictionary")]
    [InlineData("{'descr': '<f4', 'fortran_order': False 'shape': (1,), }", "malformed")]
    [InlineData("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), } trailing", "dictionary")]
    public void ReadHeader_NotExactlyTheThreeKeys_IsRejected(string dict, string expected)
    {
        string path = PathOf("keys.npy");
        File.WriteAllBytes(path, NumpyFile(dict, Floats(1)));

        var ex = Assert.Throws<InvalidDataException>(() => Npy.ReadHeader(path));

        Assert.Contains(expected, ex.Message);
    }

    [Fact]
    public void ReadMatrix_MissingFile_ThrowsFileNotFoundNamingPath()
    {
        string path = PathOf("nope.npy");

        var ex = Assert.Throws<FileNotFoundException>(() => Npy.ReadMatrix(path));

        Assert.Contains(path, ex.Message);
    }

    [Fact]
    public void ReadInt64_Int32File_IsWidened()
    {
        string path = PathOf("i4.npy");
        byte[] payload = new[] { -1, 7, int.MaxValue }.SelectMany(BitConverter.GetBytes).ToArray();
        File.WriteAllBytes(path, NumpyFile("{'descr': '<i4', 'fortran_order': False, 'shape': (3,), }", payload));

        Assert.Equal(new long[] { -1, 7, int.MaxValue }, Npy.ReadInt64(path));
    }

    [Fact]
    public void Write_Header_IsNumpyCompatibleAndAligned()
    {
        string path = PathOf("w.npy");
        Npy.Write(path, new Matrix(2, 3, new float[] { 1, 2, 3, 4, 5, 6 }));

        byte[] bytes = File.ReadAllBytes(path);
        int headerLength = BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(8));
        string header = Encoding.ASCII.GetString(bytes, 10, headerLength);

        Assert.Equal(0, (10 + headerLength) % 64);
        Assert.StartsWith("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", header);
        Assert.EndsWith("\n", header);
        Assert.Equal(10 + headerLength + 24, bytes.Length);
    }

    [Fact]
    public void Write_StridedView_WritesOnlyTheViewedElements()
    {
        var m = new Matrix(3, 4, Enumerable.Range(0, 12).Select(i => (float)i).ToArray());
        string path = PathOf("view.npy");

        Npy.Write(path, m.View.ColumnRange(1, 2).RowRange(1, 2));

        Assert.Equal(new float[] { 5, 6, 9, 10 }, Npy.ReadMatrix(path).Data);
    }

    [Fact]
    public void Write_Int64And1D_RoundTrip()
    {
        string ints = PathOf("i.npy");
        string floats = PathOf("f.npy");
        Npy.Write(ints, new long[] { long.MinValue, 0, 42 });
        Npy.Write(floats, new float[] { float.Epsilon, -0f, float.MaxValue });

        Assert.Equal(new long[] { long.MinValue, 0, 42 }, Npy.ReadInt64(ints));
        Assert.Equal(new float[] { float.Epsilon, -0f, float.MaxValue }, Npy.ReadVector(floats));
        Assert.Equal(NpyDType.Int64, Npy.ReadHeader(ints).DType);
    }

    [Fact]
    public void Write_FailingWriter_LeavesPreviousFileAndNoTempFiles()
    {
        string path = PathOf("keep.npy");
        Npy.Write(path, new float[] { 1, 2 });

        Assert.Throws<InvalidOperationException>(() => Npy.WriteAtomic(path, stream =>
        {
            stream.WriteByte(1);
            throw new InvalidOperationException("boom");
        }));

        Assert.Equal(new float[] { 1, 2 }, Npy.ReadVector(path));
        Assert.Single(Directory.GetFiles(_dir));
    }

    [Fact]
    public void Write_TargetIsDirectory_ThrowsIOExceptionAndLeavesNoTempFile()
    {
        string target = PathOf("adir");
        Directory.CreateDirectory(target);

        var ex = Assert.Throws<IOException>(() => Npy.Write(target, new float[] { 1f }));

        Assert.StartsWith(target, ex.Message);
        Assert.True(Directory.Exists(target));
        Assert.Equal(new[] { target }, Directory.GetFileSystemEntries(_dir));
    }

    [Fact]
    public void Write_ReadOnlyTarget_IsReplacedAtomicallyOnUnix()
    {
        // Documented rename semantics: the directory's permissions decide, as for mv.
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        string path = PathOf("ro.npy");
        Npy.Write(path, new float[] { 1f });
        File.SetAttributes(path, FileAttributes.ReadOnly);

        Npy.Write(path, new float[] { 2f, 3f });

        Assert.Equal(new float[] { 2f, 3f }, Npy.ReadVector(path));
        Assert.Single(Directory.GetFiles(_dir));
    }

    [Fact]
    public void Write_MissingDirectory_Throws()
    {
        Assert.Throws<DirectoryNotFoundException>(() => Npy.Write(Path.Combine(_dir, "no", "x.npy"), new float[] { 1 }));
    }

    [Fact]
    public void WriteThenRead_RandomMatrices_RoundTripExactly()
    {
        int counter = 0;
        Prop.ForAll(
            Gen.Choose(0, 9).Zip(Gen.Choose(0, 9)).Zip(Gen.Choose(0, int.MaxValue)).ToArbitrary(),
            t =>
            {
                ((int rows, int cols), int seed) = t;
                var rng = new CounterRng((ulong)seed);
                var m = new Matrix(rows, cols);
                for (int i = 0; i < m.Data.Length; i++)
                {
                    m.Data[i] = rng.NextNormal() * 1e3f;
                }

                string path = PathOf($"p{counter++}.npy");
                Npy.Write(path, m);
                Matrix back = Npy.ReadMatrix(path);
                return back.Rows == rows && back.Columns == cols && back.Data.SequenceEqual(m.Data);
            }).QuickCheckThrowOnFailure();
    }
}
