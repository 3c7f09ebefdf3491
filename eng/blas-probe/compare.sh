#!/usr/bin/env bash
# Back-to-back OpenBLAS vs Aced SGEMM under the same machine load, repeated ROUNDS times.
# Usage: eng/blas-probe/compare.sh [all|1024|samp|odd|4096] [rounds]
# Requires libopenblas-dev (apt-get install -y libopenblas-dev); OpenBLAS is NOT an Aced dependency.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
which="${1:-all}"
rounds="${2:-3}"
out="${TMPDIR:-/tmp}/aced-blas-probe"
gcc -O2 -o "$out" "$here/probe.c" -lopenblas
dotnet build "$here/AcedProbe/AcedProbe.csproj" -c Release -o "${TMPDIR:-/tmp}/aced-probe-bin" > /dev/null
echo "date: $(date -u +%Y-%m-%dT%H:%MZ)  cpu: $(lscpu | sed -n 's/^Model name: *//p')"
for r in $(seq 1 "$rounds"); do
    for t in 1 2; do
        echo "== round $r, $t thread(s); $(uptime | sed 's/.*load/load/')"
        OPENBLAS_NUM_THREADS=$t "$out" "$which" | sed 's/^/openblas  /'
        dotnet "${TMPDIR:-/tmp}/aced-probe-bin/AcedProbe.dll" "$t" "$which" | sed 's/^/aced      /'
    done
done
echo "end: $(uptime)"
