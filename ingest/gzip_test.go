package ingest

import (
	"bytes"
	"compress/gzip"
	"errors"
	"testing"
)

// gzipped compresses b as HTX does, one gzip member per frame.
func gzipped(tb testing.TB, b []byte) []byte {
	tb.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		tb.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// TestGzipInflaterReuses: frame after frame the inflater gives back each
// frame's text, and once its buffers have grown it allocates nothing.
func TestGzipInflaterReuses(t *testing.T) {
	lines := readLines(t, "frames/htx.jsonl")
	lines = append(lines, readLines(t, "frames/htx.control.jsonl")...)
	var frames [][]byte
	for _, l := range lines {
		frames = append(frames, gzipped(t, l))
	}
	g := newGzipInflater(htxMaxInflated)
	var out []byte
	for round := 0; round < 2; round++ {
		for i, f := range frames {
			var err error
			if out, err = g.Inflate(out[:0], f); err != nil || !bytes.Equal(out, lines[i]) {
				t.Fatalf("frame %d: %q, %v; want %q", i, out, err, lines[i])
			}
		}
	}
	for i, f := range frames {
		if n := testing.AllocsPerRun(50, func() { out, _ = g.Inflate(out[:0], f) }); n != 0 {
			t.Errorf("frame %d: %v allocs per Inflate", i, n)
		}
	}
}

// TestGzipInflaterRefuses: a frame that inflates beyond the limit, one
// cut short and one that is not gzip are errors that leave dst as it was,
// and the inflater goes on working after each.
func TestGzipInflaterRefuses(t *testing.T) {
	good := readLines(t, "frames/htx.jsonl")[0]
	bomb := gzipped(t, bytes.Repeat([]byte("0"), 1<<16))
	g := newGzipInflater(1 << 12)
	for _, c := range []struct {
		name  string
		frame []byte
		is    error
	}{
		{"bomb", bomb, errInflatedTooLarge},
		{"cut short", gzipped(t, good)[:20], nil},
		{"not gzip", good, gzip.ErrHeader},
		{"empty", nil, nil},
	} {
		out, err := g.Inflate([]byte("kept"), c.frame)
		if err == nil || string(out) != "kept" || c.is != nil && !errors.Is(err, c.is) {
			t.Errorf("%s: %q, %v; want an error (%v) and dst untouched", c.name, out, err, c.is)
		}
		if out, err := g.Inflate(nil, gzipped(t, good)); err != nil || !bytes.Equal(out, good) {
			t.Fatalf("after %s: %q, %v", c.name, out, err)
		}
	}
	if len(bomb) > 1<<12 {
		t.Fatalf("the bomb is %d bytes compressed: the test needs it under the limit", len(bomb))
	}
}

// BenchmarkGzipInflate is what HTX's compression costs per frame, in the
// steady state of one connection: a reused reader, window and buffer.
func BenchmarkGzipInflate(b *testing.B) {
	lines := readLines(b, "frames/htx.jsonl")
	var frames [][]byte
	for _, l := range lines {
		frames = append(frames, gzipped(b, l))
	}
	g := newGzipInflater(htxMaxInflated)
	out := make([]byte, 0, 4096)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var err error
		if out, err = g.Inflate(out[:0], frames[i%len(frames)]); err != nil {
			b.Fatal(err)
		}
	}
}
