using System;
using System.Runtime.InteropServices;
using System.Text;

namespace Aced.TorchStepProbe;

/// <summary>
/// libtorch's own description of its build and threading, the text PyTorch prints for
/// <c>torch.__config__.show()</c> and <c>torch.__config__.parallel_info()</c> (TorchSharp does not expose them):
/// <c>at::show_config()</c> and <c>at::get_parallel_info()</c> of the <c>libtorch_cpu.so</c> TorchSharp has loaded.
/// </summary>
internal static unsafe class LibTorchInfo
{
    private const string Library = "libtorch_cpu.so";

    /// <summary><c>at::show_config()</c>: compiler, BLAS/MKL, oneDNN, OpenMP, CPU capability, build flags.</summary>
    public static string Config() => Call("_ZN2at11show_configB5cxx11Ev");

    /// <summary><c>at::get_parallel_info()</c>: intra- and inter-op threads, OpenMP/MKL threads, parallel backend.</summary>
    public static string ParallelInfo() => Call("_ZN2at17get_parallel_infoB5cxx11Ev");

    /// <summary>
    /// Calls a libtorch function <c>std::string f()</c> (libstdc++'s C++11 ABI, x86-64 System V): the 32-byte string
    /// is returned through a hidden pointer in the first argument register and holds the character pointer and the
    /// length in its first two words. The string's heap buffer, if any, is not freed (two calls per run).
    /// </summary>
    private static string Call(string symbol)
    {
        if (!NativeLibrary.TryLoad(Library, typeof(LibTorchInfo).Assembly, null, out nint library) ||
            !NativeLibrary.TryGetExport(library, symbol, out nint function))
        {
            return $"({symbol} not found in {Library})";
        }

        byte* result = stackalloc byte[32];
        ((delegate* unmanaged<byte*, byte*>)function)(result);
        return Encoding.UTF8.GetString(*(byte**)result, (int)*(nuint*)(result + 8));
    }
}
