// Package ingest reads the exchanges' liquidation streams and turns each
// frame into event.Event values without allocating.
package ingest

import "github.com/liqbox/liqbox/event"

// Decoder turns one WebSocket frame of a venue into liquidations.
//
// Decode appends every liquidation found in frame to dst and returns the
// extended slice; each appended event has RecvNs set to recvNs and Seq zero.
// A control frame (subscription ack, pong, welcome, keepalive) appends nothing
// and returns a nil error. A frame that is not valid for the venue returns a
// non-nil error and dst unchanged (events decoded before the error may have
// been appended: callers truncate back to len(dst) on error).
//
// frame is only valid during the call: a Decoder must not retain it or any
// string view of it. With dst of sufficient capacity Decode must not allocate.
type Decoder interface {
	Decode(dst []event.Event, frame []byte, recvNs int64) ([]event.Event, error)
}
