#!/usr/bin/env bash
# Builds flowstat and analyses the bundled sample trace into flowstat-out/sample.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
go build -o flowstat ./cmd/flowstat
./flowstat analyze --hosts -o flowstat-out/sample testdata/sample.pcap.gz
echo "outputs: $(ls flowstat-out/sample | tr '\n' ' ')"
