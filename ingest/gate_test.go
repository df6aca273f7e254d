package ingest

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"github.com/liqbox/liqbox/event"
)

func gateUpdate(result string) []byte {
	return []byte(`{"time":1786327033,"time_ms":1786327033532,"channel":"futures.public_liquidates","event":"update","result":` + result + `}`)
}

// TestGateSideAndShapes: the sign of size gives the side (negative: a
// sell order, a long liquidated; UNCONFIRMED, PROTOCOLS.md section 9);
// result is an object or an array; price and size are numbers or strings;
// the row time is time_ms, else time, in seconds when below 10^12.
func TestGateSideAndShapes(t *testing.T) {
	inst := testInstruments(t, event.Gate, map[string]Instrument{
		"HEI_USDT": {Market: event.Linear, Basis: event.BasisContractValue, Size: 10},
	})
	d := NewGateDecoder(inst, event.Linear)
	for _, c := range []struct {
		result string
		side   event.Side
		qty    float64
		timeMs int64
	}{
		{`{"contract":"HEI_USDT","price":"0.13827","time":1786327033531,"size":-23}`, event.Long, 230, 1786327033531},
		{`{"contract":"HEI_USDT","price":0.13827,"time":"1786327033531","size":"23"}`, event.Short, 230, 1786327033531},
		{`[{"contract":"HEI_USDT","price":"0.13827","time_ms":1786327033531,"size":"-2.5"}]`, event.Long, 25, 1786327033531},
		{`{"contract":"HEI_USDT","price":"0.13827","time":1786327033,"size":-23}`, event.Long, 230, 1786327033000},
		{`{"contract":"HEI_USDT","price":"0.13827","time":1786327033,"time_ms":1786327033531,"size":-23}`, event.Long, 230, 1786327033531},
	} {
		got, err := d.Decode(nil, gateUpdate(c.result), boundsRecvNs)
		if err != nil || len(got) != 1 {
			t.Fatalf("%s: %d events, %v", c.result, len(got), err)
		}
		e := got[0]
		if e.Side != c.side || !floatEq(e.Qty, c.qty) || !floatEq(e.Notional, c.qty*0.13827) || e.TimeMs != c.timeMs ||
			e.Price != 0.13827 || e.Basis != event.BasisContractValue || e.Market != event.Linear || e.Symbol.String() != "HEI_USDT" {
			t.Errorf("%s: %+v; want %s qty %v at %d", c.result, e, c.side, c.qty, c.timeMs)
		}
	}
}

// TestGateUnits: USDT-settled contracts are |size| × quanto_multiplier
// base; BTC-settled inverse ones 1 USD each (UNCONFIRMED); a contract the
// table lacks is unknown, and an entry of the other settlement (through
// the family rule) never sizes a contract.
func TestGateUnits(t *testing.T) {
	inst := testInstruments(t, event.Gate, map[string]Instrument{
		"BTC_USDT": {Market: event.Linear, Basis: event.BasisContractValue, Size: 0.0001},
		"BTC_USD":  {Market: event.Inverse, Basis: event.BasisInverse, Size: 1},
		"XYZ_USD":  {Market: event.Inverse, Basis: event.BasisInverse, Size: 1},
	})
	for _, c := range []struct {
		market   event.Market
		contract string
		qty, usd float64
		basis    event.Basis
	}{
		{event.Linear, "BTC_USDT", 124.5 * 0.0001, 124.5 * 0.0001 * 215.1, event.BasisContractValue},
		{event.Inverse, "BTC_USD", 124.5 / 215.1, 124.5, event.BasisInverse},
		{event.Linear, "ETH_USDT", math.NaN(), math.NaN(), event.BasisUnknown},
		// XYZ_USDT is unlisted and its family XYZ holds only XYZ_USD, an
		// inverse contract: it must not become 1 USD a contract.
		{event.Linear, "XYZ_USDT", math.NaN(), math.NaN(), event.BasisUnknown},
		{event.MarketUnknown, "XYZ_USDT", math.NaN(), math.NaN(), event.BasisUnknown},
		{event.MarketUnknown, "BTC_USD", 124.5 / 215.1, 124.5, event.BasisInverse},
	} {
		got, err := NewGateDecoder(inst, c.market).Decode(nil,
			gateUpdate(`[{"price":"215.1","size":"-124.5","time":1541486601123,"contract":"`+c.contract+`"}]`), boundsRecvNs)
		if err != nil || len(got) != 1 {
			t.Fatalf("%s: %d events, %v", c.contract, len(got), err)
		}
		e := got[0]
		if e.Basis != c.basis || !sameFloat(e.Qty, c.qty) || !sameFloat(e.Notional, c.usd) {
			t.Errorf("%s on %s: basis %s qty %v usd %v; want %s %v %v", c.contract, c.market, e.Basis, e.Qty, e.Notional, c.basis, c.qty, c.usd)
		}
		if msg := checkBounds(&e, event.Gate, boundsRecvNs); msg != "" {
			t.Error(msg)
		}
	}
}

// TestGateNotionalWithMetadata checks the real frames, whose multipliers
// no snapshot holds, with given ones: PROTOCOLS.md's worked values
// (3.18021 × Q_HEI, 1.23849 × Q_HEI, 1.06416 × Q_LAB).
func TestGateNotionalWithMetadata(t *testing.T) {
	inst := testInstruments(t, event.Gate, map[string]Instrument{
		"HEI_USDT": {Market: event.Linear, Basis: event.BasisContractValue, Size: 1},
		"LAB_USDT": {Market: event.Linear, Basis: event.BasisContractValue, Size: 100},
	})
	d := NewGateDecoder(inst, event.Linear)
	lines := readLines(t, "frames/gate.jsonl")
	for i, want := range []struct{ qty, usd float64 }{{23, 3.18021}, {9, 1.23849}, {900, 106.416}} {
		got, err := d.Decode(nil, lines[i], boundsRecvNs)
		if err != nil || len(got) != 1 || !floatEq(got[0].Qty, want.qty) || math.Abs(got[0].Notional-want.usd) > 1e-9 {
			t.Errorf("line %d: %+v, %v; want qty %v, USD %v", i+1, got, err, want.qty, want.usd)
		}
	}
}

// TestGateRefuses: a row outside the bounds is an error naming the field
// and the update's good rows are kept; a zero size has no side.
func TestGateRefuses(t *testing.T) {
	d := NewGateDecoder(nil, event.Linear)
	good := `{"contract":"HEI_USDT","price":"0.13827","time":1786327033531,"size":-23}`
	for _, c := range []struct{ row, field string }{
		{`{"contract":"HEI_USDT","price":"0.13827","time":1786327033531,"size":0}`, "result[].size"},
		{`{"contract":"HEI_USDT","price":"0.13827","time":1786327033531,"size":"--5"}`, "result[].size"},
		{`{"contract":"HEI_USDT","price":"0.13827","time":1786327033531}`, "result[].size"},
		{`{"contract":"HEI_USDT","price":"-0.13827","time":1786327033531,"size":5}`, "result[].price"},
		{`{"contract":"HEI_USDT","price":"0.13827","size":5}`, "result[].time"},
		{`{"contract":"HEI_USDT","price":"0.13827","time":99999999999999,"size":5}`, "result[].time"},
		{`{"contract":"HEI_USDT","price":"0.13827","time":1786327033.5,"size":5}`, "result[].time"},
		{`{"contract":"HEI USDT","price":"0.13827","time":1786327033531,"size":5}`, "result[].contract"},
	} {
		checkRefusedBetweenGood(t, d, gateUpdate(`[`+good+`,`+c.row+`,`+good+`]`), c.row, c.field)
	}
}

// TestGateFrameKinds: only an update of futures.public_liquidates is a
// liquidation; acks, pongs and the canary's tickers are control frames;
// another channel or event is unexpected.
func TestGateFrameKinds(t *testing.T) {
	d := NewGateDecoder(nil, event.MarketUnknown)
	row := `{"contract":"HEI_USDT","price":"0.13827","time":1786327033531,"size":-23}`
	for _, c := range []struct {
		frame string
		field string // "" a control frame; "-" one event
	}{
		{string(gateUpdate(row)), "-"},
		{`{"result":` + row + `,"channel":"futures.public_liquidates","event":"update"}`, "-"},
		{`{"time":1,"channel":"futures.trades","event":"update","result":[` + row + `]}`, "channel"},
		{`{"time":1,"channel":"futures.public_liquidates","event":"all","result":[` + row + `]}`, "event"},
		{`{"time":1,"channel":"futures.public_liquidates","event":"update","result":null}`, "result"},
		{`{"time":1,"channel":"futures.public_liquidates","event":"update"}`, "result"},
		{`{"time":1,"channel":"futures.public_liquidates","event":"subscribe","error":{"code":2,"message":"invalid argument"},"result":null}`, ""},
		{`{"time":1,"channel":"futures.tickers","event":"update","result":[{"contract":"BTC_USDT","last":"1"}]}`, ""},
		{`{"time":1,"time_ms":1,"channel":"futures.pong","event":"","result":null}`, ""},
		{`{"result":[` + row + `]}`, "_"},
	} {
		checkFrameKind(t, d, c.frame, c.field)
	}
}

// TestGateControl: a refused subscription is reported with its code.
func TestGateControl(t *testing.T) {
	d := NewGateDecoder(nil, event.Linear)
	if bad, msg := d.Control([]byte(`{"time":1,"channel":"futures.public_liquidates","event":"subscribe","error":{"code":2,"message":"invalid argument"},"result":null}`)); !bad ||
		!strings.Contains(msg, "code 2 invalid argument") {
		t.Errorf("refusal: %v %q", bad, msg)
	}
	for _, ok := range []string{
		`{"time":1545459681,"time_ms":1545459681123,"channel":"futures.public_liquidates","event":"subscribe","result":{"status":"success"}}`,
		`{"time":1,"channel":"futures.public_liquidates","event":"subscribe","error":null,"result":{"status":"success"}}`,
	} {
		if bad, msg := d.Control([]byte(ok)); bad {
			t.Errorf("%s reported: %q", ok, msg)
		}
	}
}

// TestGateSubscribe: the subscription takes every contract ("!all") and
// the canary's tickers, with the request time.
func TestGateSubscribe(t *testing.T) {
	spec := GateSpec(VenueConfig{}, nil, event.Inverse)
	frames, err := spec.Subscribe(t.Context())
	if err != nil || len(frames) != 2 {
		t.Fatalf("%d frames, %v", len(frames), err)
	}
	if s := string(frames[0]); !strings.Contains(s, `"channel":"futures.public_liquidates","event":"subscribe","payload":["!all"]`) ||
		math.Abs(float64(gjson.Get(s, "time").Int()-time.Now().Unix())) > 60 {
		t.Errorf("liquidations: %s", s)
	}
	if s := string(frames[1]); !strings.Contains(s, `"channel":"futures.tickers","event":"subscribe","payload":["BTC_USD"]`) {
		t.Errorf("canary: %s", s)
	}
	if spec.URL != DefaultGateBTCURL || spec.Header.Get("X-Gate-Size-Decimal") != "1" || spec.Stream != "public_liquidates.btc" {
		t.Errorf("spec %s %v %s", spec.URL, spec.Header, spec.Stream)
	}
	none := GateSpec(VenueConfig{Canary: CanaryNone}, nil, event.Linear)
	if frames, _ := none.Subscribe(t.Context()); len(frames) != 1 || none.Canary != nil {
		t.Errorf("canary none: %d frames, canary %v", len(frames), none.Canary)
	}
}
