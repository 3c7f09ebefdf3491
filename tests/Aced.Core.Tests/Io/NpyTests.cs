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

    [Fact]
    public void ReadMatrix_TruncatedData_SaysTruncated()
    {
        string path = PathOf("short.npy");
        File.WriteAllBytes(path, NumpyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", Floats(1, 2, 3)));

        var ex = Assert.Throws<InvalidDataException>(() => Npy.ReadMatrix(path));

        Assert.Contains("truncated", ex.Message);
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
