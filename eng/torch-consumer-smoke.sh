#!/usr/bin/env bash
# Packs Aced.TorchSharp (and the Aced packages it depends on) into a private feed, then proves that a fresh
# consumer project restores it together with a libtorch runtime of its own choice (LIBTORCH_PACKAGE /
# LIBTORCH_VERSION, default libtorch-cpu-linux-x64 2.10.0), builds (the package's loader fix patches the consumer's
# copy of libLibTorchSharp.so on Debian 12), and runs a tensor selection that equals the managed sampler's.
# libtorch is resolved from the machine's NuGet cache when present (a fallback folder), so it is not downloaded twice.
# The packages folder lies outside the consumer's folder so that the package's build/*.cs is not compiled as its source.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
libtorch_package=${LIBTORCH_PACKAGE:-libtorch-cpu-linux-x64}
libtorch_version=${LIBTORCH_VERSION:-2.10.0}
version="0.1.0-torchsmoke.$(date +%s)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
feed="$work/feed"
for project in Aced.Core Aced.Losses Aced.Selection Aced.Models Aced.TorchSharp; do
  dotnet pack "src/$project/$project.csproj" -c Release -o "$feed" --nologo -v quiet -p:Version="$version"
done
ls "$feed"/Aced.TorchSharp."$version".nupkg >/dev/null || { echo "missing package Aced.TorchSharp in $feed"; exit 1; }

global_cache=${NUGET_PACKAGES:-$HOME/.nuget/packages}
mkdir -p "$work/consumer"
cat > "$work/consumer/nuget.config" <<XML
<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <packageSources>
    <clear />
    <add key="local" value="$feed" />
    <add key="nuget.org" value="https://api.nuget.org/v3/index.json" />
  </packageSources>
</configuration>
XML
cat > "$work/consumer/Consumer.csproj" <<XML
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup>
    <OutputType>Exe</OutputType>
    <TargetFramework>net10.0</TargetFramework>
    <Nullable>enable</Nullable>
    <RestorePackagesPath>$work/packages</RestorePackagesPath>
    <RestoreFallbackFolders>$global_cache</RestoreFallbackFolders>
  </PropertyGroup>
  <ItemGroup>
    <PackageReference Include="Aced.TorchSharp" Version="$version" />
    <PackageReference Include="$libtorch_package" Version="$libtorch_version" />
  </ItemGroup>
</Project>
XML
cat > "$work/consumer/Program.cs" <<'CS'
using Aced.Core;
using Aced.Selection;
using Aced.TorchSharp.Selection;
using TorchSharp;

const int count = 400, dimension = 16;
torch.manual_seed(3);
var tensors = new torch.Tensor[4];
var arrays = new Matrix[4];
for (int i = 0; i < 4; i++)
{
    tensors[i] = torch.nn.functional.normalize(torch.randn(count, dimension), dim: 1);
    arrays[i] = new Matrix(count, dimension, tensors[i].data<float>().ToArray());
}

var student = new LogitParameters(10f, -10f);
var reference = new LogitParameters(12f, -8f);
var options = MethodPreset.For(TrainingMethod.HAcid).Selection!;
options.BatchSize = 80;
options.Seed = 7;
using TorchSelectionResult selected = new TorchActiveBatchSampler(options).Sample(
    new TorchSuperBatch(new TorchModelEmbeddings(tensors[0], tensors[1], student), new TorchModelEmbeddings(tensors[2], tensors[3], reference)), 0);
int[] expected = new ActiveBatchSampler(options).Sample(
    new SuperBatch(new ModelEmbeddings(arrays[0], arrays[1], student), new ModelEmbeddings(arrays[2], arrays[3], reference)), 0).ToArray();
long[] actual = selected.ToArray();
bool same = actual.Length == expected.Length;
for (int i = 0; same && i < actual.Length; i++)
{
    same = actual[i] == expected[i];
}

System.Console.WriteLine(same ? $"consumer ok: {actual.Length} of {count} selected on {selected.Indices.device}, same as the managed sampler" : "consumer WRONG: the tensor selection differs from the managed one");
return same ? 0 : 1;
CS
cp global.json "$work/consumer/"
(cd "$work/consumer" && dotnet run -c Release --nologo -v quiet)
echo "torch consumer smoke: restored Aced.TorchSharp $version with $libtorch_package $libtorch_version and ran a tensor selection"
