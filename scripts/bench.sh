#!/usr/bin/env bash
# Benchmarks flowstat against the tools a user would otherwise run, side by
# side on one generated trace, alternating tools on each round so that a
# noisy machine affects them alike. Prints median wall time, the ratio to
# flowstat and peak RSS.
#
#   scripts/bench.sh [-r ROUNDS] [-f FLOWS] [-d WORKDIR] [-L] [-C] [-T]
#
# -T leaves out tshark, which takes about 3 minutes and 8 GB a round on the
# default trace (it keeps every frame).
# -C adds xz, bzip2 and lz4 input beside gzip and zstd (compressing the
# trace with xz and bzip2 takes a few minutes, once).
#
# Then, unless -L, it measures memory against trace length: flowstat on the
# trace and on one twice as long at the same rate (generated once too).
#
# The trace (header-only, snaplen 96, a mix of ordinary connections, a
# spoofed SYN flood and half-open connections) is generated once into
# WORKDIR (default bench-work/, ignored by git).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=3 flows=2000000 work=bench-work lengths=1 more=0 tshark=1
while getopts "r:f:d:LCT" opt; do
  case $opt in
    r) rounds=$OPTARG ;; f) flows=$OPTARG ;; d) work=$OPTARG ;; L) lengths=0 ;; C) more=1 ;; T) tshark=0 ;;
    *) echo "usage: $0 [-r ROUNDS] [-f FLOWS] [-d WORKDIR] [-L] [-C] [-T]" >&2; exit 2 ;;
  esac
done
source scripts/deps.sh
need=()
command -v tcpstat >/dev/null || need+=(tcpstat)
command -v nfpcapd >/dev/null || need+=(nfdump)
command -v argus >/dev/null || need+=(argus-server)
command -v ndpiReader >/dev/null || need+=(libndpi-bin)
[ -x /usr/bin/time ] || need+=(time)
command -v zstd >/dev/null || need+=(zstd)
command -v igzip >/dev/null || need+=(isal)
command -v editcap >/dev/null || need+=(wireshark-common)
[ "$tshark" = 0 ] || command -v tshark >/dev/null || need+=(tshark)
if [ "$more" = 1 ]; then
  command -v xz >/dev/null || need+=(xz-utils)
  command -v bzip2 >/dev/null || need+=(bzip2)
  command -v lz4 >/dev/null || need+=(lz4)
fi
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]} ..." >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

mkdir -p "$work"
go build -o "$work/flowstat" ./cmd/flowstat
go build -o "$work/gentrace" ./scripts/gentrace
trace="$work/bench-$flows.pcap"
if [ ! -f "$trace" ]; then
  echo "generating $trace ..." >&2
  "$work/gentrace" -q -mix bench -flows "$flows" -seed 7 -out "$trace"
fi
[ -s "$trace.gz" ] || gzip -1 -c < "$trace" > "$trace.gz"
[ -s "$trace.zst" ] || zstd -q -1 -c < "$trace" > "$trace.zst"
# The same trace as an archive of 16 rotated files, read as a directory.
files="$work/files-$flows"
if [ ! -d "$files" ]; then
  mkdir -p "$files.tmp"
  packets=$(capinfos -c -M "$trace" | awk '/Number of packets/ {print $NF}')
  editcap -c $((packets / 16 + 1)) "$trace" "$files.tmp/part.pcap"
  mv "$files.tmp" "$files"
fi

# name|command: each runs from a clean output directory.
tools=(
  "flowstat -j 2|$work/flowstat analyze -q -j 2 -o $work/out-fs $trace"
  "flowstat -j 1|$work/flowstat analyze -q -j 1 -o $work/out-fs $trace"
  "flowstat --no-report|$work/flowstat analyze -q -j 2 --no-report -o $work/out-fs $trace"
  "flowstat -j 2, 16 files|$work/flowstat analyze -q -j 2 -o $work/out-fs $files"
  "flowstat -j 1, 16 files|$work/flowstat analyze -q -j 1 -o $work/out-fs $files"
  "map+merge -j 2, 16 files|scripts/mapmerge.sh $work/flowstat $files $work/out-fs 2 2"
  "map+merge -j 1, 16 files|scripts/mapmerge.sh $work/flowstat $files $work/out-fs 1 1"
  "map+merge -j 2, 16 files in 2 runs|scripts/mapmerge.sh $work/flowstat $files $work/out-fs 2 2 2"
  "map+merge -j 2, 2 ranges|scripts/mapmerge.sh $work/flowstat $trace $work/out-fs 2 2 2"
  "map+merge -j 2, 8 ranges|scripts/mapmerge.sh $work/flowstat $trace $work/out-fs 2 2 8"
  "tcpstat -r FILE 60|tcpstat -r $trace 60"
  "nfpcapd -r|nfpcapd -r $trace -w $work/out-nf"
  "argus -r|argus -r $trace -w $work/out-argus/argus.out"
  # nDPI's flows with their application protocols, one thread, as a CSV.
  "ndpiReader -i FILE|ndpiReader -i $trace -q -T 1 -U 1 -C $work/out-nf/ndpi.csv"
)
if [ "$tshark" = 1 ]; then
  # Wireshark's conversation tables: its flows, without TCP states.
  tools+=("tshark -z conv|tshark -n -q -r $trace -z conv,tcp -z conv,udp")
fi
tools+=(
  "flowstat (gzip input)|$work/flowstat analyze -q -o $work/out-fs $trace.gz"
  "gzip -dc (alone)|gzip -dc $trace.gz"
  "igzip -dc (alone)|igzip -dc $trace.gz"
  "flowstat (zstd input)|$work/flowstat analyze -q -o $work/out-fs $trace.zst"
  "zstd -dc (alone)|zstd -q -dc $trace.zst"
)
if [ "$more" = 1 ]; then
  # xz in blocks (-T0), as xz 5.6 and later write by default.
  [ -s "$trace.xz" ] || xz -1 -T0 -c < "$trace" > "$trace.xz"
  [ -s "$trace.bz2" ] || bzip2 -1 -c < "$trace" > "$trace.bz2"
  [ -s "$trace.lz4" ] || lz4 -q -1 -c < "$trace" > "$trace.lz4"
  tools+=(
    "flowstat (xz input)|$work/flowstat analyze -q -o $work/out-fs $trace.xz"
    "xz -dc (alone)|xz -dc $trace.xz"
    "xz -T0 -dc (alone)|xz -T0 -dc $trace.xz"
    "flowstat (bzip2 input)|$work/flowstat analyze -q -o $work/out-fs $trace.bz2"
    "bzip2 -dc (alone)|bzip2 -dc $trace.bz2"
    "flowstat (lz4 input)|$work/flowstat analyze -q -o $work/out-fs $trace.lz4"
    "lz4 -dc (alone)|lz4 -dc $trace.lz4"
  )
fi
results="$work/results.tsv"
: > "$results"
for ((r = 1; r <= rounds; r++)); do
  for entry in "${tools[@]}"; do
    name=${entry%%|*} cmd=${entry#*|}
    rm -rf "$work/out-fs" "$work/out-fs.maps" "$work/out-nf" "$work/out-argus"
    mkdir -p "$work/out-nf" "$work/out-argus"
    /usr/bin/time -f "%e %M" -o "$work/time.txt" bash -c "$cmd > /dev/null 2>&1" || true
    read -r secs kb < <(tail -n 1 "$work/time.txt") # a failed command adds a line first
    printf '%s\t%s\t%s\n' "$name" "$secs" "$kb" >> "$results"
    echo "round $r: $name: ${secs}s, $((kb / 1024)) MiB" >&2
  done
done

packets=$("$work/flowstat" analyze -q -o "$work/out-fs" --no-report "$trace" >/dev/null 2>&1; python3 -c "import json;print(json.load(open('$work/out-fs/summary.json'))['packets']['read'])" 2>/dev/null || echo "?")
echo
echo "Trace: $trace ($(du -hL "$trace" | cut -f1), $packets packets, $flows generated flows); $rounds rounds"
echo "Machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr)"
echo
# Median per tool (mawk has no asort: sort first, then pick the middle).
order=$(cut -f1 "$results" | awk '!seen[$0]++')
sort -t$'\t' -k1,1 -k2,2n "$results" | awk -F'\t' -v order="$order" '
  { n[$1]++; t[$1, n[$1]] = $2; if ($3 > m[$1]) m[$1] = $3 }
  function median(k) { return (n[k] % 2) ? t[k, (n[k] + 1) / 2] : (t[k, n[k] / 2] + t[k, n[k] / 2 + 1]) / 2 }
  END {
    base = median("flowstat -j 2")
    printf "| %-24s | %10s | %15s | %14s |\n", "tool", "median (s)", "÷ flowstat -j 2", "peak RSS (MiB)"
    printf "|%s|%s|%s|%s|\n", "--------------------------", "------------", "-----------------", "----------------"
    k = split(order, names, "\n")
    for (i = 1; i <= k; i++) { x = median(names[i]); printf "| %-24s | %10.2f | %15.2f | %14.0f |\n", names[i], x, x / base, m[names[i]] / 1024 }
  }'

[ "$lengths" = 1 ] || exit 0
# Memory against trace length: the generator keeps the rate of flows, so
# twice the flows is twice the time.
long="$work/bench-$((2 * flows)).pcap"
if [ ! -f "$long" ]; then
  echo "generating $long ..." >&2
  "$work/gentrace" -q -mix bench -flows "$((2 * flows))" -seed 7 -out "$long"
fi
echo
echo "Peak RSS (MiB) against trace length: median of $rounds alternating runs (all runs in brackets):"
echo
echo "| flowstat -j 2 | $flows flows | $((2 * flows)) flows | ratio of medians |"
echo "|---|---:|---:|---:|"
lens="$work/lengths.tsv"
: > "$lens"
for ((r = 1; r <= rounds; r++)); do
  for mode in "with report|" "--no-report|--no-report"; do
    name=${mode%%|*} flag=${mode#*|}
    for t in "$trace" "$long"; do
      rm -rf "$work/out-fs"
      /usr/bin/time -f "%e %M" -o "$work/time.txt" "$work/flowstat" analyze -q -j 2 $flag -o "$work/out-fs" "$t" > /dev/null 2>&1 || true
      read -r secs kb < <(tail -n 1 "$work/time.txt")
      printf '%s\t%s\t%s\n' "$name" "$t" "$((kb / 1024))" >> "$lens"
      echo "round $r: $name, $(basename "$t"): $((kb / 1024)) MiB" >&2
    done
  done
done
for name in "with report" "--no-report"; do
  cells=()
  for t in "$trace" "$long"; do
    cells+=("$(awk -F'\t' -v n="$name" -v t="$t" '$1 == n && $2 == t { print $3 }' "$lens" | sort -n | tr '\n' ' ')")
  done
  awk -v n="$name" -v a="${cells[0]}" -v b="${cells[1]}" '
    function median(s,   v, k) { k = split(s, v, " "); return (k % 2) ? v[(k + 1) / 2] : (v[k / 2] + v[k / 2 + 1]) / 2 }
    BEGIN { ma = median(a); mb = median(b); sub(/ $/, "", a); sub(/ $/, "", b)
      printf "| %s | %.0f [%s] | %.0f [%s] | %.2f |\n", n, ma, a, mb, b, mb / ma }'
done
