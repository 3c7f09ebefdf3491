using System;
using System.IO;
using System.Text.Json;
using System.Threading;
using Aced.Cli;
using Aced.Core;
using Aced.Selection;
using Aced.Selection.Distributed;

namespace Aced.Cli.Tests;

/// <summary>The distributed select path over in-process ranks (the same body mpiexec runs on each MPI rank).</summary>
public sealed class DistributedSelectTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("aced-dselect-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData(3, "sample", "sigmoid")]
    [InlineData(2, "greedy", "softmax")]
    public void RunRank_ThreeRanksReadingRowRanges_WritesTheSingleProcessIndices(int ranks, string mode, string loss)
    {
        (SuperBatch batch, _) = SelectDemo.Generate(301, 4);
        string[] files = Write(batch);
        var args = new SelectCommand.Arguments
        {
            StudentImage = files[0], StudentText = files[1], ReferenceImage = files[2], ReferenceText = files[3],
            BatchSize = 60, Chunks = 6, Seed = 11, Mode = mode, Loss = loss,
        };
        string single = Path.Combine(_dir, "single.npy");
        Assert.Equal(0, SelectCommand.Execute(args with { Out = single }, new StringWriter()));

        string distributed = Path.Combine(_dir, "distributed.npy");
        InProcessCollectives[] group = InProcessCollectives.Create(ranks, TimeSpan.FromSeconds(30));
        var outputs = new StringWriter[ranks];
        var errors = new Exception?[ranks];
        var threads = new Thread[ranks];
        for (int r = 0; r < ranks; r++)
        {
            int rank = r;
            outputs[r] = new StringWriter();
            threads[r] = new Thread(() =>
            {
                try
                {
                    DistributedSelect.RunRank(args with { Out = distributed, Distributed = true }, group[rank], outputs[rank]);
                }
                catch (Exception e)
                {
                    errors[rank] = e;
                }
            });
            threads[r].Start();
        }

        foreach (Thread t in threads)
        {
            Assert.True(t.Join(TimeSpan.FromSeconds(60)), "a rank hung");
        }

        Assert.All(errors, e => Assert.Null(e));
        Assert.Equal(Npy.ReadInt64(single), Npy.ReadInt64(distributed));
        for (int r = 1; r < ranks; r++)
        {
            Assert.Equal(string.Empty, outputs[r].ToString());
        }

        using JsonDocument json = JsonDocument.Parse(outputs[0].ToString().Trim());
        JsonElement root = json.RootElement;
        Assert.Equal(301, root.GetProperty("superBatchSize").GetInt32());
        Assert.Equal(ranks, root.GetProperty("ranks").GetInt32());
        Assert.Equal(ranks, root.GetProperty("perRank").GetArrayLength());
        int rows = 0;
        foreach (JsonElement rank in root.GetProperty("perRank").EnumerateArray())
        {
            Assert.Equal(rows, rank.GetProperty("offset").GetInt32());
            rows += rank.GetProperty("count").GetInt32();
            Assert.True(rank.GetProperty("bytesReceived").GetInt64() > 0);
        }

        Assert.Equal(301, rows);
        Assert.True(root.GetProperty("bytesCommunicated").GetInt64() > 0);
    }

    [Fact]
    public void RunRank_FileWithFewerRows_EveryRankFailsNamingTheFile()
    {
        (SuperBatch batch, _) = SelectDemo.Generate(50, 2);
        string[] files = Write(batch);
        Npy.Write(files[1], batch.Student.Text.RowRange(0, 40));
        var args = new SelectCommand.Arguments { StudentImage = files[0], StudentText = files[1], ReferenceImage = files[2], ReferenceText = files[3], BatchSize = 10, Chunks = 2, Out = Path.Combine(_dir, "x.npy") };
        InProcessCollectives[] group = InProcessCollectives.Create(2, TimeSpan.FromSeconds(30));
        var errors = new Exception?[2];
        var threads = new Thread[2];
        for (int r = 0; r < 2; r++)
        {
            int rank = r;
            threads[r] = new Thread(() =>
            {
                try
                {
                    DistributedSelect.RunRank(args, group[rank], new StringWriter());
                }
                catch (Exception e)
                {
                    errors[rank] = e;
                }
            });
            threads[r].Start();
        }

        foreach (Thread t in threads)
        {
            Assert.True(t.Join(TimeSpan.FromSeconds(60)), "a rank hung");
        }

        Assert.All(errors, e => Assert.Contains("40 rows but --student-image has 50", Assert.IsType<CliException>(e).Message));
        Assert.False(File.Exists(args.Out));
    }

    private string[] Write(SuperBatch batch)
    {
        string[] files = { "si", "st", "ri", "rt" };
        MatrixView[] views = { batch.Student.Image, batch.Student.Text, batch.Reference.Image, batch.Reference.Text };
        for (int i = 0; i < 4; i++)
        {
            files[i] = Path.Combine(_dir, files[i] + ".npy");
            Npy.Write(files[i], views[i]);
        }

        return files;
    }
}
