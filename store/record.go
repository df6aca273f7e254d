package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/liqbox/liqbox/event"
)

// recordV1 is the first (and current) event record layout. Every value in
// the events bucket starts with its version byte, so a later layout can be
// added beside it and old records still read.
//
//	off size field
//	0   1    version (1)
//	1   8    RecvNs   int64, big-endian
//	9   8    TimeMs   int64
//	17  8    Price    float64 bits
//	25  8    Qty      float64 bits
//	33  8    Notional float64 bits (NaN kept bit for bit)
//	41  1    Venue
//	42  1    Market
//	43  1    Side
//	44  1    Basis
//	45  1    Conn
//	46  1    Flags
//	47  1    symbol length n
//	48  n    symbol bytes
//
// Seq is the bucket key (8 bytes big-endian), not repeated in the value.
const (
	recordV1      = 1
	recordHdrLen  = 48
	maxRecordLen  = recordHdrLen + event.SymbolCap
	seqKeyLen     = 8
	dedupEntryLen = 16
)

// appendRecord appends ev's record to dst and returns the extended slice. It
// does not allocate when dst has room for maxRecordLen more bytes.
func appendRecord(dst []byte, ev *event.Event) []byte {
	sym := ev.Symbol.Bytes()
	n := len(dst)
	dst = append(dst, make([]byte, recordHdrLen+len(sym))...)
	b := dst[n:]
	b[0] = recordV1
	binary.BigEndian.PutUint64(b[1:], uint64(ev.RecvNs))
	binary.BigEndian.PutUint64(b[9:], uint64(ev.TimeMs))
	binary.BigEndian.PutUint64(b[17:], math.Float64bits(ev.Price))
	binary.BigEndian.PutUint64(b[25:], math.Float64bits(ev.Qty))
	binary.BigEndian.PutUint64(b[33:], math.Float64bits(ev.Notional))
	b[41] = byte(ev.Venue)
	b[42] = byte(ev.Market)
	b[43] = byte(ev.Side)
	b[44] = byte(ev.Basis)
	b[45] = ev.Conn
	b[46] = byte(ev.Flags)
	b[47] = byte(len(sym))
	copy(b[recordHdrLen:], sym)
	return dst
}

// decodeRecord fills ev from a stored key and value. The value may point
// into bbolt's mmap: nothing of it is kept. It refuses, with ErrBadRecord,
// a record that is damaged or holds what no event can: see checkEvent.
func decodeRecord(ev *event.Event, key, v []byte) error {
	if len(key) != seqKeyLen {
		return fmt.Errorf("cannot decode event key of %d bytes: %w", len(key), ErrBadRecord)
	}
	if len(v) == 0 || v[0] != recordV1 {
		if len(v) == 0 {
			return fmt.Errorf("cannot decode empty event record: %w", ErrBadRecord)
		}
		return fmt.Errorf("cannot decode event record version %d: %w", v[0], ErrBadRecord)
	}
	if len(v) < recordHdrLen || len(v) != recordHdrLen+int(v[47]) || int(v[47]) > event.SymbolCap {
		return fmt.Errorf("cannot decode event record of %d bytes: %w", len(v), ErrBadRecord)
	}
	ev.Seq = binary.BigEndian.Uint64(key)
	ev.RecvNs = int64(binary.BigEndian.Uint64(v[1:]))
	ev.TimeMs = int64(binary.BigEndian.Uint64(v[9:]))
	ev.Price = math.Float64frombits(binary.BigEndian.Uint64(v[17:]))
	ev.Qty = math.Float64frombits(binary.BigEndian.Uint64(v[25:]))
	ev.Notional = math.Float64frombits(binary.BigEndian.Uint64(v[33:]))
	ev.Venue = event.Venue(v[41])
	ev.Market = event.Market(v[42])
	ev.Side = event.Side(v[43])
	ev.Basis = event.Basis(v[44])
	ev.Conn = v[45]
	ev.Flags = event.Flags(v[46])
	ev.Symbol = event.MakeSymbol(string(v[recordHdrLen:]))
	if err := checkEvent(ev); err != nil {
		return fmt.Errorf("cannot decode event record %d: %w: %w", ev.Seq, err, ErrBadRecord)
	}
	return nil
}

// Highest values of the persisted enums and flags this binary knows (a
// venue is checked with event.Venue.Known: its numbers have gaps).
const (
	maxMarket = event.Inverse
	maxSide   = event.Short
	maxBasis  = event.BasisContractValue
	knownFlag = event.FlagBacklog | event.FlagReplay | event.FlagRemote
)

// checkEvent holds a decoded event to what every reader may rely on:
// sequence and times positive; price finite and not negative, quantity
// too or NaN (unknown); a known venue, market, side, basis and flags; a symbol without
// control bytes. The notional is either a finite, non-negative figure with
// a known basis, or unknown: NaN with BasisUnknown (a record with a
// non-finite or negative notional, which older decoders could write, is
// read as unknown rather than refused, since its liquidation is real).
func checkEvent(ev *event.Event) error {
	switch {
	case ev.Seq == 0:
		return errors.New("sequence number 0")
	case ev.RecvNs <= 0 || ev.TimeMs <= 0:
		return fmt.Errorf("time not after 1970 (receive %d ns, exchange %d ms)", ev.RecvNs, ev.TimeMs)
	case !finiteNonNeg(ev.Price) || !(finiteNonNeg(ev.Qty) || math.IsNaN(ev.Qty)):
		// A NaN quantity is unknown: the decoders write it for a contract
		// whose size in base units is not known (a BitMEX quanto row).
		return fmt.Errorf("price %v or quantity %v not a finite, non-negative number", ev.Price, ev.Qty)
	case !ev.Venue.Known():
		return fmt.Errorf("unknown venue %d", ev.Venue)
	case ev.Market > maxMarket || ev.Side > maxSide || ev.Basis > maxBasis:
		return fmt.Errorf("unknown market %d, side %d or basis %d", ev.Market, ev.Side, ev.Basis)
	case ev.Flags&^knownFlag != 0:
		return fmt.Errorf("unknown flags %#x", ev.Flags)
	}
	for _, c := range ev.Symbol.Bytes() {
		if c < 0x20 || c == 0x7f {
			return fmt.Errorf("control byte %#x in the symbol", c)
		}
	}
	if ev.Basis == event.BasisUnknown || !finiteNonNeg(ev.Notional) {
		ev.Notional, ev.Basis = math.NaN(), event.BasisUnknown
	}
	return nil
}

func finiteNonNeg(f float64) bool { return f >= 0 && !math.IsInf(f, 1) }

// recordRecvNs reads only the receive time of a record, for binary search
// and retention, without decoding the rest.
func recordRecvNs(v []byte) (int64, bool) {
	if len(v) < recordHdrLen || v[0] != recordV1 {
		return 0, false
	}
	return int64(binary.BigEndian.Uint64(v[1:])), true
}

func putSeq(b []byte, seq uint64) { binary.BigEndian.PutUint64(b, seq) }
