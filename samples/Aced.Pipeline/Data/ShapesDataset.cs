using System;
using System.Collections.Generic;
using Aced.Core;

namespace Aced.Pipeline.Data;

/// <summary>The attributes of one shapes scene: every value is an index into the matching table of <see cref="ShapesDataset"/>.</summary>
internal readonly record struct ShapeScene(int Shape, int Colour, int Size, int Position, int Count, int Template);

/// <summary>
/// The embedded procedural data set: 1-3 identical shapes (circle, square, triangle, diamond, cross) of one
/// colour and size at one position on a plain dark background, captioned from varied templates ("two small red
/// triangles at the top"). Example i of a split depends only on (seed, split, i), so any size is
/// deterministic and a larger split extends a smaller one. Splits are independent draws.
/// </summary>
public static class ShapesDataset
{
    /// <summary>Shape names (singular).</summary>
    public static readonly string[] Shapes = ["circle", "square", "triangle", "diamond", "cross"];

    /// <summary>Colour names.</summary>
    public static readonly string[] Colours = ["red", "green", "blue", "yellow", "cyan", "purple", "orange", "white"];

    /// <summary>Size words.</summary>
    public static readonly string[] Sizes = ["small", "large"];

    /// <summary>Position phrases (as they appear in captions).</summary>
    public static readonly string[] Positions = ["at the top", "at the bottom", "on the left", "on the right", "in the center"];

    /// <summary>Count phrases for the count task.</summary>
    public static readonly string[] Counts = ["one shape", "two shapes", "three shapes"];

    private static readonly string[] s_countWords = ["one", "two", "three"];

    private static readonly float[,] s_rgb =
    {
        { 0.90f, 0.15f, 0.15f }, { 0.15f, 0.80f, 0.20f }, { 0.20f, 0.35f, 0.95f }, { 0.95f, 0.90f, 0.15f },
        { 0.15f, 0.90f, 0.90f }, { 0.65f, 0.20f, 0.85f }, { 1.00f, 0.55f, 0.05f }, { 0.95f, 0.95f, 0.95f },
    };

    // Anchor (x, y) of each position as a fraction of the side, and whether several shapes line up vertically.
    private static readonly float[] s_anchorX = [0.5f, 0.5f, 0.2f, 0.8f, 0.5f];
    private static readonly float[] s_anchorY = [0.2f, 0.8f, 0.5f, 0.5f, 0.5f];
    private static readonly bool[] s_vertical = [false, false, true, true, false];
    private static readonly float[] s_radius = [0.085f, 0.14f];

    private const int TemplateCount = 6;
    private const ulong ReferenceStream = 1UL << 40;
    private const ulong StudentStream = 2UL << 40;
    private const ulong HoldoutStream = 3UL << 40;
    private const ulong EvaluationStream = 4UL << 40;
    private const ulong SwapNoiseStream = 5UL << 40;
    private const ulong AttributeNoiseStream = 6UL << 40;
    private const ulong RenderStreamBit = 1UL << 63;

    /// <summary>
    /// Generates all splits: ReferenceTrain, Holdout and Evaluation with clean captions; StudentTrain with
    /// <see cref="DataOptions.NoiseRate"/> of its captions swapped and <see cref="DataOptions.AttributeNoiseRate"/>
    /// of the rest naming one wrong attribute. Every split carries the tasks shape, colour, count and position.
    /// </summary>
    public static DatasetSplits Load(DataOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        ImageTextDataset reference = Generate("shapes/reference", "ref", options.ReferenceTrainSize, ReferenceStream, options, noisy: false);
        ImageTextDataset student = Generate("shapes/student", "pool", options.StudentTrainSize, StudentStream, options, noisy: true);
        ImageTextDataset holdout = Generate("shapes/holdout", "holdout", options.HoldoutSize, HoldoutStream, options, noisy: false);
        ImageTextDataset evaluation = Generate("shapes/eval", "eval", options.EvaluationSize, EvaluationStream, options, noisy: false);
        return new DatasetSplits(reference, student, holdout, [evaluation]);
    }

    /// <summary>The clean caption of <paramref name="scene"/>.</summary>
    internal static string Caption(in ShapeScene scene)
    {
        string shape = Shapes[scene.Shape];
        string colour = Colours[scene.Colour];
        string size = Sizes[scene.Size];
        string position = Positions[scene.Position];
        bool plural = scene.Count > 1;
        string noun = plural ? Plural(shape) : shape;
        string count = plural ? s_countWords[scene.Count - 1] : "a";
        string countBeforeColour = plural ? count : Article(colour);
        return scene.Template switch
        {
            0 => $"{count} {size} {colour} {noun} {position}",
            1 => $"{position}: {countBeforeColour} {colour} {noun}",
            2 => $"there {(plural ? "are" : "is")} {count} {size} {colour} {noun} {position}",
            3 => $"a picture of {countBeforeColour} {colour} {noun} {position}",
            4 => $"{countBeforeColour} {colour} {noun}, {size}, {position}",
            _ => $"{size} {colour} {noun} {position}, {(plural ? s_countWords[scene.Count - 1] : "just one")} of them",
        };
    }

    /// <summary>Draws scene <paramref name="index"/> of a split stream.</summary>
    internal static ShapeScene Draw(ulong seed, ulong stream, int index)
    {
        var rng = new CounterRng(seed, stream + (ulong)index);
        return new ShapeScene(
            rng.NextInt(Shapes.Length),
            rng.NextInt(Colours.Length),
            rng.NextInt(Sizes.Length),
            rng.NextInt(Positions.Length),
            1 + rng.NextInt(3),
            rng.NextInt(TemplateCount));
    }

    /// <summary>Renders <paramref name="scene"/> (drawn with <paramref name="rng"/> for jitter and background) into a CHW [-1, 1] image.</summary>
    internal static void Render(in ShapeScene scene, ref CounterRng rng, int side, Span<float> destination)
    {
        float background = 0.05f + (0.2f * rng.NextFloat());
        float r = Math.Clamp(s_rgb[scene.Colour, 0] + (0.08f * (rng.NextFloat() - 0.5f)), 0f, 1f);
        float g = Math.Clamp(s_rgb[scene.Colour, 1] + (0.08f * (rng.NextFloat() - 0.5f)), 0f, 1f);
        float b = Math.Clamp(s_rgb[scene.Colour, 2] + (0.08f * (rng.NextFloat() - 0.5f)), 0f, 1f);
        int plane = side * side;
        Span<float> coverage = destination[..plane];
        coverage.Clear();
        float radius = s_radius[scene.Size] * side;
        float spacing = 2.3f * radius;
        for (int k = 0; k < scene.Count; k++)
        {
            float offset = (k - ((scene.Count - 1) * 0.5f)) * spacing;
            float cx = (s_anchorX[scene.Position] * side) + (s_vertical[scene.Position] ? 0f : offset) + (0.06f * side * (rng.NextFloat() - 0.5f));
            float cy = (s_anchorY[scene.Position] * side) + (s_vertical[scene.Position] ? offset : 0f) + (0.06f * side * (rng.NextFloat() - 0.5f));
            Cover(scene.Shape, cx, cy, radius, side, coverage);
        }

        // coverage occupies plane 0; write planes 2 and 1 first, then overwrite plane 0.
        for (int p = 0; p < plane; p++)
        {
            float c = Math.Min(coverage[p], 1f);
            destination[(2 * plane) + p] = (2f * (background + (c * (b - background)))) - 1f;
            destination[plane + p] = (2f * (background + (c * (g - background)))) - 1f;
            destination[p] = (2f * (background + (c * (r - background)))) - 1f;
        }
    }

    private static string Article(string word) => "aeiou".Contains(word[0], StringComparison.Ordinal) ? "an" : "a";

    internal static string Plural(string shape) => shape == "cross" ? "crosses" : shape + "s";

    private static ImageTextDataset Generate(string name, string idPrefix, int count, ulong stream, DataOptions options, bool noisy)
    {
        int side = options.ImageSize;
        int floats = 3 * side * side;
        var pixels = new float[(long)count * floats];
        var captions = new string[count];
        var ids = new string[count];
        var corrupted = new bool[count];
        var scenes = new ShapeScene[count];
        int reportEvery = Math.Max(1, count / 8);
        for (int i = 0; i < count; i++)
        {
            ShapeScene scene = Draw(options.Seed, stream, i);
            scenes[i] = scene;
            var renderRng = new CounterRng(options.Seed, (stream + (ulong)i) | RenderStreamBit);
            Render(scene, ref renderRng, side, pixels.AsSpan(i * floats, floats));
            captions[i] = Caption(scene);
            ids[i] = $"shapes/{idPrefix}/{i:D6}";
            if ((i + 1) % reportEvery == 0 || i + 1 == count)
            {
                options.Report(name, i + 1, count);
            }
        }

        if (noisy)
        {
            CaptionNoise.Swap(captions, corrupted, options.NoiseRate, options.Seed, SwapNoiseStream);
            CorruptAttributes(scenes, captions, corrupted, options.AttributeNoiseRate, options.Seed);
        }

        return new ImageTextDataset(name, side, pixels, captions, ids, corrupted, Tasks(scenes));
    }

    // Among examples not swapped, rewrite the caption of a Bernoulli(rate) subset with one attribute changed.
    private static void CorruptAttributes(ShapeScene[] scenes, string[] captions, bool[] corrupted, double rate, ulong seed)
    {
        var rng = new CounterRng(seed, AttributeNoiseStream);
        for (int i = 0; i < scenes.Length; i++)
        {
            // Draw for every example so the choice of i does not depend on the swap draw.
            bool pick = rng.NextDouble() < rate;
            int attribute = rng.NextInt(4);
            int shift = 1 + rng.NextInt(7);
            if (!pick || corrupted[i])
            {
                continue;
            }

            ShapeScene s = scenes[i];
            ShapeScene wrong = attribute switch
            {
                0 => s with { Shape = (s.Shape + 1 + (shift % (Shapes.Length - 1))) % Shapes.Length },
                1 => s with { Colour = (s.Colour + shift) % Colours.Length },
                2 => s with { Count = 1 + ((s.Count - 1 + 1 + (shift % 2)) % 3) },
                _ => s with { Position = (s.Position + 1 + (shift % (Positions.Length - 1))) % Positions.Length },
            };
            captions[i] = Caption(wrong);
            corrupted[i] = true;
        }
    }

    private static List<LabelTask> Tasks(ShapeScene[] scenes)
    {
        int n = scenes.Length;
        var shape = new int[n];
        var colour = new int[n];
        var count = new int[n];
        var position = new int[n];
        for (int i = 0; i < n; i++)
        {
            shape[i] = scenes[i].Shape;
            colour[i] = scenes[i].Colour;
            count[i] = scenes[i].Count - 1;
            position[i] = scenes[i].Position;
        }

        var shapeNames = new string[Shapes.Length];
        for (int k = 0; k < Shapes.Length; k++)
        {
            shapeNames[k] = Plural(Shapes[k]);
        }

        return
        [
            new LabelTask("shape", shapeNames, ["{0}", "a picture of {0}.", "some {0}", "{0} on a dark background"], shape),
            new LabelTask("colour", Colours, ["{0} shapes", "a picture of {0} shapes.", "something {0}"], colour),
            new LabelTask("count", Counts, ["{0}", "a picture of {0}.", "there are {0}"], count),
            new LabelTask("position", Positions, ["shapes {0}", "a picture of shapes {0}.", "{0}"], position),
        ];
    }

    // Adds the coverage of one shape (2 x 2 samples per pixel) within its bounding box.
    private static void Cover(int shape, float cx, float cy, float radius, int side, Span<float> coverage)
    {
        int x0 = Math.Max(0, (int)MathF.Floor(cx - radius - 1));
        int x1 = Math.Min(side - 1, (int)MathF.Ceiling(cx + radius + 1));
        int y0 = Math.Max(0, (int)MathF.Floor(cy - radius - 1));
        int y1 = Math.Min(side - 1, (int)MathF.Ceiling(cy + radius + 1));
        for (int y = y0; y <= y1; y++)
        {
            for (int x = x0; x <= x1; x++)
            {
                int inside = 0;
                for (int s = 0; s < 4; s++)
                {
                    float px = x + 0.25f + (0.5f * (s & 1));
                    float py = y + 0.25f + (0.5f * (s >> 1));
                    if (Inside(shape, (px - cx) / radius, (py - cy) / radius))
                    {
                        inside++;
                    }
                }

                coverage[(y * side) + x] += inside * 0.25f;
            }
        }
    }

    // Point (u, v) in units of the radius, v pointing down.
    private static bool Inside(int shape, float u, float v)
    {
        float au = MathF.Abs(u);
        float av = MathF.Abs(v);
        return shape switch
        {
            0 => (u * u) + (v * v) <= 1f,
            1 => au <= 0.8f && av <= 0.8f,
            2 => v <= 0.75f && v >= -1f && au <= (v + 1f) * 0.6f,
            3 => au + av <= 1f,
            _ => (au <= 0.3f && av <= 1f) || (av <= 0.3f && au <= 1f),
        };
    }
}
