#!/usr/bin/env bash
# Checks that two flowstat binaries write the same outputs, byte for byte
# (summary.json less its timings), on the sample, every real trace in
# ../shared/traces/real/ and, when given, a larger trace with -j 1 and -j 2:
# the proof that a change meant to move code changed no behaviour.
#
#   scripts/same-outputs.sh OLD_BINARY NEW_BINARY [BIG_TRACE]
set -euo pipefail
cd "$(dirname "$0")/.."
old=$1 new=$2 big=${3:-}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
status=0

# compare NAME ARGS...: runs both binaries with ARGS and compares their outputs.
compare() {
  local name=$1; shift
  local rc_old=0 rc_new=0
  # The same output path for both, as messages name it.
  "$old" analyze -q -o "$work/out" "$@" 2>"$work/old.err" || rc_old=$?
  mv "$work/out" "$work/old"
  "$new" analyze -q -o "$work/out" "$@" 2>"$work/new.err" || rc_new=$?
  mv "$work/out" "$work/new"
  for d in old new; do
    [ -f "$work/$d/summary.json" ] &&
      grep -v '"elapsed_s"\|"packets_per_s"' "$work/$d/summary.json" >"$work/$d.summary" &&
      rm "$work/$d/summary.json"
  done
  if [ "$rc_old" != "$rc_new" ] || ! diff -r -q "$work/old" "$work/new" >/dev/null ||
     ! cmp -s "$work/old.summary" "$work/new.summary" || ! cmp -s "$work/old.err" "$work/new.err"; then
    echo "DIFFERENT: $name (exit $rc_old vs $rc_new)"
    diff -r -q "$work/old" "$work/new" || true
    diff "$work/old.summary" "$work/new.summary" | head -20 || true
    diff "$work/old.err" "$work/new.err" | head -20 || true
    status=1
  else
    echo "same: $name (exit $rc_new, $(ls "$work/new" | wc -l) outputs)"
  fi
  rm -rf "$work/old" "$work/new" "$work"/*.summary
}

compare sample testdata/sample.pcap.gz
compare "sample -i 5s" -i 5s testdata/sample.pcap.gz
compare "damaged directory" testdata/damaged
if [ -d ../shared/traces/real ]; then
  for t in ../shared/traces/real/*; do
    compare "$(basename "$t")" "$t"
    compare "$(basename "$t") -i 1s" -i 1s "$t"
  done
else
  echo "skipped the real traces: ../shared/traces/real is absent"
fi
if [ -n "$big" ]; then
  compare "$(basename "$big") -j 1" -j 1 "$big"
  compare "$(basename "$big") -j 2" -j 2 "$big"
fi
exit $status
