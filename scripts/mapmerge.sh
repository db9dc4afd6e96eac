#!/usr/bin/env bash
# The map and merge path on one machine, for scripts/bench.sh: a map task
# per trace of DIR, or per byte range of one trace FILE (N ranges,
# default 8), P at once, -j 1 each; then a merge with -j J into OUT (the
# map task outputs go to OUT.maps).
#
#   scripts/mapmerge.sh FLOWSTAT DIR|FILE OUT P J [N]
set -euo pipefail
fs=$1 in=$2 out=$3 P=$4 J=$5 N=${6:-8}
rm -rf "$out" "$out.maps"
mkdir -p "$out.maps"
if [ -d "$in" ]; then
  ls "$in" | xargs -P "$P" -I{} "$fs" map -q -j 1 -o "$out.maps/{}" "$in/{}"
else
  seq 1 "$N" | xargs -P "$P" -I{} "$fs" map -q -j 1 --part "{}/$N" -o "$out.maps/{}" "$in"
fi
"$fs" merge -q -j "$J" -o "$out" "$out.maps"/*
