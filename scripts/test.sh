#!/usr/bin/env bash
# Runs every test. Tests that need ../shared/traces skip with a message
# when it is absent.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
go vet ./...
go test -count=1 ./... "$@"
