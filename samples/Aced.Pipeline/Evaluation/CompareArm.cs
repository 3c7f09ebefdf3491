using System;
using System.Collections.Generic;
using System.Globalization;

namespace Aced.Pipeline.Evaluation;

/// <summary>
/// One arm of the <c>aced compare</c> grid: a trainer method plus modifiers, written
/// <c>METHOD[:MOD[:MOD...]]</c> with MOD one of <c>clean</c> (student pool without caption noise),
/// <c>matched</c> (as many steps as give the FLOPs of the grid's first selecting arm: IID at matched compute),
/// <c>f=X</c> (filter ratio), <c>tau=X</c> (selection temperature), <c>lambda=X</c> (distillation weight) and
/// <c>ref=SIZE</c> (a reference of that size preset). The label is the spec with ':' shown as ' '.
/// </summary>
public sealed record CompareArm(string Spec, string Method, bool CleanPool, bool MatchedCompute, double? FilterRatio, double? Temperature, double? Lambda, string? ReferenceSize)
{
    /// <summary>Methods that select their batch from a super-batch (filter ratio and temperature matter).</summary>
    public static readonly IReadOnlySet<string> SelectingMethods = new HashSet<string>(StringComparer.Ordinal)
    {
        "i-acid", "h-acid", "aced-iidistill", "aced-acidistill", "jest", "rho-loss", "bad-students", "selective-backprop",
    };

    /// <summary>Methods that need a reference or teacher.</summary>
    public static readonly IReadOnlySet<string> ReferenceMethods = new HashSet<string>(StringComparer.Ordinal)
    {
        "softmax-kd", "sigmoid-kd", "feature-kd", "softmax-sigmoid-kd", "softmax-fm-kd", "i-acid", "h-acid", "aced-iidistill", "aced-acidistill", "jest", "rho-loss",
    };

    /// <summary>The label shown in tables, plots and results.csv.</summary>
    public string Label => Spec.Replace(':', ' ');

    /// <summary>Whether this arm trains with a reference.</summary>
    public bool NeedsReference => ReferenceMethods.Contains(Method);

    /// <summary>A directory-safe name.</summary>
    public string DirectoryName
    {
        get
        {
            var chars = Spec.ToCharArray();
            for (int i = 0; i < chars.Length; i++)
            {
                if (!(char.IsAsciiLetterOrDigit(chars[i]) || chars[i] is '-' or '.' or '_'))
                {
                    chars[i] = '_';
                }
            }

            return new string(chars);
        }
    }

    /// <summary>Parses one arm spec.</summary>
    /// <exception cref="ArgumentException">An empty method or an unknown or malformed modifier (names the spec and the fix).</exception>
    public static CompareArm Parse(string spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        string[] parts = spec.Trim().Split(':');
        string method = parts[0].Trim().ToLowerInvariant();
        if (method.Length == 0)
        {
            throw new ArgumentException($"arm '{spec}' has no method; write METHOD[:clean|:matched|:f=X|:tau=X|:lambda=X|:ref=SIZE]", nameof(spec));
        }

        bool clean = false;
        bool matched = false;
        double? f = null;
        double? tau = null;
        double? lambda = null;
        string? reference = null;
        for (int i = 1; i < parts.Length; i++)
        {
            string mod = parts[i].Trim();
            int eq = mod.IndexOf('=');
            string key = eq < 0 ? mod : mod[..eq];
            string value = eq < 0 ? "" : mod[(eq + 1)..];
            switch (key)
            {
                case "clean" when eq < 0:
                    clean = true;
                    break;
                case "matched" when eq < 0:
                    matched = true;
                    break;
                case "f":
                    f = Number(spec, key, value);
                    break;
                case "tau":
                    tau = Number(spec, key, value);
                    break;
                case "lambda":
                    lambda = Number(spec, key, value);
                    break;
                case "ref" when value.Length > 0:
                    reference = value;
                    break;
                default:
                    throw new ArgumentException($"arm '{spec}': unknown modifier '{mod}'; use clean, matched, f=X, tau=X, lambda=X or ref=SIZE", nameof(spec));
            }
        }

        return new CompareArm(spec.Trim(), method, clean, matched, f, tau, lambda, reference);
    }

    private static double Number(string spec, string key, string value) =>
        double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) && double.IsFinite(v)
            ? v
            : throw new ArgumentException($"arm '{spec}': {key}= needs a number (was '{value}')", nameof(spec));

    /// <summary>
    /// The grid's arms: each method spec, then the one-factor sweeps (Figure 10: filter ratio, temperature;
    /// Figure 4: reference size) applied to every selecting (for f, tau) or reference-using (for ref) method.
    /// </summary>
    public static List<CompareArm> Expand(IReadOnlyList<string> methods, IReadOnlyList<double> filterRatios, IReadOnlyList<double> temperatures, IReadOnlyList<string> referenceSizes)
    {
        var arms = new List<CompareArm>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        void Add(CompareArm arm)
        {
            if (seen.Add(arm.Spec))
            {
                arms.Add(arm);
            }
        }

        var bases = new List<CompareArm>();
        foreach (string m in methods)
        {
            CompareArm arm = Parse(m);
            bases.Add(arm);
            Add(arm);
        }

        foreach (CompareArm b in bases)
        {
            if (b.MatchedCompute || b.CleanPool)
            {
                continue;
            }

            if (SelectingMethods.Contains(b.Method))
            {
                foreach (double f in filterRatios)
                {
                    Add(Parse($"{b.Spec}:f={f.ToString(CultureInfo.InvariantCulture)}"));
                }

                foreach (double t in temperatures)
                {
                    Add(Parse($"{b.Spec}:tau={t.ToString(CultureInfo.InvariantCulture)}"));
                }
            }

            if (b.NeedsReference)
            {
                foreach (string s in referenceSizes)
                {
                    Add(Parse($"{b.Spec}:ref={s}"));
                }
            }
        }

        // Matched-compute arms need the FLOPs of a finished selecting arm: run them last.
        var ordered = new List<CompareArm>(arms.Count);
        foreach (CompareArm a in arms)
        {
            if (!a.MatchedCompute)
            {
                ordered.Add(a);
            }
        }

        foreach (CompareArm a in arms)
        {
            if (a.MatchedCompute)
            {
                ordered.Add(a);
            }
        }

        return ordered;
    }
}
