#!/usr/bin/env bash
# Measures what flows.parquet's columns cost analyze: this commit against
# the same commit built to write only the 25 columns flows.parquet had
# before its flow fields (b1e916a's: no payload bytes, IP lengths, TTLs,
# ICMP type and code, retransmissions, zero windows, Community ID, tunnel
# or first-packet location; scripts/fields-cost/base-columns.patch). The
# two run in turn on bench.sh's trace, with and without the report, and it
# prints the medians of wall time, CPU time and peak RSS, and their ratios.
#
#   scripts/fields-cost.sh [-r ROUNDS] [-d WORKDIR]
#
# The trace is bench.sh's (WORKDIR/bench-2000000.pcap, default
# bench-work/): run bench.sh once first. The 25-column build is made from
# HEAD, the other from the working tree: commit a change before measuring.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=5 work=bench-work
while getopts "r:d:" opt; do
  case $opt in
    r) rounds=$OPTARG ;; d) work=$OPTARG ;;
    *) echo "usage: $0 [-r ROUNDS] [-d WORKDIR]" >&2; exit 2 ;;
  esac
done
source scripts/deps.sh
mkdir -p "$work"
work=$(realpath "$work")
trace="$work/bench-2000000.pcap"
if [ ! -f "$trace" ]; then
  echo "no $trace: run scripts/bench.sh first, which generates it" >&2
  exit 2
fi
[ -x /usr/bin/time ] || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null; }

go build -o "$work/flowstat-fields" ./cmd/flowstat
tree=$(mktemp -d)
trap 'git worktree remove --force "$tree" >/dev/null 2>&1 || rm -rf "$tree"' EXIT
git worktree add -q --detach "$tree" HEAD
git -C "$tree" apply "$PWD/scripts/fields-cost/base-columns.patch"
(cd "$tree" && go build -o "$work/flowstat-25cols" ./cmd/flowstat)

results="$work/fields-cost.tsv"
: > "$results"
for ((r = 1; r <= rounds; r++)); do
  for mode in "whole" "--no-report"; do
    flag=""
    [ "$mode" = whole ] || flag=$mode
    for build in fields 25cols; do
      rm -rf "$work/out-fields"
      /usr/bin/time -f "%e %U %S %M" -o "$work/time.txt" \
        "$work/flowstat-$build" analyze -q $flag -o "$work/out-fields" "$trace" >/dev/null 2>&1
      read -r wall user sys kb < <(tail -n 1 "$work/time.txt")
      printf '%s\t%s\t%s\t%s\t%s\n' "$mode" "$build" "$wall" "$(awk -v u="$user" -v s="$sys" 'BEGIN {print u + s}')" "$kb" >> "$results"
      echo "round $r, $mode, $build: ${wall}s" >&2
    done
  done
done

echo
echo "Trace: $trace; $rounds rounds, the two builds in turn; medians"
echo
echo "| run | wall, 50 columns | wall, 25 columns | ratio | CPU ratio | peak RSS (MiB) 50 / 25 |"
echo "|---|---:|---:|---:|---:|---:|"
for mode in "whole" "--no-report"; do
  for build in fields 25cols; do
    for col in 3 4 5; do
      awk -F'\t' -v m="$mode" -v b="$build" -v c=$col '$1 == m && $2 == b {print $c}' "$results" | sort -n |
        awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'
    done
  done | paste -sd' ' | awk -v m="$mode" '{printf "| %s | %.2f s | %.2f s | %.3f | %.3f | %.0f / %.0f |\n", m, $1, $4, $1 / $4, $2 / $5, $3 / 1024, $6 / 1024}'
done
