#!/usr/bin/env bash
# Multi-process selection check: `mpiexec -n 2` and `mpiexec -n 4` (oversubscribed on small machines) of
# `aced select --distributed` must write bit-identical indices to the single-process `aced select` on the same
# generated .npy inputs, for several samplers, losses and scorings. Needs MPICH (apt-get install mpich) and python3
# (to write the inputs); prints a SKIPPED line and exits 0 when either is absent.
# Usage: bash eng/mpi-check.sh [rows] [dim]
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-1503}
dim=${2:-24}

mpiexec=$(command -v mpiexec.mpich || command -v mpiexec || true)
if [ -z "$mpiexec" ]; then
  echo "mpi-check: SKIPPED: no mpiexec on PATH (install MPICH: apt-get install mpich)"
  exit 0
fi
# Read the whole version text first: with pipefail, `mpiexec --version | grep -q` fails whenever grep exits
# before the launcher has written everything (SIGPIPE), which skipped this check in about 1 run of 40.
launcher_version=$("$mpiexec" --version 2>/dev/null || true)
if ! grep -qi -e hydra -e mpich <<<"$launcher_version"; then
  echo "mpi-check: SKIPPED: $mpiexec is not MPICH's launcher (Aced.Mpi needs MPICH: apt-get install mpich)"
  exit 0
fi
if ! command -v python3 >/dev/null 2>&1; then
  echo "mpi-check: SKIPPED: python3 is needed to generate the inputs"
  exit 0
fi

dotnet build samples/Aced.Cli -c Release -v q --nologo -clp:ErrorsOnly >/dev/null
aced=(dotnet samples/Aced.Cli/bin/Release/net10.0/aced.dll)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# B x d float32 .npy files with L2-normalised rows; captions are noisy copies of the images.
python3 - "$work" "$rows" "$dim" <<'PY'
import math, random, struct, sys
out, rows, dim = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def save(name, data, d):
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }" % (len(data) // d, d)
    header += " " * (63 - (len(header) + 10) % 64) + "\n"
    with open(f"{out}/{name}.npy", "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1"))
        f.write(struct.pack("<%df" % len(data), *data))
def unit(v):
    n = math.sqrt(sum(x * x for x in v)) or 1.0
    return [x / n for x in v]
for model, d, noise, seed in (("s", dim, 1.2, 1), ("r", dim + 8, 0.5, 2)):
    rng = random.Random(seed)
    img, txt = [], []
    for i in range(rows):
        v = [rng.gauss(0, 1) for _ in range(d)]
        img += unit(v)
        txt += unit([x + noise * rng.gauss(0, 1) for x in v])
    save(model + "i", img, d)
    save(model + "t", txt, d)
PY

inputs=(--student-image "$work/si.npy" --student-text "$work/st.npy" --reference-image "$work/ri.npy" --reference-text "$work/rt.npy")
failed=0
checked=0
while read -r label options; do
  [ -n "$label" ] || continue
  # shellcheck disable=SC2086
  "${aced[@]}" select "${inputs[@]}" $options --out "$work/single.npy" >"$work/single.json" </dev/null
  for n in 2 4; do
    # shellcheck disable=SC2086
    if ! "$mpiexec" -n "$n" "${aced[@]}" select --distributed "${inputs[@]}" $options --out "$work/mpi$n.npy" >"$work/mpi$n.json" 2>"$work/mpi$n.err" </dev/null; then
      echo "mpi-check: FAILED: $label, mpiexec -n $n exited with an error:"; cat "$work/mpi$n.err"; failed=$((failed + 1)); continue
    fi
    if cmp -s "$work/single.npy" "$work/mpi$n.npy"; then
      bytes=$(python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print(j['bytesCommunicated'], round(max(r['selectSeconds'] for r in j['perRank']), 3))" "$work/mpi$n.json")
      echo "mpi-check: ok: $label, mpiexec -n $n equals aced select (bytes communicated, slowest rank seconds: $bytes)"
    else
      echo "mpi-check: FAILED: $label, mpiexec -n $n indices differ from aced select"; failed=$((failed + 1))
    fi
    checked=$((checked + 1))
  done
done <<'CASES'
joint-sigmoid-learnability --seed 3
joint-softmax-hard-greedy --loss softmax --scoring hard --mode greedy --chunks 8
joint-sigmoid-easyref-mean --scoring easy-ref --normalization mean --temperature 100 --batch-size 301 --chunks 7
independent-pair --sampler independent --loss pair --seed 9
topk-softmax --sampler topk --loss softmax
uniform --sampler uniform --seed 5
percentile-normalize --sampler loss-percentile --percentile-power 2 --normalize --seed 6
CASES

echo "mpi-check: $checked comparisons, $failed failed"
[ "$failed" -eq 0 ]
