package ingest

import (
	"fmt"
	"testing"

	"github.com/liqbox/liqbox/event"
)

// spaced puts a space after every '{', ',' and ':' outside strings: the
// same JSON to the member walk, but no layout step and no prefix of
// Binance's fast paths matches it, so its decoding is the general one.
func spaced(f []byte) []byte {
	out := make([]byte, 0, 2*len(f))
	in := false
	for k := 0; k < len(f); k++ {
		c := f[k]
		out = append(out, c)
		switch {
		case in && c == '\\' && k+1 < len(f):
			k++ // the escaped byte, as str reads it
			out = append(out, f[k])
		case c == '"':
			in = !in
		case !in && (c == '{' || c == ',' || c == ':'):
			out = append(out, ' ')
		}
	}
	return out
}

// FuzzBinanceLayoutAgrees: the Binance decoders read a frame as Binance
// writes it (layout steps, constant prefixes) exactly as they read the
// same frame through the general member walk: the same events, the same
// error, for any input. Seeded with every recorded frame of USD-M, COIN-M
// and Aster and with the frames the fast paths must hand over: members
// added, moved, missing, repeated, of another kind, values escaped.
func FuzzBinanceLayoutAgrees(f *testing.F) {
	for _, name := range []string{"binance_usdm", "binance_coinm", "aster"} {
		for _, file := range []string{name + ".jsonl", name + ".control.jsonl"} {
			for _, line := range readLines(f, "frames/"+file) {
				f.Add(line)
				f.Add(line[:len(line)*2/3])
			}
		}
	}
	const o = `"s":"BTCUSDT","S":"SELL","o":"LIMIT","f":"IOC","q":"0.288","p":"38886.54","ap":"39021.00","X":"FILLED","l":"0.288","z":"0.288","T":1650898329196`
	for _, body := range []string{
		o,
		`"s":"BTCUSDT","S":"SELL","o":"MARKET","f":"IOC","q":"0.288","p":"38886.54","ap":"0","X":"FILLED","l":"0.288","z":"0.288","T":1650898329196`,
		`"s":"BTCUSDT","S":"SELL","q":0.288,"p":"38886.54","ap":"39021.00","T":"1650898329196"`,
		`"S":"BUY","s":"ETHUSDT","q":"1","ap":"2000","p":"1999","T":1650898329196,"q":"2"`,
		`"s":"BTC\"USDT","S":"SELL","o":"LIMIT","f":"IOC","q":"0.288","p":"1","ap":"1","X":"FILLED","l":"1","z":"1","T":1650898329196`,
		`"s":"BTCUSDT","S":"SELL","o":"LIMIT","f":"IOC","q":"0.288","p":"1","ap":"1","X":"FILLED","l":"1","z":"1","T":-5`,
		`"s":"BTCUSDT","S":"SELL","o":"LIMIT","f":"IOC","q":"0.288","p":"1","ap":"1","X":"FILLED","l":"1","z":"1","T":1650898329196,"s":"ETHUSDT"`,
		`"s":"BTCUSDT","S":"SELL","o":"LIMIT","f":"IOC","q":"0.288","p":"1","ap":"1","X":"FILLEDX","l":"1","z":"1","T":1650898329196`,
		`"s":"BTCUSDT","S":"SELL","o":"LIMIT","f":"IOC","q":"0.288","p":"1","ap":"1","X":"FILLED","l":"1","z":"1","T":1650898329196,"st":{"a":[1,2]}`,
		`"s":"BTCUSDT","S":"SELL","o":"LIMIT","f":"IOC","q":"0.288","p":"1","ap":"1","X":"FILLED","l":"1","z":"1","T":1650898329196,`,
		`"s":"BTCUSDT","S":"SELL","o":"LIMIT","f":"IOC","q":"0.288","p":"1","ap":"1","X":"FILLED","l":"1","z":"1","T":`,
		`"s":"BTCUSDT","S":"SELL","o":"LIMIT","f":"IOC","q":"0.288","p":"1","ap":"1","X":"FILLED","l":"1","z":"1","T":1650898329196}`,
	} {
		f.Add([]byte(`{"e":"forceOrder","E":1650898329201,"o":{` + body + `}}`))
		f.Add([]byte(`{"stream":"!forceOrder@arr","data":{"e":"forceOrder","E":1650898329201,"o":{` + body + `}}}`))
	}
	for _, frame := range []string{
		`{"e":"forceOrder","E":"1650898329201","o":{` + o + `}}`,
		`{"e":"forceOrder","E":-1,"o":{` + o + `}}`,
		`{"e":"forceOrder","E":1,"o":{` + o + `},"e":"markPriceUpdate"}`,
		`{"e":"forceOrder","E":1,"o":[]}`,
		`{"e":"forceOrder","E":1,"o":{` + o + `},"o":{` + o + `}}`,
		`{"e":"forceOrder","E":1}`,
		`{"stream":"x","data":[{"e":"forceOrder","E":1,"o":{` + o + `}}]}`,
		`{"stream":"x","data":{"e":"forceOrder","E":1,"o":{` + o + `}},"data":{"e":"forceOrder","E":1,"o":{` + o + `}}}`,
		`{"stream":"x\"y","data":{"e":"forceOrder","E":1,"o":{` + o + `}}}`,
		`{"stream":"x","data":{"e":"forceOrder","E":1,"o":{` + o + `}}`,
		`{"stream":1,"data":{}}`,
		`{"stream":"x"}`,
		`[{"e":"forceOrder","E":1,"o":{` + o + `}}]`,
	} {
		f.Add([]byte(frame))
	}
	coinm := testInstruments(f, event.BinanceCOINM, map[string]Instrument{
		"BTCUSD_200925": {Market: event.Inverse, Basis: event.BasisContractSize, Size: 100},
	})
	decoders := []Decoder{NewBinanceUSDMDecoder(), NewBinanceCOINMDecoder(coinm), NewAsterDecoder()}
	f.Fuzz(func(t *testing.T, frame []byte) {
		general := spaced(frame)
		for _, d := range decoders {
			got, err := d.Decode(nil, frame, fuzzRecvNs)
			want, werr := d.Decode(nil, general, fuzzRecvNs)
			if err != werr || fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) {
				t.Fatalf("%T %s:\nas written %+v, %v\ngeneral    %+v, %v", d, frame, got, err, want, werr)
			}
		}
	})
}

// TestLayoutRefusesWhatReadFieldsWouldReadOtherwise: a layout cannot put
// a value where readFields would not (a read member declared fixed, a
// number into a slot that takes strings only), and runs of fixed members
// are compared with the member after them.
func TestLayoutRefusesWhatReadFieldsWouldReadOtherwise(t *testing.T) {
	for _, members := range [][]string{{`"q":"1"`}, {`"s":`}, {`s:"`}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%q: accepted", members)
				}
			}()
			newLayout(binanceFields, members...)
		}()
	}
	l := newLayout(binanceFields, `"s":"`, `"o":"LIMIT"`, `"f":"IOC"`, `"q":"`, `"X":"FILLED"`)
	var lits []string
	for _, st := range l {
		lits = append(lits, st.lit)
	}
	if fmt.Sprint(lits) != `["s":" "o":"LIMIT","f":"IOC","q":" "X":"FILLED"]` || l[1].key != "o" || l[1].slot != fSize || l[2].kind != stepFixed {
		t.Errorf("steps %q, %+v", lits, l)
	}
}
