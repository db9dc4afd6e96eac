package reader

import (
	"errors"
	"fmt"
	"io"
)

// Frame is one captured frame as a trace stores it. Data points into the
// reader's buffer and is valid until the next call to Next.
type Frame struct {
	Time     int64 // nanoseconds since the Unix epoch, UTC
	LinkType int
	WireLen  int    // length on the wire
	Data     []byte // the captured bytes (len(Data) is the captured length)
	Offset   int64  // byte offset of the record in the uncompressed trace
}

// Sentinel errors that damage reports and open errors wrap.
var (
	ErrBadMagic     = errors.New("not a pcap or pcapng trace")
	ErrTruncated    = errors.New("trace ends in the middle of a record")
	ErrBadRecord    = errors.New("implausible record header")
	ErrBadBlock     = errors.New("malformed pcapng block")
	ErrCompressed   = errors.New("damaged compressed stream")
	ErrConcatenated = errors.New("another pcap file header inside the trace (concatenated captures)")
	ErrRead         = errors.New("cannot read trace")
)

// Damage is one damaged region of a trace: the reader skipped it and went on
// where it could.
type Damage struct {
	Path   string `json:"path"`
	Offset int64  `json:"offset"` // byte offset in the uncompressed trace
	Length int64  `json:"length"` // bytes skipped; 0 when reading stopped there
	Err    error  `json:"-"`
	Reason string `json:"reason"`
}

func (d Damage) Error() string {
	if d.Length > 0 {
		return fmt.Sprintf("%s: byte offset %d: %v (skipped %d bytes)", d.Path, d.Offset, d.Err, d.Length)
	}
	return fmt.Sprintf("%s: byte offset %d: %v", d.Path, d.Offset, d.Err)
}

func (d Damage) Unwrap() error { return d.Err }

func newDamage(path string, offset, length int64, err error) Damage {
	return Damage{Path: path, Offset: offset, Length: length, Err: err, Reason: err.Error()}
}

// readDamage is the damage a failed read leaves where it failed: a
// truncated tail, a broken compressed stream (already wrapping
// ErrCompressed), or an I/O error.
func readDamage(err error) error {
	switch {
	case errors.Is(err, ErrCompressed):
		return err
	case errors.Is(err, io.ErrUnexpectedEOF):
		return ErrTruncated
	}
	return fmt.Errorf("%w: %w", ErrRead, err)
}
