// Package reader opens packet traces and turns their frames into decoded
// packets for the flow table.
//
// It takes classic pcap (micro- and nanosecond, both byte orders) and pcapng
// (several interfaces, link types and timestamp resolutions), either of them
// optionally compressed with gzip, zstd, xz, bzip2 or lz4, detecting every
// format by its magic bytes (the decompressors are package
// reader/decompress). Several inputs are merged in timestamp order.
// Decode turns one frame of a supported link type into a Packet: addresses,
// ports, TCP flags, sequence numbers and window, IP length, TTL and fragment
// details, without allocating. It opens tunnels (GRE, ERSPAN, VXLAN, Geneve,
// GTP-U, MPLS, IP in IP), so that the packet inside is the Packet and the
// outermost tunnel is recorded beside it; a Decoder with NoDecap leaves them
// closed.
//
// A large uncompressed file can be read in chunks on several goroutines
// (SplitTrace, ReadSplit) with exactly the records of one sequential pass;
// compressed inputs are decompressed a few blocks ahead of decoding. Live
// capture (OpenLive) reads an interface through libpcap.
//
// Bad input never stops reading: a damaged region is skipped, resynchronised
// on a chain of plausible records or blocks, and listed in Trace.Damages with
// its byte offset; a truncated tail keeps everything before it.
//
// Pipeline position: reader -> flows -> report.
package reader
