using System;
using System.Text.Json;
using System.Text.Json.Serialization;
using Aced.Pipeline.Data;

namespace Aced.Pipeline.Training;

/// <summary>Writes and reads the serialisable part of <see cref="DataOptions"/> (everything but the progress callback) in config.json.</summary>
internal sealed class DataOptionsJsonConverter : JsonConverter<DataOptions>
{
    public override DataOptions Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        var defaults = new DataOptions();
        using JsonDocument document = JsonDocument.ParseValue(ref reader);
        JsonElement e = document.RootElement;
        if (e.ValueKind != JsonValueKind.Object)
        {
            throw new JsonException("\"data\" must be an object");
        }

        return new DataOptions
        {
            ImageSize = Int(e, "image_size", defaults.ImageSize),
            Seed = e.TryGetProperty("seed", out JsonElement seed) ? seed.GetUInt64() : defaults.Seed,
            NoiseRate = Double(e, "noise_rate", defaults.NoiseRate),
            AttributeNoiseRate = Double(e, "attribute_noise_rate", defaults.AttributeNoiseRate),
            ReferenceTrainSize = Int(e, "reference_train_size", defaults.ReferenceTrainSize),
            StudentTrainSize = Int(e, "student_train_size", defaults.StudentTrainSize),
            HoldoutSize = Int(e, "holdout_size", defaults.HoldoutSize),
            EvaluationSize = Int(e, "evaluation_size", defaults.EvaluationSize),
            CacheDirectory = e.TryGetProperty("cache_directory", out JsonElement cache) && cache.ValueKind == JsonValueKind.String ? cache.GetString() : null,
            SkipBad = e.TryGetProperty("skip_bad", out JsonElement skip) && skip.GetBoolean(),
            MaxImageBytes = e.TryGetProperty("max_image_bytes", out JsonElement bytes) ? bytes.GetInt64() : defaults.MaxImageBytes,
            MaxImageSide = Int(e, "max_image_side", defaults.MaxImageSide),
        };
    }

    public override void Write(Utf8JsonWriter writer, DataOptions value, JsonSerializerOptions options)
    {
        writer.WriteStartObject();
        writer.WriteNumber("image_size", value.ImageSize);
        writer.WriteNumber("seed", value.Seed);
        writer.WriteNumber("noise_rate", value.NoiseRate);
        writer.WriteNumber("attribute_noise_rate", value.AttributeNoiseRate);
        writer.WriteNumber("reference_train_size", value.ReferenceTrainSize);
        writer.WriteNumber("student_train_size", value.StudentTrainSize);
        writer.WriteNumber("holdout_size", value.HoldoutSize);
        writer.WriteNumber("evaluation_size", value.EvaluationSize);
        if (value.CacheDirectory is null)
        {
            writer.WriteNull("cache_directory");
        }
        else
        {
            writer.WriteString("cache_directory", value.CacheDirectory);
        }

        writer.WriteBoolean("skip_bad", value.SkipBad);
        writer.WriteNumber("max_image_bytes", value.MaxImageBytes);
        writer.WriteNumber("max_image_side", value.MaxImageSide);
        writer.WriteEndObject();
    }

    private static int Int(JsonElement e, string name, int fallback) => e.TryGetProperty(name, out JsonElement v) ? v.GetInt32() : fallback;

    private static double Double(JsonElement e, string name, double fallback) => e.TryGetProperty(name, out JsonElement v) ? v.GetDouble() : fallback;
}
