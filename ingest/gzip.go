package ingest

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
)

// Inflater turns a venue's compressed frame into the text its decoder
// reads. One lives per connection (Spec.Inflate makes it), so it may keep
// state between frames; it is used by the connection's reader only.
type Inflater interface {
	// Inflate appends the inflated frame to dst and returns it. frame is
	// valid only during the call.
	Inflate(dst, frame []byte) ([]byte, error)
}

// errInflatedTooLarge: a frame that inflates beyond the limit is refused,
// so a few compressed bytes cannot make the box page in gigabytes.
var errInflatedTooLarge = errors.New("inflates beyond the frame limit")

// gzipInflater inflates gzip frames (HTX compresses every frame it sends,
// acks and pings included). It keeps its gzip.Reader, the flate state
// inside it and the bytes.Reader it reads from across frames: after the
// first frame, inflating allocates nothing. Go's gzip.Reader.Reset keeps
// the decompressor and its 32 KiB window, and a source that is an
// io.ByteReader (bytes.Reader) spares it a bufio.Reader per frame.
type gzipInflater struct {
	src   bytes.Reader
	zr    *gzip.Reader
	limit int
}

// newGzipInflater returns an Inflater for gzip frames that inflate to at
// most limit bytes.
func newGzipInflater(limit int) *gzipInflater { return &gzipInflater{limit: limit} }

// Inflate implements Inflater.
func (g *gzipInflater) Inflate(dst, frame []byte) ([]byte, error) {
	g.src.Reset(frame)
	var err error
	if g.zr == nil {
		g.zr, err = gzip.NewReader(&g.src)
	} else {
		err = g.zr.Reset(&g.src)
	}
	if err != nil {
		return dst, fmt.Errorf("cannot inflate frame: %w", err)
	}
	// One frame is one gzip member: without this the reader would look
	// for a next member after the first and cost a header read.
	g.zr.Multistream(false)
	n0 := len(dst)
	for {
		if len(dst) == cap(dst) {
			dst = append(dst, 0)[:len(dst)]
		}
		end := min(cap(dst), n0+g.limit+1)
		n, err := g.zr.Read(dst[len(dst):end])
		dst = dst[:len(dst)+n]
		if len(dst)-n0 > g.limit {
			return dst[:n0], fmt.Errorf("cannot inflate frame: %w (%d bytes)", errInflatedTooLarge, g.limit)
		}
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return dst[:n0], fmt.Errorf("cannot inflate frame: %w", err)
		}
	}
}
