#!/bin/sh
# The PyTorch yardstick of issue 12: Aced's joint learnability/sigmoid selection vs joint_select.py on the same
# inputs, alternated (Aced, PyTorch, Aced, PyTorch, ...) in separate processes, plus both sides' 1024^3 SGEMM.
# Usage (on a shared machine, under the benchmark lock):
#   flock /work/wt/bench.lock eng/torch-reference/run.sh [rounds] [sizes]
# STOCK=1 adds a PyTorch run with the libraries' default spin-waits. rounds: default 3; sizes: "5120 20480" (B; b = B/5, d = 256, n = 16). Needs /usr/bin/python3 with torch
# (Debian: apt-get install python3-torch). Inputs and the build go to ${TORCHREF_TMP:-/tmp/aced-torchref}.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
tmp=${TORCHREF_TMP:-/tmp/aced-torchref}
rounds=${1:-3}
sizes=${2:-"5120 20480"}
reps=${REPS:-7}
py=${PYTHON:-/usr/bin/python3}
dotnet build "$here/AcedSelect/AcedSelect.csproj" -c Release -o "$tmp/bin" -v q -nologo >/dev/null
aced="dotnet $tmp/bin/AcedSelect.dll"
for B in $sizes; do
    [ -f "$tmp/in$B/rt.npy" ] || $aced gen "$tmp/in$B" "$B" 256
done
echo "date $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "load before: $(uptime)"
$py -c "import ctypes, torch; o = ctypes.CDLL('libopenblas.so.0'); o.openblas_get_config.restype = ctypes.c_char_p; print('torch', torch.__version__, 'with', o.openblas_get_config().decode())"
for r in $(seq 1 "$rounds"); do
    echo "round $r"
    $aced sgemm 1024 20
    $py "$here/joint_select.py" sgemm 1024 --reps 20
    for B in $sizes; do
        b=$((B / 5))
        $aced select "$tmp/in$B" "$b" 16 gumbel "$reps"
        $py "$here/joint_select.py" select "$tmp/in$B" "$b" 16 --reps "$reps" --breakdown
        [ -z "${STOCK:-}" ] || $py "$here/joint_select.py" select "$tmp/in$B" "$b" 16 --reps "$reps" --stock-env
    done
done
echo "load after: $(uptime)"
