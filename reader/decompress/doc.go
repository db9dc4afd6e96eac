// Package decompress reads the compressions packet traces are archived in:
// gzip (through ISA-L), zstd, xz (through liblzma, in parallel for files
// written in blocks), bzip2 (through libbz2, its blocks on every core) and
// lz4. Detect tells a format by its first bytes; Format.Open gives a reader
// of the decompressed bytes. It knows nothing of traces: package reader
// marks its errors as damage to the compressed stream and reads the bytes
// ahead of decoding.
package decompress
