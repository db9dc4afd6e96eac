package reader

// Resumed reads a trace from one of its records on: see OpenAt.
type Resumed struct {
	chunk *ChunkReader // an uncompressed file, read from the record on
	trace *Trace       // otherwise, read from its start
	at    int64
}

// OpenAt opens the trace file at path to read its frames from the record
// at byte offset at on, an offset a Frame of an earlier pass over it had.
// An uncompressed file is read from there, in the state its start gives
// (the file header's parameters; a pcapng section's interfaces, learned
// from the blocks at the file's start), without reading what lies
// between; a compressed one is decompressed from its start and the frames
// before at are skipped.
func OpenAt(path string, at int64) (*Resumed, error) {
	t, err := Open(path, nil)
	if err != nil {
		return nil, err
	}
	if t.Compression != "" || at <= 0 {
		return &Resumed{trace: t, at: at}, nil
	}
	t.Close()
	s, err := newSplit(path, nil)
	if err != nil {
		return nil, err
	}
	if s == nil || at < s.Chunks[0].Start {
		// Not a regular file, or not a record's offset: read from the
		// start, which finds the record if it is there.
		if t, err = Open(path, nil); err != nil {
			return nil, err
		}
		return &Resumed{trace: t, at: at}, nil
	}
	s.begin = s.header
	st := s.begin
	if at > s.Chunks[0].Start {
		st = s.learnHeader()
	}
	c, err := s.open(s.Size, at, st)
	if err != nil {
		return nil, err
	}
	return &Resumed{chunk: c, at: at}, nil
}

// Next reads the next frame into f; f.Data is valid until the next call.
// It returns io.EOF at the end of the trace.
func (r *Resumed) Next(f *Frame) error {
	if r.chunk != nil {
		return r.chunk.Next(f)
	}
	for {
		if err := r.trace.Next(f); err != nil {
			return err
		}
		if f.Offset >= r.at {
			return nil
		}
	}
}

// Seekable reports whether opening the trace at a later offset skips what
// lies between: an uncompressed file's.
func (r *Resumed) Seekable() bool { return r.chunk != nil }

// Close releases the file.
func (r *Resumed) Close() error {
	if r.chunk != nil {
		return r.chunk.Close()
	}
	return r.trace.Close()
}
