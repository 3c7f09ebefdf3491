#!/usr/bin/env bash
# Times OpenBLAS cblas_sgemm with 1 and 2 threads on the Aced benchmark shapes.
# Requires: apt-get update && apt-get install -y libopenblas-dev   (NOT an Aced dependency)
# Usage: eng/blas-probe/run.sh [all|1024|samp|odd|4096]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${TMPDIR:-/tmp}/aced-blas-probe"
gcc -O2 -o "$out" "$here/probe.c" -lopenblas
echo "date: $(date -u +%Y-%m-%dT%H:%MZ)"
echo "cpu: $(lscpu | sed -n 's/^Model name: *//p')"
echo "uptime: $(uptime)"
for t in 1 2; do
    echo "== OPENBLAS_NUM_THREADS=$t"
    OPENBLAS_NUM_THREADS=$t "$out" "${1:-all}"
done
echo "uptime: $(uptime)"
