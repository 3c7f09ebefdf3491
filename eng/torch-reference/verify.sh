#!/bin/sh
# Checks that joint_select.py selects what Aced selects on the same inputs (greedy, so no random draws):
#   eng/torch-reference/verify.sh ["2048 512 64 8" "5120 1024 256 16" ...]   (B b d n per argument)
# Prints, per size, how many chosen indices agree in selection order and as a set.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
tmp=${TORCHREF_TMP:-/tmp/aced-torchref}
py=${PYTHON:-/usr/bin/python3}
[ "$#" -gt 0 ] || set -- "2048 512 64 8" "5120 1024 256 16"
dotnet build "$here/AcedSelect/AcedSelect.csproj" -c Release -o "$tmp/bin" -v q -nologo >/dev/null
for size in "$@"; do
    set -- $size
    dir="$tmp/verify-$1-$3"
    [ -f "$dir/rt.npy" ] || dotnet "$tmp/bin/AcedSelect.dll" gen "$dir" "$1" "$3"
    dotnet "$tmp/bin/AcedSelect.dll" select "$dir" "$2" "$4" greedy 1 "$dir/aced.npy"
    $py "$here/joint_select.py" select "$dir" "$2" "$4" --greedy --reps 1 --out "$dir/torch.npy"
    $py -c "import numpy as np, sys; a = np.load(sys.argv[1]); t = np.load(sys.argv[2]); print(f'B={sys.argv[3]}: same index at the same position {(a == t).sum()}/{len(a)}, same set {len(set(a.tolist()) & set(t.tolist()))}/{len(a)}')" "$dir/aced.npy" "$dir/torch.npy" "$1"
done
