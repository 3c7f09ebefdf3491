#!/usr/bin/env bash
# Packs the six libraries and the aced tool into artifacts/, then proves that a fresh consumer
# project restores Aced.Core (and its dependency) from that folder and runs a GEMM with it.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
rm -rf artifacts
dotnet pack Aced.sln -c Release -o artifacts --nologo -v quiet
for id in Aced.Core Aced.Losses Aced.Selection Aced.Models Aced.TorchSharp Aced.Mpi Aced.Cli; do
  ls artifacts/$id.*.nupkg >/dev/null || { echo "missing package $id in artifacts/"; exit 1; }
  ls artifacts/$id.*.snupkg >/dev/null || { echo "missing symbol package $id.*.snupkg in artifacts/"; exit 1; }
  unzip -l artifacts/$id.*[0-9].nupkg | grep ' README.md$' >/dev/null || { echo "$id: the package has no README.md"; exit 1; }
  unzip -p artifacts/$id.*[0-9].nupkg "$id.nuspec" | grep '<tags>' >/dev/null || { echo "$id: the package has no tags"; exit 1; }
done
version=$(ls artifacts/Aced.Core.*.nupkg | sed -E 's/.*Aced\.Core\.(.*)\.nupkg/\1/')
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat > "$work/nuget.config" <<XML
<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <packageSources>
    <clear />
    <add key="local" value="$root/artifacts" />
    <add key="nuget.org" value="https://api.nuget.org/v3/index.json" />
  </packageSources>
</configuration>
XML
cat > "$work/Consumer.csproj" <<XML
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup>
    <OutputType>Exe</OutputType>
    <TargetFramework>net10.0</TargetFramework>
    <Nullable>enable</Nullable>
    <RestorePackagesPath>$work/packages</RestorePackagesPath>
  </PropertyGroup>
  <ItemGroup>
    <PackageReference Include="Aced.Core" Version="$version" />
  </ItemGroup>
</Project>
XML
cat > "$work/Program.cs" <<'CS'
using Aced.Core;
var a = new Matrix(3, 2, new float[] { 1, 2, 3, 4, 5, 6 });
var b = new Matrix(2, 2, new float[] { 1, 0, 0, 1 });
var c = new Matrix(3, 2);
Gemm.Multiply(a, b, c);
System.Console.WriteLine(c[2, 1] == 6f ? "consumer ok" : "consumer WRONG");
return c[2, 1] == 6f ? 0 : 1;
CS
cp global.json "$work/"
(cd "$work" && dotnet run -c Release --nologo -v quiet)
echo "pack smoke: consumer restored Aced.Core $version from artifacts/ and ran"
