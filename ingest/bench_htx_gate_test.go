package ingest

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"strconv"
	"testing"

	"github.com/liqbox/liqbox/event"
)

// The encoding/json baselines of HTX and Gate: the same mapping as each
// decoder (side, units, the instrument table), so both sides do the same
// work on the same frames.

type stdHTXRow struct {
	Code      string   `json:"contract_code"`
	Direction string   `json:"direction"`
	Offset    string   `json:"offset"`
	Volume    float64  `json:"volume"`
	Price     float64  `json:"price"`
	CreatedAt int64    `json:"created_at"`
	Amount    *float64 `json:"amount"`
	Turnover  *float64 `json:"trade_turnover"`
}

type stdHTX struct {
	Op    string      `json:"op"`
	Topic string      `json:"topic"`
	Data  []stdHTXRow `json:"data"`
}

func stdlibHTX(t *Table, dst []event.Event, frame []byte, recvNs int64) ([]event.Event, error) {
	var f stdHTX
	if err := json.Unmarshal(frame, &f); err != nil {
		return dst, err
	}
	if f.Op != "notify" || !htxLiquidationTopic(f.Topic) {
		return dst, errStdlibFrame
	}
	for _, r := range f.Data {
		e := event.Event{Venue: event.HTX, Symbol: event.MakeSymbol(r.Code), TimeMs: r.CreatedAt, RecvNs: recvNs,
			Side: htxSide(r.Direction, r.Offset), Price: r.Price, Market: htxMarketByName(r.Code)}
		if e.Market == event.Linear && r.Amount != nil {
			e.Basis, e.Qty, e.Notional = event.BasisLinear, *r.Amount, *r.Amount*r.Price
			if r.Turnover != nil {
				e.Notional = *r.Turnover
			}
		} else {
			in, ok := htxInstrument(t, r.Code, e.Market)
			applySize(&e, in, ok, r.Volume, r.Price)
			if e.Basis != event.BasisUnknown && e.Market == event.Inverse && r.Amount != nil {
				e.Qty = *r.Amount
			}
		}
		dst = append(dst, e)
	}
	return dst, nil
}

type stdGateRow struct {
	Contract string          `json:"contract"`
	Price    json.RawMessage `json:"price"`
	Size     json.RawMessage `json:"size"`
	Time     int64           `json:"time"`
	TimeMs   int64           `json:"time_ms"`
}

type stdGate struct {
	Channel string          `json:"channel"`
	Event   string          `json:"event"`
	Result  json.RawMessage `json:"result"`
}

// stdNum reads a JSON number or a string holding one.
func stdNum(raw json.RawMessage) (float64, error) {
	return strconv.ParseFloat(string(bytes.Trim(raw, `"`)), 64)
}

func stdlibGate(t *Table, dst []event.Event, frame []byte, recvNs int64) ([]event.Event, error) {
	var f stdGate
	if err := json.Unmarshal(frame, &f); err != nil {
		return dst, err
	}
	if f.Channel != gateLiquidates || f.Event != "update" {
		return dst, errStdlibFrame
	}
	var rows []stdGateRow
	if len(f.Result) > 0 && f.Result[0] == '{' {
		rows = make([]stdGateRow, 1)
		if err := json.Unmarshal(f.Result, &rows[0]); err != nil {
			return dst, err
		}
	} else if err := json.Unmarshal(f.Result, &rows); err != nil {
		return dst, err
	}
	for _, r := range rows {
		size, err1 := stdNum(r.Size)
		price, err2 := stdNum(r.Price)
		if err1 != nil || err2 != nil {
			return dst, errStdlibFrame
		}
		e := event.Event{Venue: event.Gate, Symbol: event.MakeSymbol(r.Contract), RecvNs: recvNs, Price: price,
			Side: event.Short, Market: gateMarketByName(r.Contract)}
		if size < 0 {
			e.Side, size = event.Long, -size
		}
		if e.TimeMs = r.TimeMs; e.TimeMs == 0 {
			e.TimeMs = r.Time
		}
		if e.TimeMs < 1e12 {
			e.TimeMs *= 1000
		}
		in, ok := gateInstrument(t, r.Contract, e.Market)
		applySize(&e, in, ok, size, price)
		dst = append(dst, e)
	}
	return dst, nil
}

var htxGateBaselines = []struct {
	v      event.Venue
	file   string
	stdlib func(*Table, []event.Event, []byte, int64) ([]event.Event, error)
}{{event.HTX, "htx", stdlibHTX}, {event.Gate, "gate", stdlibGate}}

// TestStdlibHTXGateBaselinesAgree keeps the baselines honest: on every
// recorded frame they give the decoders' events.
func TestStdlibHTXGateBaselinesAgree(t *testing.T) {
	for _, b := range htxGateBaselines {
		d := offlineDecoder(t, b.v)
		tab := offlineInstruments(t, b.v).Load()
		for i, f := range readLines(t, "frames/"+b.file+".jsonl") {
			got, err1 := d.Decode(nil, f, fuzzRecvNs)
			want, err2 := b.stdlib(tab, nil, f, fuzzRecvNs)
			if err1 != nil || err2 != nil || len(got) != len(want) {
				t.Fatalf("%s frame %d: decoder %d (%v), stdlib %d (%v)", b.v, i, len(got), err1, len(want), err2)
			}
			for j := range got {
				g, w := got[j], want[j]
				if g.Symbol != w.Symbol || g.Side != w.Side || g.Price != w.Price || g.TimeMs != w.TimeMs || g.Basis != w.Basis ||
					!sameFloat(g.Notional, w.Notional) || !sameFloat(g.Qty, w.Qty) {
					t.Errorf("%s frame %d event %d: decoder %+v, stdlib %+v", b.v, i, j, g, w)
				}
			}
		}
	}
}

func BenchmarkDecodeHTX(b *testing.B) { benchDecode(b, offlineDecoder(b, event.HTX), "htx") }

func BenchmarkDecodeGate(b *testing.B) { benchDecode(b, offlineDecoder(b, event.Gate), "gate") }

// BenchmarkDecodeHTXGateVsStdlib measures each decoder beside its
// encoding/json baseline on the same frames, and HTX as it arrives: gzip
// inflated with the connection's reused inflater then decoded, beside
// what a client typically does per frame (a new gzip.Reader, io.ReadAll,
// encoding/json).
func BenchmarkDecodeHTXGateVsStdlib(b *testing.B) {
	for _, bl := range htxGateBaselines {
		frames := readLines(b, "frames/"+bl.file+".jsonl")
		d := offlineDecoder(b, bl.v)
		tab := offlineInstruments(b, bl.v).Load()
		dst := make([]event.Event, 0, 64)
		b.Run(bl.v.String()+"/liqbox", func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				dst, _ = d.Decode(dst[:0], frames[i%len(frames)], fuzzRecvNs)
			}
		})
		b.Run(bl.v.String()+"/encoding-json", func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				dst, _ = bl.stdlib(tab, dst[:0], frames[i%len(frames)], fuzzRecvNs)
			}
		})
	}
	var zframes [][]byte
	for _, l := range readLines(b, "frames/htx.jsonl") {
		zframes = append(zframes, gzipped(b, l))
	}
	d := offlineDecoder(b, event.HTX)
	tab := offlineInstruments(b, event.HTX).Load()
	dst := make([]event.Event, 0, 64)
	b.Run("htx-gzip/liqbox", func(b *testing.B) {
		g := newGzipInflater(htxMaxInflated)
		plain := make([]byte, 0, 4096)
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			plain, _ = g.Inflate(plain[:0], zframes[i%len(zframes)])
			dst, _ = d.Decode(dst[:0], plain, fuzzRecvNs)
		}
	})
	b.Run("htx-gzip/encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			zr, err := gzip.NewReader(bytes.NewReader(zframes[i%len(zframes)]))
			if err != nil {
				b.Fatal(err)
			}
			plain, _ := io.ReadAll(zr)
			dst, _ = stdlibHTX(tab, dst[:0], plain, fuzzRecvNs)
		}
	})
}

// BenchmarkCanaryMatchHTXGate is what the canary test costs every HTX and
// Gate frame: a substring search (their frames start alike), on a
// liquidation and on a canary push.
func BenchmarkCanaryMatchHTXGate(b *testing.B) {
	for _, c := range []struct {
		name        string
		spec        Spec
		liq, canary []byte
	}{
		{"htx", HTXSpec(VenueConfig{}, nil, event.Linear), readLines(b, "frames/htx.jsonl")[7], readLines(b, "frames/htx.control.jsonl")[4]},
		{"gate", GateSpec(VenueConfig{}, nil, event.Linear), readLines(b, "frames/gate.jsonl")[3], readLines(b, "frames/gate.control.jsonl")[4]},
	} {
		for _, f := range []struct {
			kind  string
			frame []byte
			want  bool
		}{{"liquidation", c.liq, false}, {"canary", c.canary, true}} {
			b.Run(c.name+"/"+f.kind, func(b *testing.B) {
				b.ReportAllocs()
				n := 0
				for i := 0; i < b.N; i++ {
					if c.spec.Canary.Match(f.frame) {
						n++
					}
				}
				if (n == b.N) != f.want {
					b.Fatalf("Match = %v, want %v", n == b.N, f.want)
				}
			})
		}
	}
}
