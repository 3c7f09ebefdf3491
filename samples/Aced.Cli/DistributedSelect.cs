using System;
using System.Diagnostics;
using System.IO;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using Aced.Core;
using Aced.Mpi;
using Aced.Selection;
using Aced.Selection.Distributed;

namespace Aced.Cli;

/// <summary>
/// <c>mpiexec -n W aced select --distributed ...</c>: the same selection as <c>aced select</c>, with the super-batch
/// split over W MPI ranks (MPICH). Rank r reads only rows <c>[B·r/W, B·(r+1)/W)</c> of each .npy file (a positioned
/// read of that byte range; no rank loads the whole pool), the ranks run the <see cref="ShardedBatchSampler"/>, and
/// rank 0 writes the global indices (atomically) and prints the JSON summary of <c>aced select</c> plus the ranks'
/// timings and bytes communicated. Errors are reported on every rank (exit code 2).
/// </summary>
public static class DistributedSelect
{
    /// <summary>Runs the distributed selection on this rank.</summary>
    public static int Run(SelectCommand.Arguments args, ActiveBatchSamplerOptions options, TextWriter stdout, TextWriter? stderr = null)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(stdout);
        if (args.Demo)
        {
            throw new CliException("--distributed works on .npy inputs; --demo is single-process");
        }

        if (args.StudentImage is null || args.StudentText is null)
        {
            throw new CliException("--student-image and --student-text are required");
        }

        if (args.Out is null)
        {
            throw new CliException("--out is required: the .npy file that receives the chosen indices (written by rank 0)");
        }

        if ((args.ReferenceImage is null) != (args.ReferenceText is null))
        {
            throw new CliException("give both --reference-image and --reference-text, or neither");
        }

        OutputGuard.EnsureNotAnInput("--out", args.Out,
        [
            new("--student-image", args.StudentImage), new("--student-text", args.StudentText),
            new("--reference-image", args.ReferenceImage!), new("--reference-text", args.ReferenceText!),
        ]);

        if (args.ReferenceImage is null && options.Sampler != SamplerKind.Uniform && options.Scoring is ScoringMethod.Learnability or ScoringMethod.EasyReference)
        {
            throw new CliException($"--scoring {args.Scoring} needs --reference-image and --reference-text (or use --scoring hard|easy)");
        }

        MpiSession session;
        try
        {
            string[] none = Array.Empty<string>();
            session = MpiSession.Start(ref none);
        }
        catch (MpiUnavailableException ex)
        {
            throw new CliException("--distributed: " + ex.Message);
        }

        using (session)
        {
            return RunRank(args, options, session.Collectives, stdout, stderr);
        }
    }

    /// <summary>The body of one rank over any <see cref="ICollectives"/> (MPI, or in-process ranks in tests), options parsed from <paramref name="args"/>.</summary>
    public static int RunRank(SelectCommand.Arguments args, ICollectives collectives, TextWriter stdout)
    {
        ArgumentNullException.ThrowIfNull(args);
        return RunRank(args, SelectCommand.BuildOptions(args), collectives, stdout, null);
    }

    /// <summary>The body of one rank over any <see cref="ICollectives"/> (MPI, or in-process ranks in tests).</summary>
    public static int RunRank(SelectCommand.Arguments args, ActiveBatchSamplerOptions options, ICollectives collectives, TextWriter stdout, TextWriter? stderr)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(collectives);

        // Warnings (e.g. an ignored softmax bias) once, from rank 0.
        TextWriter warnings = collectives.Rank == 0 ? stderr ?? TextWriter.Null : TextWriter.Null;
        long start = Stopwatch.GetTimestamp();
        int rank = collectives.Rank;
        int size = collectives.Size;
        bool softmax = options.Loss == ContrastiveKind.Softmax;
        SuperBatch? shard = null;
        Exception? failure = null;
        int total = 0;
        try
        {
            NpyHeader header = Header(args.StudentImage!, "--student-image");
            total = header.Shape[0];
            int offset = (int)((long)total * rank / size);
            int count = (int)((long)total * (rank + 1) / size) - offset;

            // The option checks of `aced select` (same messages), on every rank.
            int b = SelectCommand.ResolveBatchSize(args, options, total);
            float studentScale = SelectCommand.CheckScale(args.StudentScale ?? SelectCommand.DefaultScale(softmax), "--student-scale");
            float studentBias = SelectCommand.ResolveBias(args.StudentBias, softmax, "--student-bias", warnings);
            double bound = SelectCommand.ScoreBound(studentScale, studentBias, b, total);
            float referenceScale = 1, referenceBias = 0;
            if (args.ReferenceImage is not null)
            {
                referenceScale = SelectCommand.CheckScale(args.ReferenceScale ?? SelectCommand.DefaultScale(softmax), "--reference-scale");
                referenceBias = SelectCommand.ResolveBias(args.ReferenceBias, softmax, "--reference-bias", warnings);
                bound += SelectCommand.ScoreBound(referenceScale, referenceBias, b, total);
            }

            if (bound >= float.MaxValue)
            {
                throw new CliException("--student-scale/--student-bias/--reference-scale/--reference-bias are too large: the selection scores overflow float32; use a moderate scale a = exp(t) (e.g. a <= 1e4) and bias");
            }

            SelectCommand.CheckTemperature(options, bound);
            if (count > 0)
            {
                Matrix si = ReadRows(args.StudentImage!, "--student-image", total, -1, offset, count);
                Matrix st = ReadRows(args.StudentText!, "--student-text", total, si.Columns, offset, count);
                SelectCommand.CheckRows(si, args.StudentImage!, "--student-image", args.Normalize, args.NormTolerance, offset);
                SelectCommand.CheckRows(st, args.StudentText!, "--student-text", args.Normalize, args.NormTolerance, offset);
                var student = new ModelEmbeddings(si, st, new LogitParameters(studentScale, studentBias));
                ModelEmbeddings reference = default;
                if (args.ReferenceImage is not null)
                {
                    Matrix ri = ReadRows(args.ReferenceImage, "--reference-image", total, -1, offset, count);
                    Matrix rt = ReadRows(args.ReferenceText!, "--reference-text", total, ri.Columns, offset, count);
                    SelectCommand.CheckRows(ri, args.ReferenceImage, "--reference-image", args.Normalize, args.NormTolerance, offset);
                    SelectCommand.CheckRows(rt, args.ReferenceText!, "--reference-text", args.Normalize, args.NormTolerance, offset);
                    reference = new ModelEmbeddings(ri, rt, new LogitParameters(referenceScale, referenceBias));
                }

                shard = new SuperBatch(student, reference);
            }
        }
        catch (Exception ex) when (ex is CliException or IOException or InvalidDataException or ArgumentException or UnauthorizedAccessException)
        {
            failure = ex;
        }

        // Reading is local: agree on success before the first collective of the sampler, so a rank that cannot read
        // its rows does not leave the others waiting.
        Span<double> flag = stackalloc double[1];
        flag[0] = failure is null ? -1 : rank;
        collectives.AllReduce(flag, ReduceOperation.Max);
        if (failure is not null)
        {
            throw new CliException($"rank {rank}: {failure.Message}");
        }

        if (flag[0] >= 0)
        {
            throw new CliException($"rank {(int)flag[0]} could not read its rows of the inputs (its error is printed above); every rank must see the same files");
        }

        double readSeconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        var sampler = new ShardedBatchSampler(options, collectives);
        SelectionResult result;
        try
        {
            result = sampler.Sample(shard, 0);
        }
        catch (ArgumentException ex)
        {
            throw new CliException($"rank {rank}: {FirstLine(ex.Message)}");
        }
        catch (CollectiveException ex)
        {
            throw new CliException($"rank {rank}: {ex.Message}");
        }

        // Per-rank figures to rank 0 (all ranks take part; only rank 0 prints).
        ShardStatistics s = sampler.Statistics;
        const int Fields = 8;
        Span<double> mine = stackalloc double[Fields] { s.Offset, s.Count, readSeconds, s.Seconds, s.CollectiveSeconds, s.BytesSent, s.BytesReceived, s.Collectives };
        double[] all = new double[Fields * size];
        collectives.AllGather<double>(mine, all);
        if (rank != 0)
        {
            return 0;
        }

        long[] indices = new long[result.Count];
        for (int i = 0; i < indices.Length; i++)
        {
            indices[i] = result.Indices[i];
        }

        Npy.Write(args.Out!, indices);
        var summary = JsonNode.Parse(SelectCommand.Summary(args, options, result, args.Out))!.AsObject();
        summary["ranks"] = size;
        summary["chunksDrawn"] = s.Chunks;
        var perRank = new JsonArray();
        long bytes = 0;
        for (int r = 0; r < size; r++)
        {
            int o = r * Fields;
            perRank.Add(new JsonObject
            {
                ["rank"] = r,
                ["offset"] = (int)all[o],
                ["count"] = (int)all[o + 1],
                ["readSeconds"] = all[o + 2],
                ["selectSeconds"] = all[o + 3],
                ["collectiveSeconds"] = all[o + 4],
                ["bytesSent"] = (long)all[o + 5],
                ["bytesReceived"] = (long)all[o + 6],
                ["collectives"] = (int)all[o + 7],
            });
            bytes += (long)all[o + 5];
        }

        summary["bytesCommunicated"] = bytes;
        summary["perRank"] = perRank;
        stdout.WriteLine(summary.ToJsonString(new JsonSerializerOptions { WriteIndented = false }));
        return 0;
    }

    private static NpyHeader Header(string path, string option)
    {
        NpyHeader header = Npy.ReadHeader(path);
        if (header.Shape.Length != 2 || header.DType != NpyDType.Float32)
        {
            throw new CliException($"{path}: {option} must be a 2-D float32 .npy array (B x d); found dtype {header.DType} and {header.Shape.Length} dimension(s)");
        }

        if (header.Shape[0] == 0 || header.Shape[1] == 0)
        {
            throw new CliException($"{path}: is empty ({header.Shape[0]}x{header.Shape[1]}); {option} needs at least one row (example) and one column");
        }

        return header;
    }

    /// <summary>Reads rows [offset, offset + count) of a B x d float32 .npy file, touching only that byte range.</summary>
    private static Matrix ReadRows(string path, string option, int rows, int columns, int offset, int count)
    {
        NpyHeader header = Header(path, option);
        if (header.Shape[0] != rows)
        {
            throw new CliException($"{path}: {option} has {header.Shape[0]} rows but --student-image has {rows}; every file must embed the same super-batch in the same order");
        }

        if (columns >= 0 && header.Shape[1] != columns)
        {
            throw new CliException($"{path}: {option} has {header.Shape[1]} columns but its image embeddings have {columns}; image and text of a model must have the same shape");
        }

        int d = header.Shape[1];
        var matrix = new Matrix(count, d);
        using var file = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.RandomAccess);
        long position = header.DataOffset + ((long)offset * d * sizeof(float));
        long expectedLength = header.DataOffset + ((long)rows * d * sizeof(float));
        if (RandomAccess.GetLength(file) < expectedLength)
        {
            throw new CliException($"{path}: is truncated ({RandomAccess.GetLength(file)} bytes, the header promises {expectedLength})");
        }

        Span<byte> destination = MemoryMarshal.AsBytes(matrix.Span);
        while (!destination.IsEmpty)
        {
            int read = RandomAccess.Read(file, destination, position);
            if (read == 0)
            {
                throw new CliException($"{path}: ended early while reading rows {offset}..{offset + count - 1}");
            }

            destination = destination.Slice(read);
            position += read;
        }

        if (!BitConverter.IsLittleEndian)
        {
            throw new CliException("--distributed reads little-endian float32 files on little-endian machines only");
        }

        return matrix;
    }

    private static string FirstLine(string message)
    {
        string line = message.Split('\n')[0];
        int paren = line.LastIndexOf(" (Parameter", StringComparison.Ordinal);
        return paren > 0 ? line[..paren] : line;
    }
}
