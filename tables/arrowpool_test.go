package tables

import "testing"

func TestBufferPoolReusesZeroed(t *testing.T) {
	p := newBufferPool()
	a := p.Allocate(1000)
	for i := range a {
		a[i] = 0xFF
	}
	p.Free(a)
	b := p.Allocate(1000)
	if &b[0] != &a[0] {
		t.Error("a freed buffer of the same size was not reused")
	}
	for i, v := range b {
		if v != 0 {
			t.Fatalf("reused buffer byte %d = %#x, want 0", i, v)
		}
	}
	c := p.Reallocate(5000, b[:10])
	if len(c) != 5000 || p.retained != 1000 {
		t.Errorf("grown to %d bytes, pool keeps %d bytes; want 5000 and the old 1000", len(c), p.retained)
	}
}
