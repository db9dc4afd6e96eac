#!/usr/bin/env bash
# Runs every test. Tests that need ../shared/traces skip with a message
# when it is absent.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
go vet ./...
# cmd/flowstat's end-to-end tests take minutes on two cores; a loaded
# machine must not cut them at go test's default 10.
go test -count=1 -timeout 40m ./... "$@"
# The Apache Beam pipeline is a module of its own (beam/): its first build
# fetches and compiles Beam's SDK, a few minutes.
(cd beam && go vet ./... && go test -count=1 -timeout 20m ./...)
