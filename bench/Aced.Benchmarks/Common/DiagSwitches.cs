using System;
using System.Globalization;
using System.Reflection;
using Aced.Core;
using Aced.Models;

namespace Aced.Benchmarks.Common;

/// <summary>
/// The probes' <c>ACED_DIAG_OFF="Full.Type.Switch,..."</c>: internal static bool switches of Aced.Core or Aced.Models
/// turned off for the whole run (<c>"Full.Type.Setting=value"</c> sets an int setting), so runs of one build alternate
/// a path off and on (AcedProbe step-diag, TorchStepProbe).
/// </summary>
public static class DiagSwitches
{
    /// <summary>Applies the environment's settings and prints each one.</summary>
    /// <exception cref="ArgumentException">A named switch does not exist.</exception>
    public static void ApplyFromEnvironment()
    {
        foreach (string setting in (Environment.GetEnvironmentVariable("ACED_DIAG_OFF") ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            int eq = setting.IndexOf('=');
            string name = eq < 0 ? setting : setting[..eq];
            int dot = name.LastIndexOf('.');
            Type? owner = null;
            foreach (Assembly assembly in new[] { typeof(AcedControl).Assembly, typeof(TwoTowerModel).Assembly })
            {
                owner ??= assembly.GetType(name[..dot]);
            }

            PropertyInfo property = owner?.GetProperty(name[(dot + 1)..], BindingFlags.NonPublic | BindingFlags.Static)
                ?? throw new ArgumentException($"No switch {name} (ACED_DIAG_OFF).");
            property.SetValue(null, eq < 0 ? false : int.Parse(setting[(eq + 1)..], CultureInfo.InvariantCulture));
            Console.WriteLine($"set: {setting}");
        }
    }
}
