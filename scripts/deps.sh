#!/usr/bin/env bash
# Installs what building flowstat needs beside Go: a C compiler (cgo), g++
# (the DuckDB test driver links libstdc++), libpcap's headers (BPF
# filters and live capture), ISA-L's (gzip input, four times faster than
# pure Go), liblzma's and libbz2's (xz and bzip2 input, 1.5 to 2 times
# faster than pure Go). Sourced by demo.sh and test.sh.
set -euo pipefail

missing=()
command -v gcc >/dev/null 2>&1 || missing+=(gcc)
command -v g++ >/dev/null 2>&1 || missing+=(g++)
[ -f /usr/include/pcap/pcap.h ] || [ -f /usr/include/pcap.h ] || missing+=(libpcap-dev)
[ -f /usr/include/isa-l/igzip_lib.h ] || missing+=(libisal-dev)
[ -f /usr/include/lzma.h ] || missing+=(liblzma-dev)
[ -f /usr/include/bzlib.h ] || missing+=(libbz2-dev)

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    sudo=""
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo="sudo"
  else
    echo "flowstat needs these Debian packages: ${missing[*]}" >&2
    echo "Install them as root, then run this script again:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
    exit 2
  fi
  echo "installing ${missing[*]} ..." >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if ! command -v go >/dev/null 2>&1; then
  echo "flowstat needs Go 1.26 or newer on PATH (https://go.dev/doc/install)" >&2
  exit 2
fi
