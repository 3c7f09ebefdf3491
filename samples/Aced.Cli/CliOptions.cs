using System;
using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Numerics;

namespace Aced.Cli;

/// <summary>
/// Factories for the options of every <c>aced</c> command. Each parses its value itself (invariant culture) and, when
/// the text is not of the expected form, records one parse error that names the option and the form, e.g.
/// <c>--temperature: expected a number such as 10, 0.5 or 1e-3 (got 'abc')</c>; <see cref="CommandRunner.Invoke(ParseResult, InvocationConfiguration?)"/>
/// prints it as one line with exit code 2. Choice options list their values in <c>--help</c>, and a default given here
/// is shown there as <c>[default: ...]</c>.
/// </summary>
public static class CliOptions
{
    /// <summary>A numeric option with a default value (shown in <c>--help</c>).</summary>
    public static Option<T> Number<T>(string name, string description, T defaultValue)
        where T : struct, INumber<T>
    {
        var option = new Option<T>(name) { Description = description, DefaultValueFactory = _ => defaultValue, HelpName = NumberHelpName<T>() };
        option.CustomParser = result => ParseNumber<T>(result, name) ?? defaultValue;
        return option;
    }

    /// <summary>A numeric option that is absent (<see langword="null"/>) unless given; say its default in <paramref name="description"/>.</summary>
    public static Option<T?> OptionalNumber<T>(string name, string description)
        where T : struct, INumber<T>
    {
        var option = new Option<T?>(name) { Description = description, HelpName = NumberHelpName<T>() };
        option.CustomParser = result => ParseNumber<T>(result, name);
        return option;
    }

    /// <summary>
    /// An option whose value is one of <paramref name="values"/> (exact, case-sensitive). <c>--help</c> shows them as
    /// <c>&lt;a|b|c&gt;</c> and the default as <c>[default: ...]</c>; any other word is a one-line parse error listing them.
    /// </summary>
    public static Option<string> Choice(string name, string description, string defaultValue, params string[] values)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (Array.IndexOf(values, defaultValue) < 0)
        {
            throw new ArgumentException($"the default '{defaultValue}' of {name} is not one of its values", nameof(defaultValue));
        }

        var option = new Option<string>(name) { Description = description, DefaultValueFactory = _ => defaultValue, HelpName = string.Join('|', values) };
        option.CustomParser = result => ParseChoice(result, name, values) ?? defaultValue;
        return option;
    }

    /// <summary>As <see cref="Choice"/> for an option without a default that must be given (<c>--help</c> marks it REQUIRED).</summary>
    public static Option<string> RequiredChoice(string name, string description, params string[] values)
    {
        ArgumentNullException.ThrowIfNull(values);
        var option = new Option<string>(name) { Description = description, HelpName = string.Join('|', values), Required = true };
        option.CustomParser = result => ParseChoice(result, name, values) ?? string.Empty;
        return option;
    }

    /// <summary>The expected form of a value of type <typeparamref name="T"/>, for messages ("a number such as ...").</summary>
    public static string ExpectedForm<T>()
        where T : struct, INumber<T>
    {
        if (IsFloatingPoint<T>())
        {
            return "a number such as 10, 0.5 or 1e-3";
        }

        return typeof(T) == typeof(ulong) || typeof(T) == typeof(uint) || typeof(T) == typeof(ushort) || typeof(T) == typeof(byte)
            ? string.Create(CultureInfo.InvariantCulture, $"a whole number from 0 to {MaxOf<T>()}")
            : string.Create(CultureInfo.InvariantCulture, $"a whole number from {MinOf<T>()} to {MaxOf<T>()}");
    }

    private static T? ParseNumber<T>(ArgumentResult result, string name)
        where T : struct, INumber<T>
    {
        if (result.Tokens.Count != 1)
        {
            result.AddError($"{name}: expected one value, {ExpectedForm<T>()}");
            return null;
        }

        string text = result.Tokens[0].Value;
        NumberStyles style = IsFloatingPoint<T>() ? NumberStyles.Float : NumberStyles.Integer;
        if (T.TryParse(text, style, CultureInfo.InvariantCulture, out T value))
        {
            return value;
        }

        result.AddError($"{name}: expected {ExpectedForm<T>()} (got '{text}')");
        return null;
    }

    private static string? ParseChoice(ArgumentResult result, string name, string[] values)
    {
        string list = string.Join(", ", values);
        if (result.Tokens.Count != 1)
        {
            result.AddError($"{name}: expected one of {list}");
            return null;
        }

        string text = result.Tokens[0].Value;
        if (Array.IndexOf(values, text) >= 0)
        {
            return text;
        }

        result.AddError($"{name}: expected one of {list} (got '{text}')");
        return null;
    }

    private static bool IsFloatingPoint<T>()
        where T : struct, INumber<T> => typeof(T) == typeof(float) || typeof(T) == typeof(double) || typeof(T) == typeof(Half) || typeof(T) == typeof(decimal);

    private static string NumberHelpName<T>()
        where T : struct, INumber<T> => IsFloatingPoint<T>() ? "number" : "integer";

    private static string MinOf<T>()
        where T : struct, INumber<T> => Convert.ToString(typeof(T).GetField("MinValue")!.GetValue(null), CultureInfo.InvariantCulture)!;

    private static string MaxOf<T>()
        where T : struct, INumber<T> => Convert.ToString(typeof(T).GetField("MaxValue")!.GetValue(null), CultureInfo.InvariantCulture)!;
}
