#!/usr/bin/env bash
# The map and merge path on one machine, for scripts/bench.sh: a map task
# per trace of DIR (P at once, -j 1 each), then a merge with -j J into OUT
# (the map task outputs go to OUT.maps).
#
#   scripts/mapmerge.sh FLOWSTAT DIR OUT P J
set -euo pipefail
fs=$1 dir=$2 out=$3 P=$4 J=$5
rm -rf "$out" "$out.maps"
mkdir -p "$out.maps"
ls "$dir" | xargs -P "$P" -I{} "$fs" map -q -j 1 -o "$out.maps/{}" "$dir/{}"
"$fs" merge -q -j "$J" -o "$out" "$out.maps"/*
