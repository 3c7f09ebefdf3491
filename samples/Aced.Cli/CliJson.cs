using System.Text.Encodings.Web;
using System.Text.Json;

namespace Aced.Cli;

/// <summary>
/// The JSON settings of every <c>aced</c> command's output: still valid JSON, but human-readable — characters such as
/// <c>+</c>, <c>&lt;</c> or non-ASCII letters are written as themselves, not as <c>\u002B</c> escapes (the output is
/// never embedded in HTML). Use <see cref="Serialize{T}"/> or, with <see cref="Utf8JsonWriter"/>, <see cref="WriterOptions"/>.
/// </summary>
public static class CliJson
{
    /// <summary>Serializer options with the relaxed encoder.</summary>
    public static readonly JsonSerializerOptions Options = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>Writer options with the relaxed encoder.</summary>
    public static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>One line of JSON for <paramref name="value"/>.</summary>
    public static string Serialize<T>(T value) => JsonSerializer.Serialize(value, Options);
}
