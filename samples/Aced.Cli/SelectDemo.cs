using System;
using System.Globalization;
using System.IO;
using Aced.Core;
using Aced.Selection;
using Spectre.Console;

namespace Aced.Cli;

/// <summary>
/// <c>aced select --demo</c>: a self-contained selection on a synthetic super-batch in which a known fraction
/// of captions are mismatched (swapped with another example's). Both models see the same (partly wrong) data:
/// the reference is a strong model (little embedding noise), the student a weak, early-training one (much
/// noise). The demo selects b = B/5 examples with IID sampling and with the active samplers, and reports how
/// many mismatched pairs each kept.
/// </summary>
public static class SelectDemo
{
    public const int DefaultSize = 5120;
    public const double MismatchedFraction = 0.2;
    private const int Dimension = 64;
    private const float ReferenceNoise = 0.5f;
    private const float StudentNoise = 1.5f;

    /// <summary>Runs the demo: the comparison table goes to <paramref name="stderr"/> (for people), one JSON summary line to <paramref name="stdout"/> (for programs).</summary>
    public static int Run(SelectCommand.Arguments args, ActiveBatchSamplerOptions options, TextWriter stdout, TextWriter stderr)
    {
        if (args.DemoSize < 50 || args.DemoSize > 200_000)
        {
            throw new CliException($"--demo-size must be in [50, 200000] (was {args.DemoSize})");
        }

        (SuperBatch batch, bool[] mismatched) = Generate(args.DemoSize, args.Seed);
        int b = SelectCommand.ResolveBatchSize(args, options, batch.Count);
        var rows = new (string Name, string Description, ActiveBatchSamplerOptions Options)[]
        {
            ("IID", "uniform, no model", With(options, SamplerKind.Uniform, options.Scoring)),
            ("Hard (student only)", "student loss, joint", With(options, SamplerKind.Joint, ScoringMethod.Hard)),
            ("Easy-ref (I-ACID)", "-reference loss, joint", With(options, SamplerKind.Joint, ScoringMethod.EasyReference)),
            ("Learnability (H-ACID)", "student - reference, joint", With(options, SamplerKind.Joint, ScoringMethod.Learnability)),
        };

        var table = new Table().Title(string.Create(CultureInfo.InvariantCulture, $"[bold]aced select --demo[/]: B = {batch.Count}, b = {b}, {MismatchedFraction:P0} mismatched captions"))
            .AddColumn("selection").AddColumn("scores").AddColumn(new TableColumn("mismatched kept").RightAligned())
            .AddColumn(new TableColumn("mismatched rejected").RightAligned()).AddColumn(new TableColumn("seconds").RightAligned());
        int totalMismatched = 0;
        foreach (bool m in mismatched)
        {
            totalMismatched += m ? 1 : 0;
        }

        var kept = new double[rows.Length];
        SelectionResult? last = null;
        double lastSeconds = 0;
        for (int r = 0; r < rows.Length; r++)
        {
            var sampler = new ActiveBatchSampler(rows[r].Options);
            SelectionResult result = sampler.Sample(batch, 0);
            int bad = 0;
            foreach (int i in result.Indices)
            {
                bad += mismatched[i] ? 1 : 0;
            }

            kept[r] = (double)bad / result.Count;
            double rejectedShare = 1 - ((double)bad / totalMismatched);
            table.AddRow(rows[r].Name, rows[r].Description, string.Create(CultureInfo.InvariantCulture, $"{kept[r]:P1} ({bad})"), string.Create(CultureInfo.InvariantCulture, $"{rejectedShare:P1}"), string.Create(CultureInfo.InvariantCulture, $"{result.Diagnostics.Seconds:F3}"));
            if (r == rows.Length - 1)
            {
                if (args.Out is not null)
                {
                    long[] indices = new long[result.Count];
                    for (int i = 0; i < indices.Length; i++)
                    {
                        indices[i] = result.Indices[i];
                    }

                    Npy.Write(args.Out, indices);
                }

                last = result;
                lastSeconds = result.Diagnostics.Seconds;
            }
        }

        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(stderr), Ansi = AnsiSupport.No, ColorSystem = ColorSystemSupport.NoColors });
        console.Profile.Width = 100;
        console.Write(table);
        console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"IID keeps about {MismatchedFraction:P0} mismatched pairs; the reference-guided joint selection keeps {kept[3]:P1}."));
        SelectionDiagnostics d = last!.Diagnostics;
        var summary = new
        {
            command = "select",
            demo = true,
            superBatchSize = d.SuperBatchSize,
            batchSize = d.BatchSize,
            filterRatio = d.FilterRatio,
            chunks = d.Chunks,
            temperature = options.Temperature,
            seed = options.Seed,
            mismatchedFraction = (double)totalMismatched / batch.Count,
            keptMismatchedIid = kept[0],
            keptMismatchedHard = kept[1],
            keptMismatchedEasyReference = kept[2],
            keptMismatchedLearnability = kept[3],
            seconds = lastSeconds,
            chosenScoreMean = SelectCommand.Finite(d.ChosenMean),
            rejectedScoreMean = SelectCommand.Finite(d.RejectedMean),
            effectiveSampleSize = d.EffectiveSampleSize,
            output = args.Out,
        };
        stdout.WriteLine(CliJson.Serialize(summary));
        return 0;
    }

    /// <summary>
    /// A synthetic super-batch: example i has a latent concept z_i; a model embeds its image as
    /// normalize(z_i + noise) and its caption as normalize(c_i + noise), where c_i = z_i for a clean pair and
    /// another example's concept for a mismatched one. Reference noise 0.5, student noise 1.5 per coordinate (relative to unit-variance concepts).
    /// </summary>
    public static (SuperBatch Batch, bool[] Mismatched) Generate(int count, ulong seed)
    {
        var rng = new CounterRng(seed, 0xDE30);
        var concepts = new Matrix(count, Dimension);
        for (int i = 0; i < concepts.Data.Length; i++)
        {
            concepts.Data[i] = rng.NextNormal();
        }

        int bad = (int)Math.Round(count * MismatchedFraction);
        int[] picks = new int[bad];
        Sampling.UniformWithoutReplacement(count, bad, ref rng, picks, new int[count]);
        bool[] mismatched = new bool[count];
        int[] caption = new int[count];
        for (int i = 0; i < count; i++)
        {
            caption[i] = i;
        }

        for (int k = 0; k < bad; k++)
        {
            mismatched[picks[k]] = true;
            caption[picks[k]] = picks[(k + 1) % bad]; // a cycle: every mismatched pair gets another's caption
        }

        ModelEmbeddings Embed(float noise, ulong stream, float scale, float bias)
        {
            var r = new CounterRng(seed, stream);
            var image = new Matrix(count, Dimension);
            var text = new Matrix(count, Dimension);
            for (int i = 0; i < count; i++)
            {
                Span<float> zi = concepts.Row(i);
                Span<float> zc = concepts.Row(caption[i]);
                for (int j = 0; j < Dimension; j++)
                {
                    image[i, j] = zi[j] + (noise * r.NextNormal());
                    text[i, j] = zc[j] + (noise * r.NextNormal());
                }
            }

            var norms = new float[count];
            StableMath.L2NormalizeRows(image, image, norms);
            StableMath.L2NormalizeRows(text, text, norms);
            return new ModelEmbeddings(image, text, new LogitParameters(scale, bias));
        }

        ModelEmbeddings reference = Embed(ReferenceNoise, 1, 10f, -10f);
        ModelEmbeddings student = Embed(StudentNoise, 2, 10f, -10f);
        return (new SuperBatch(student, reference), mismatched);
    }

    private static ActiveBatchSamplerOptions With(ActiveBatchSamplerOptions options, SamplerKind kind, ScoringMethod scoring)
    {
        ActiveBatchSamplerOptions o = options.Clone();
        o.Sampler = kind;
        o.Scoring = scoring;
        return o;
    }
}
