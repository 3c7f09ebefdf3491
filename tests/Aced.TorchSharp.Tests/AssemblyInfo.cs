// The tests reference libtorch-cpu-linux-x64: they run on Linux x64 only.
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
