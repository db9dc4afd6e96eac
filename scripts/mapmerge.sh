#!/usr/bin/env bash
# The map and merge path on one machine, for scripts/bench.sh: the traces
# of DIR in N map tasks of consecutive traces (default: a task per trace),
# or one trace FILE in N byte ranges (default 8); P tasks at once, -j 1
# each; then a merge with -j J into OUT (the map task outputs go to
# OUT.maps).
#
#   scripts/mapmerge.sh FLOWSTAT DIR|FILE OUT P J [N]
set -euo pipefail
fs=$1 in=$2 out=$3 P=$4 J=$5 N=${6:-}
rm -rf "$out" "$out.maps"
mkdir -p "$out.maps"
if [ -d "$in" ]; then
  files=("$in"/*)
  N=${N:-${#files[@]}}
  per=$(( (${#files[@]} + N - 1) / N ))
  seq 0 "$per" $((${#files[@]} - 1)) | xargs -P "$P" -I{} bash -c 'files=("$1"/*); "$2" map -q -j 1 -o "$3/$4" "${files[@]:$4:$5}"' _ "$in" "$fs" "$out.maps" {} "$per"
else
  seq 1 "${N:-8}" | xargs -P "$P" -I{} "$fs" map -q -j 1 --part "{}/${N:-8}" -o "$out.maps/{}" "$in"
fi
"$fs" merge -q -j "$J" -o "$out" "$out.maps"/*
