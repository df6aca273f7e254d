// Package ingest reads the exchanges' liquidation streams and turns each
// frame into event.Event values without allocating.
package ingest

import "github.com/liqbox/liqbox/event"

// Decoder turns one WebSocket frame of a venue into liquidations.
//
// Decode appends every liquidation found in frame to dst and returns the
// extended slice; each appended event has RecvNs set to recvNs and Seq zero,
// and lies within the package's bounds (MinPrice…MaxNotional, MinTimeMs to
// a day after recvNs, a symbol validSymbol accepts; Notional and Qty are NaN
// exactly when Basis is unknown). A control frame (subscription ack, pong,
// welcome, keepalive, the venue's canary stream) appends nothing and returns
// a nil error.
//
// The error is a *DecodeError naming the field or the reason. When the frame
// as a whole is bad (not JSON, not the venue's, no liquidation in a valid
// shape), dst comes back unchanged. When only some liquidations of a frame
// with several are bad, the good ones are appended and the error describes
// the first bad one: callers count the error and keep the events.
//
// frame is only valid during the call: a Decoder must not retain it or any
// string view of it. With dst of sufficient capacity Decode must not allocate,
// on good frames and bad ones alike.
type Decoder interface {
	Decode(dst []event.Event, frame []byte, recvNs int64) ([]event.Event, error)
}

// decodeFrame is the frame-level walk of a decoder whose frames are one
// JSON object or an array of them: object decodes the object at i (the
// frame itself), array the array at i. A frame that is neither, is not
// JSON or has data after its value comes back as the frame-level error
// with dst unchanged; otherwise the error is the walk's (the first bad
// liquidation, the good ones kept).
func decodeFrame(frame []byte, dst []event.Event, object, array elemFunc) ([]event.Event, error) {
	s := view(frame)
	n0 := len(dst)
	var bad error
	i := ws(s, 0)
	switch at(s, i) {
	case '{':
		dst, i, bad = object(s, i, dst)
	case '[':
		dst, i, bad = array(s, i, dst)
	default:
		return dst, notAnObject(frame, s)
	}
	if i < 0 {
		return dst[:n0], errNotJSON
	}
	if !atEnd(s, i) {
		return dst[:n0], errTrailing
	}
	return dst, bad
}
