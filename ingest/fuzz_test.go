package ingest

import (
	"errors"
	"math"
	"strconv"
	"testing"

	"github.com/liqbox/liqbox/event"
)

// fuzzRecvNs is the receive time the fuzz targets decode with
// (2027-01-15): later than every recorded frame, so their times are in
// bounds.
const fuzzRecvNs = int64(1_800_000_000_123_456_789)

// fuzzDecode feeds data, and each half of it, to d: no input may panic,
// an error must leave what dst held untouched, and every event returned
// (also beside an error, when a frame had good and bad liquidations) must
// be finite and within the documented bounds.
func fuzzDecode(f *testing.F, v event.Venue, file string) {
	for _, name := range []string{file + ".jsonl", file + ".control.jsonl"} {
		for _, line := range readLines(f, "frames/"+name) {
			f.Add(line)
			f.Add(line[:len(line)/2]) // a frame split in two
			f.Add(line[len(line)/2:])
		}
	}
	f.Add([]byte("pong"))
	f.Add([]byte(""))
	d := offlineDecoder(f, v)
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzCheck(t, d, data, func(e *event.Event) string { return checkBounds(e, v, fuzzRecvNs) })
	})
}

// fuzzCheck decodes data, and each half of it, with d: the call must not
// panic, an error must leave what dst held untouched and be a DecodeError
// that says what is wrong, and check must find nothing wrong with any
// event returned.
func fuzzCheck(t *testing.T, d Decoder, data []byte, check func(*event.Event) string) {
	for _, b := range [][]byte{data, data[:len(data)/2], data[len(data)/2:]} {
		got, err := d.Decode([]event.Event{{Seq: 42}}, b, fuzzRecvNs)
		if len(got) == 0 || got[0].Seq != 42 {
			t.Fatalf("dst's existing event was overwritten (err %v)", err)
		}
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) || de.Error() == "" {
				t.Fatalf("error %v is not a *DecodeError that says what is wrong", err)
			}
		}
		for i := 1; i < len(got); i++ {
			if msg := check(&got[i]); msg != "" {
				t.Fatalf("event %d %+v: %s", i, got[i], msg)
			}
		}
	}
}

// checkBounds returns what is wrong with a decoded event, or "".
func checkBounds(e *event.Event, v event.Venue, recvNs int64) string {
	switch {
	case e.Venue != v:
		return "wrong venue"
	case e.Side == event.SideUnknown:
		return "unknown side"
	case e.RecvNs != recvNs || e.Seq != 0:
		return "receive time or seq not as given"
	case !validSymbol(e.Symbol.String()):
		return "symbol with characters no symbol has"
	case !(e.Price >= MinPrice && e.Price <= MaxPrice):
		return "price out of bounds"
	case e.TimeMs < MinTimeMs || e.TimeMs > recvNs/1e6+MaxTimeAheadMs:
		return "time out of bounds"
	case e.Basis == event.BasisUnknown:
		if !math.IsNaN(e.Notional) || !math.IsNaN(e.Qty) {
			return "unknown basis with a number for notional or qty"
		}
	case !(e.Notional > 0 && e.Notional <= MaxNotional):
		return "known notional out of bounds"
	case !(e.Qty > 0) || math.IsInf(e.Qty, 0):
		return "known basis with a qty that is not positive and finite"
	}
	return ""
}

func FuzzDecodeBinanceUSDM(f *testing.F)  { fuzzDecode(f, event.BinanceUSDM, "binance_usdm") }
func FuzzDecodeBinanceCOINM(f *testing.F) { fuzzDecode(f, event.BinanceCOINM, "binance_coinm") }
func FuzzDecodeBybit(f *testing.F)        { fuzzDecode(f, event.Bybit, "bybit") }
func FuzzDecodeOKX(f *testing.F)          { fuzzDecode(f, event.OKX, "okx") }
func FuzzDecodeBitMEX(f *testing.F)       { fuzzDecode(f, event.BitMEX, "bitmex") }
func FuzzDecodeHTX(f *testing.F)          { fuzzDecode(f, event.HTX, "htx") }
func FuzzDecodeGate(f *testing.F)         { fuzzDecode(f, event.Gate, "gate") }

// TestParseDecimalMatchesStrconv checks the fast path against strconv on the
// shapes the venues send and on its edges.
func TestParseDecimalMatchesStrconv(t *testing.T) {
	for _, s := range []string{"0", "0.0", "38886.54", "0.0711500", "2329", "0.00000001",
		"9007199254740991", "9007199254740993", "123456789012345678901234567890", "1e5",
		"2.17e-06", "0.1234567890123456789012", "1.", ".5", "00012.50"} {
		got, ok := parseDecimal(s)
		want, err := strconv.ParseFloat(s, 64)
		if !ok || err != nil || got != want {
			t.Errorf("parseDecimal(%q) = %v, %v; strconv %v, %v", s, got, ok, want, err)
		}
	}
	for _, s := range []string{"", "-1", "abc", "1.2.3", "NaN", "Inf", ".", "1e400"} {
		if f, ok := parseDecimal(s); ok {
			t.Errorf("parseDecimal(%q) = %v, ok; want rejection", s, f)
		}
	}
}

func FuzzParseDecimal(f *testing.F) {
	for _, s := range []string{"38886.54", "0.0711500", "2329", "9007199254740993", "2.17e-06", "1."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parseDecimal(s)
		want, err := strconv.ParseFloat(s, 64)
		if ok && (err != nil || got != want) {
			t.Fatalf("parseDecimal(%q) = %v; strconv %v, %v", s, got, want, err)
		}
	})
}
