using System;
using System.CommandLine;
using System.CommandLine.Parsing;
using System.IO;
using System.Text;

namespace Aced.Cli;

/// <summary>
/// The one error convention of every <c>aced</c> command. A user error — an option that does not parse, an unknown
/// option or command, a value out of range, an unreadable or malformed file, an output that would overwrite an
/// input — prints exactly one line <c>aced: error: ...</c> on stderr and exits with <see cref="UsageError"/> (2),
/// before anything is written. Parse errors are handled by <see cref="Invoke(ParseResult, InvocationConfiguration?)"/>
/// (never the help text, never a CLR type name); errors found while running are thrown as <see cref="CliException"/>
/// inside <see cref="Run(Func{int}, TextWriter?)"/>. Warnings are one line <c>aced: warning: ...</c> (<see cref="Warn"/>).
/// </summary>
public static class CommandRunner
{
    /// <summary>Exit code for user errors.</summary>
    public const int UsageError = 2;

    /// <summary>
    /// Parses <paramref name="args"/> with <paramref name="root"/> and runs it (<see cref="Invoke(ParseResult, InvocationConfiguration?)"/>),
    /// writing to <paramref name="stdout"/> and <paramref name="stderr"/> (the console when null). Program.Main and tests use this.
    /// </summary>
    public static int Invoke(Command root, string[] args, TextWriter? stdout = null, TextWriter? stderr = null)
    {
        ArgumentNullException.ThrowIfNull(root);
        ArgumentNullException.ThrowIfNull(args);
        var configuration = new InvocationConfiguration();
        if (stdout is not null)
        {
            configuration.Output = stdout;
        }

        if (stderr is not null)
        {
            configuration.Error = stderr;
        }

        return Invoke(root.Parse(args), configuration);
    }

    /// <summary>
    /// Runs a parse result: when it has parse errors, prints the first as one line (<see cref="DescribeParseError"/>) and
    /// returns <see cref="UsageError"/> without running any command; otherwise invokes it.
    /// </summary>
    public static int Invoke(ParseResult parse, InvocationConfiguration? configuration = null)
    {
        ArgumentNullException.ThrowIfNull(parse);
        configuration ??= new InvocationConfiguration();
        if (parse.Errors.Count > 0)
        {
            configuration.Error.WriteLine($"aced: error: {OneLine(DescribeParseError(parse))}");
            return UsageError;
        }

        return parse.Invoke(configuration);
    }

    /// <summary>
    /// One sentence for the first problem of a parse result, built from the typed result (the unmatched tokens, the
    /// option a parse error belongs to), ending with where to read the usage.
    /// </summary>
    public static string DescribeParseError(ParseResult parse)
    {
        ArgumentNullException.ThrowIfNull(parse);
        Command command = parse.CommandResult.Command;
        string path = CommandPath(parse.CommandResult);
        string see = $"(see '{path} --help')";
        if (parse.UnmatchedTokens.Count > 0)
        {
            string token = parse.UnmatchedTokens[0];
            if (token.StartsWith('-'))
            {
                return $"unknown option '{token}' for '{path}' {see}";
            }

            return command.Subcommands.Count > 0 && parse.CommandResult.Parent is null
                ? $"unknown command '{token}' {see}"
                : $"unexpected argument '{token}' for '{path}' {see}";
        }

        if (parse.Errors.Count == 0)
        {
            return "no error";
        }

        foreach (Option option in command.Options)
        {
            if (option.Required && parse.GetResult(option) is null or { Implicit: true })
            {
                return $"{option.Name} is required {see}";
            }
        }

        ParseError error = parse.Errors[0];
        if (error.SymbolResult is OptionResult optionResult)
        {
            Option option = optionResult.Option;
            if (HasCustomParser(option))
            {
                return $"{error.Message} {see}"; // CliOptions wrote it: it names the option and the expected form
            }

            return optionResult.Tokens.Count == 0
                ? $"{option.Name}: expected a value {see}"
                : $"{option.Name}: cannot read '{optionResult.Tokens[0].Value}' as {FriendlyType(option.ValueType)} {see}";
        }

        if (error.SymbolResult is CommandResult { Command.Subcommands.Count: > 0 } && parse.CommandResult.Parent is null && command.Action is null)
        {
            return $"give a command {see}";
        }

        return $"{error.Message} {see}";
    }

    /// <summary>
    /// Runs a command body and turns the errors a user can cause (<see cref="CliException"/>, and the library's
    /// <see cref="ArgumentException"/>, <see cref="IOException"/>, <see cref="InvalidDataException"/>,
    /// <see cref="UnauthorizedAccessException"/>, <see cref="FormatException"/>) into one line on stderr and exit
    /// code 2. Any other exception is a bug and propagates.
    /// </summary>
    public static int Run(Func<int> body, TextWriter? stderr = null)
    {
        ArgumentNullException.ThrowIfNull(body);
        stderr ??= Console.Error;
        try
        {
            return body();
        }
        catch (Exception ex) when (ex is CliException or ArgumentException or IOException or InvalidDataException or UnauthorizedAccessException or FormatException)
        {
            stderr.WriteLine($"aced: error: {OneLine(ex.Message)}");
            return UsageError;
        }
    }

    /// <summary>Writes one warning line <c>aced: warning: ...</c> (the command goes on).</summary>
    public static void Warn(TextWriter stderr, string message)
    {
        ArgumentNullException.ThrowIfNull(stderr);
        stderr.WriteLine($"aced: warning: {OneLine(message)}");
    }

    /// <summary>Joins the lines of a message into one.</summary>
    public static string OneLine(string message) => (message ?? string.Empty).Replace("\r\n", " ", StringComparison.Ordinal).Replace('\n', ' ').Replace('\r', ' ');

    private static bool HasCustomParser(Option option)
    {
        // Option<T>.CustomParser is generic; read it through the closed type.
        var property = option.GetType().GetProperty(nameof(Option<int>.CustomParser));
        return property?.GetValue(option) is not null;
    }

    private static string CommandPath(CommandResult result)
    {
        var builder = new StringBuilder();
        for (SymbolResult? r = result; r is not null; r = r.Parent)
        {
            if (r is CommandResult c)
            {
                string name = c.Parent is null ? "aced" : c.Command.Name;
                builder.Insert(0, builder.Length == 0 ? name : name + " ");
            }
        }

        return builder.ToString();
    }

    private static string FriendlyType(Type type)
    {
        Type t = Nullable.GetUnderlyingType(type) ?? type;
        if (t == typeof(float) || t == typeof(double) || t == typeof(decimal))
        {
            return "a number";
        }

        if (t == typeof(int) || t == typeof(long) || t == typeof(short) || t == typeof(uint) || t == typeof(ulong) || t == typeof(ushort) || t == typeof(byte))
        {
            return "a whole number";
        }

        if (t == typeof(bool))
        {
            return "true or false";
        }

        return t.IsEnum ? "one of " + string.Join(", ", Enum.GetNames(t)) : "a value of the expected form";
    }
}
