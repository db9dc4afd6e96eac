// Package flows turns decoded packets into bidirectional flow records.
//
// A Table keys flows by protocol, VLAN and the two endpoints in canonical
// order, so both directions of a connection meet in one entry; it keeps the
// TCP handshake and teardown seen on each side, decides which endpoint
// originated the flow, and ends flows on TCP close (after a short linger),
// idle timeout, active timeout or end of input. All timeouts run on packet
// time, never on the wall clock, so a trace gives the same records however
// fast it is read. Each ended flow is handed to the caller as a Record with
// its Zeek-style connection state and history.
//
// Pipeline position: reader -> flows -> report.
package flows
