// Package reader opens packet traces and turns their frames into decoded
// packets for the flow table.
//
// It takes classic pcap (micro- and nanosecond, both byte orders) and pcapng
// (several interfaces, link types and timestamp resolutions), either of them
// optionally compressed with gzip or zstd, detecting every format by its magic
// bytes. Several inputs are merged in timestamp order. Decode turns one frame
// of a supported link type into a Packet: addresses, ports, TCP flags, IP
// length and fragment details, without allocating.
//
// Pipeline position: reader -> flows -> report.
package reader
