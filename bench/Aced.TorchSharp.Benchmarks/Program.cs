using BenchmarkDotNet.Running;

namespace Aced.TorchSharp.Benchmarks;

public static class Program
{
    public static void Main(string[] args) => BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
}
