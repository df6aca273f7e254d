package ingest

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/liqbox/liqbox/event"
)

// htxPush wraps rows in a liquidation_orders notify of contract code.
func htxPush(code, rows string) []byte {
	return []byte(`{"op":"notify","topic":"public.` + code + `.liquidation_orders","ts":1789670297217,"data":[` + rows + `]}`)
}

// htxRow is a USDT-M row with the given members after its code.
func htxRow(code, members string) string {
	return `{"symbol":"X","contract_code":"` + code + `",` + members + `}`
}

// TestHTXSideRule: direction is the liquidation order's side and offset
// closes the position: sell+close is a long liquidated, buy+close a short,
// both (one-way mode) reads the same; an opening order or a missing offset
// is refused naming the fields.
func TestHTXSideRule(t *testing.T) {
	d := NewHTXDecoder(nil, event.Linear)
	for _, c := range []struct {
		direction, offset string
		want              event.Side
	}{
		{"sell", `"offset":"close",`, event.Long},
		{"buy", `"offset":"close",`, event.Short},
		{"sell", `"offset":"both",`, event.Long},
		{"buy", `"offset":"both",`, event.Short},
		{"sell", `"offset":"open",`, event.SideUnknown},
		{"buy", ``, event.SideUnknown},
		{"Sell", `"offset":"close",`, event.SideUnknown},
	} {
		frame := htxPush("ETH-USDT", htxRow("ETH-USDT", `"direction":"`+c.direction+`",`+c.offset+
			`"volume":500,"price":2446.26,"created_at":1789670297212,"amount":5,"trade_turnover":12231.3`))
		got, err := d.Decode(nil, frame, boundsRecvNs)
		if c.want == event.SideUnknown {
			var de *DecodeError
			if len(got) != 0 || !errors.As(err, &de) || de.Field != "data[].direction/offset" {
				t.Errorf("%s %s: %+v, %v; want refused naming data[].direction/offset", c.direction, c.offset, got, err)
			}
			continue
		}
		if err != nil || len(got) != 1 || got[0].Side != c.want {
			t.Errorf("%s %s: %+v, %v; want %s", c.direction, c.offset, got, err, c.want)
		}
	}
}

// TestHTXUnits: USDT-margined rows take the venue's own base amount and
// USDT turnover; without turnover USD is amount × price; without amount
// the contract size (base coin per contract, HTX's misleading label) from
// the table; coin-margined rows are contracts × USD per contract, with the
// amount as the base quantity; a size the table cannot give is unknown.
func TestHTXUnits(t *testing.T) {
	inst := testInstruments(t, event.HTX, map[string]Instrument{
		// HTX's REST example: volume 479, amount 0.479 BTC: 0.001 BTC a contract.
		"BTC-USDT": {Market: event.Linear, Basis: event.BasisContractValue, Size: 0.001},
		"BTC-USD":  {Market: event.Inverse, Basis: event.BasisContractSize, Size: 100},
		"ETH-USD":  {Market: event.Inverse, Basis: event.BasisContractSize, Size: 10},
	})
	tm := `"created_at":1789670297212`
	cases := []struct {
		name     string
		market   event.Market
		frame    []byte
		qty, usd float64 // NaN: unknown
		basis    event.Basis
	}{
		{"usdt-m amount and turnover", event.Linear,
			htxPush("ETH-USDT", htxRow("ETH-USDT", `"direction":"buy","offset":"close","volume":500,"price":2446.26,`+tm+`,"amount":5,"trade_turnover":12231.3`)),
			5, 12231.3, event.BasisLinear},
		{"usdt-m amount only", event.Linear,
			htxPush("ETH-USDT", htxRow("ETH-USDT", `"direction":"buy","offset":"close","volume":500,"price":2446.26,`+tm+`,"amount":"5"`)),
			5, 5 * 2446.26, event.BasisLinear},
		{"usdt-m contracts only, size known", event.Linear,
			htxPush("BTC-USDT", htxRow("BTC-USDT", `"direction":"sell","offset":"close","volume":479,"price":51441.7,`+tm)),
			479 * 0.001, 479 * 0.001 * 51441.7, event.BasisContractValue},
		{"usdt-m contracts and turnover", event.Linear,
			htxPush("BTC-USDT", htxRow("BTC-USDT", `"direction":"sell","offset":"close","volume":479,"price":51441.7,`+tm+`,"trade_turnover":24640.5743`)),
			479 * 0.001, 24640.5743, event.BasisContractValue},
		{"usdt-m contracts only, size unknown", event.Linear,
			htxPush("ETH-USDT", htxRow("ETH-USDT", `"direction":"buy","offset":"close","volume":500,"price":2446.26,`+tm)),
			math.NaN(), math.NaN(), event.BasisUnknown},
		{"coin-m with amount", event.Inverse,
			htxPush("BTC-USD", htxRow("BTC-USD", `"direction":"buy","offset":"close","volume":173,"price":17102.9,`+tm+`,"amount":1.0115243613656164`)),
			1.0115243613656164, 17300, event.BasisContractSize},
		{"coin-m without amount", event.Inverse,
			htxPush("ETH-USD", htxRow("ETH-USD", `"direction":"buy","offset":"close","volume":231,"price":229.95,`+tm)),
			2310 / 229.95, 2310, event.BasisContractSize},
		{"coin-m unknown contract", event.Inverse,
			htxPush("ZZZ-USD", htxRow("ZZZ-USD", `"direction":"buy","offset":"close","volume":231,"price":229.95,`+tm+`,"amount":10`)),
			math.NaN(), math.NaN(), event.BasisUnknown},
		// BTC-USDT is in the table, but as a linear contract: its size
		// never applies to a coin-margined row, nor a coin-M one to ETH-USDT.
		{"coin-m row of a linear contract", event.Inverse,
			htxPush("BTC-USDT", htxRow("BTC-USDT", `"direction":"buy","offset":"close","volume":10,"price":50000,`+tm)),
			math.NaN(), math.NaN(), event.BasisUnknown},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := NewHTXDecoder(inst, c.market).Decode(nil, c.frame, boundsRecvNs)
			if err != nil || len(got) != 1 {
				t.Fatalf("%d events, %v", len(got), err)
			}
			e := got[0]
			if e.Basis != c.basis || e.Market != c.market || !sameFloat(e.Qty, c.qty) || !sameFloat(e.Notional, c.usd) {
				t.Errorf("basis %s market %s qty %v usd %v; want %s %s %v %v", e.Basis, e.Market, e.Qty, e.Notional, c.basis, c.market, c.qty, c.usd)
			}
			if msg := checkBounds(&e, event.HTX, boundsRecvNs); msg != "" {
				t.Error(msg)
			}
		})
	}
}

// sameFloat is floatEq with NaN equal to NaN.
func sameFloat(got, want float64) bool {
	if math.IsNaN(want) {
		return math.IsNaN(got)
	}
	return floatEq(got, want)
}

// TestHTXDeliveryFamily: a coin-margined delivery future the table lacks
// takes the size every listed future of its coin shares; a coin whose
// futures disagree, or with none listed, stays unknown.
func TestHTXDeliveryFamily(t *testing.T) {
	m := map[string]Instrument{
		"BTC210813": {Market: event.Inverse, Basis: event.BasisContractSize, Size: 100},
		"BTC210820": {Market: event.Inverse, Basis: event.BasisContractSize, Size: 100},
		"XRP210813": {Market: event.Inverse, Basis: event.BasisContractSize, Size: 10},
		"XRP210820": {Market: event.Inverse, Basis: event.BasisContractSize, Size: 100},
		"BTC-USD":   {Market: event.Inverse, Basis: event.BasisContractSize, Size: 100},
	}
	htxDeliveryFamilies(m)
	inst := testInstruments(t, event.HTX, m)
	d := NewHTXDecoder(inst, event.MarketUnknown)
	for code, want := range map[string]float64{"BTC200703": 145000, "XRP200703": math.NaN(), "ETH200703": math.NaN()} {
		got, err := d.Decode(nil, []byte(`{"op":"notify","topic":"public.BTC.liquidation_orders","ts":1593561769911,"data":[{"symbol":"BTC","contract_code":"`+
			code+`","direction":"sell","offset":"close","volume":1450,"price":9062.71,"created_at":1593561769833}]}`), boundsRecvNs)
		if err != nil || len(got) != 1 || !sameFloat(got[0].Notional, want) || got[0].Market != event.Inverse {
			t.Errorf("%s: %+v, %v; want USD %v", code, got, err, want)
		}
	}
}

// TestHTXRefuses: values outside the bounds are errors naming the field,
// and the push's good rows are kept.
func TestHTXRefuses(t *testing.T) {
	d := NewHTXDecoder(nil, event.Linear)
	good := htxRow("ETH-USDT", `"direction":"buy","offset":"close","volume":500,"price":2446.26,"created_at":1789670297212,"amount":5,"trade_turnover":12231.3`)
	for _, c := range []struct {
		row, field string
	}{
		{htxRow("ETH-USDT", `"direction":"buy","offset":"close","volume":0,"price":2446.26,"created_at":1789670297212`), "data[].volume"},
		{htxRow("ETH-USDT", `"direction":"buy","offset":"close","volume":5,"price":-1,"created_at":1789670297212`), "data[].price"},
		{htxRow("ETH-USDT", `"direction":"buy","offset":"close","volume":5,"price":1,"created_at":17896702972120`), "data[].created_at"},
		{htxRow("ETH-USDT", `"direction":"buy","offset":"close","volume":5,"price":1,"created_at":1789670297212,"amount":"x"`), "data[].amount"},
		{htxRow("ETH-USDT", `"direction":"buy","offset":"close","volume":5,"price":1,"created_at":1789670297212,"amount":1,"trade_turnover":2e10`), "data[].trade_turnover"},
		{htxRow("ETH\u001bUSDT", `"direction":"buy","offset":"close","volume":5,"price":1,"created_at":1789670297212,"amount":1`), "data[].contract_code"},
		{htxRow("ETH-USDT", `"direction":"buy","offset":"close","volume":5,"price":1e9,"created_at":1789670297212,"amount":1e9`), "data[].volume×data[].price"},
	} {
		checkRefusedBetweenGood(t, d, htxPush("ETH-USDT", good+","+c.row+","+good), c.row, c.field)
	}
}

// checkRefusedBetweenGood decodes frame, whose bad row (named by what) sits
// between two good ones: the error names field, the good two are kept.
func checkRefusedBetweenGood(t *testing.T, d Decoder, frame []byte, what, field string) {
	t.Helper()
	got, err := d.Decode(nil, frame, boundsRecvNs)
	var de *DecodeError
	if !errors.As(err, &de) || de.Field != field || !errors.Is(err, ErrMalformed) {
		t.Errorf("%s: %v, want an error naming %s", what, err, field)
	}
	if len(got) != 2 {
		t.Errorf("%s: kept %d events, want the 2 good ones", what, len(got))
	}
}

// TestHTXFrameKinds: only a notify of a liquidation_orders topic is a
// liquidation; the canary's funding_rate, acks, pings, close and error
// notices are control frames; another topic is unexpected.
func TestHTXFrameKinds(t *testing.T) {
	d := NewHTXDecoder(nil, event.MarketUnknown)
	row := htxRow("ETH-USDT", `"direction":"buy","offset":"close","volume":500,"price":2446.26,"created_at":1789670297212,"amount":5`)
	for _, c := range []struct {
		frame string
		field string // "" a control frame; "-" one event
	}{
		{string(htxPush("ETH-USDT", row)), "-"},
		{`{"op":"notify","topic":"public.*.liquidation_orders","ts":1,"data":[` + row + `]}`, "-"},
		{`{"op":"notify","topic":"public.ETH-USDT.funding_rate","ts":1,"data":[{"symbol":"ETH"}]}`, ""},
		{`{"op":"notify","topic":"public.ETH-USDT.contract_info","ts":1,"data":[` + row + `]}`, "topic"},
		{`{"op":"notify","topic":"matchOrders.eth-usdt","ts":1,"data":[` + row + `]}`, "topic"},
		{`{"op":"ping","ts":"1789676447110"}`, ""},
		{`{"ping":1492420473027}`, ""},
		{`{"ts":1492420473027,"status":"error","err-code":"bad-request","err-msg":"invalid ping"}`, ""},
		{`{"op":"close","ts":1789676477119}`, ""},
		{`{"op":"error","ts":1789676477119}`, ""},
		{`{"op":"sub","cid":"liqbox","topic":"public.*.liquidation_orders","ts":1789670081489,"err-code":2030,"err-msg":"Exceeds connection limit of single user."}`, ""},
		{`{"op":"notify","topic":"public.ETH-USDT.liquidation_orders","ts":1}`, "data"},
		{`{"op":"notify","topic":"public.ETH-USDT.liquidation_orders","ts":1,"data":{}}`, "data"},
		{`{"topic":"public.ETH-USDT.liquidation_orders","data":[` + row + `]}`, "_"},
	} {
		checkFrameKind(t, d, c.frame, c.field)
	}
}

// checkFrameKind decodes frame and checks what it is: field "-" one
// event, "" a control frame, "_" no message of the venue's, else an error
// naming field.
func checkFrameKind(t *testing.T, d Decoder, frame, field string) {
	t.Helper()
	got, err := d.Decode(nil, []byte(frame), boundsRecvNs)
	var de *DecodeError
	switch field {
	case "-":
		if err != nil || len(got) != 1 {
			t.Errorf("%.60s: %d events, %v; want one", frame, len(got), err)
		}
	case "":
		if err != nil || len(got) != 0 {
			t.Errorf("%.60s: %d events, %v; want a control frame", frame, len(got), err)
		}
	case "_":
		if len(got) != 0 || !errors.As(err, &de) || de.Field != "" {
			t.Errorf("%.60s: %d events, %v; want refused as no message of the venue's", frame, len(got), err)
		}
	default:
		if len(got) != 0 || !errors.As(err, &de) || de.Field != field {
			t.Errorf("%.60s: %d events, %v; want an error naming %s", frame, len(got), err, field)
		}
	}
}

// TestHTXAnswer: the heartbeat is answered echoing ts verbatim, quoted as
// HTX quotes it in pings or bare as elsewhere; nothing else is answered,
// and a ts that is not digits is never reflected.
func TestHTXAnswer(t *testing.T) {
	for frame, want := range map[string]string{
		`{"op":"ping","ts":"1789676447110"}`:                                    `{"op":"pong","ts":"1789676447110"}`,
		`{"op":"ping","ts":1492420473058}`:                                      `{"op":"pong","ts":1492420473058}`,
		`{"ts":"1492420473058","op":"ping"}`:                                    `{"op":"pong","ts":"1492420473058"}`,
		` { "op" : "ping" , "ts" : "12" } `:                                     `{"op":"pong","ts":"12"}`,
		`{"ping":1492420473027}`:                                                `{"pong":1492420473027}`,
		`{"op":"ping","ts":"1\",\"x\":\"2"}`:                                    "",
		`{"op":"ping","ts":{"a":1}}`:                                            "",
		`{"op":"ping"}`:                                                         "",
		`{"op":"pong","ts":"1789676447110"}`:                                    "",
		`{"op":"sub","topic":"x","err-code":0}`:                                 "",
		string(htxPush("ETH-USDT", htxRow("ETH-USDT", `"op":"ping","ts":"1"`))): "",
	} {
		out, resp := htxRespond([]byte("old"), []byte(frame))
		ok := resp == Reply
		if want == "" {
			if resp != NoResponse {
				t.Errorf("%s answered %q", frame, out)
			}
			continue
		}
		if !ok || string(out) != "old"+want {
			t.Errorf("%s: %q, %v; want %s", frame, out, ok, want)
		}
	}
	ping, dst := []byte(`{"op":"ping","ts":"1789676447110"}`), make([]byte, 0, 64)
	if n := testing.AllocsPerRun(100, func() { dst, _ = htxRespond(dst[:0], ping) }); n != 0 {
		t.Errorf("%v allocs per answer", n)
	}
}

// TestHTXControl: a refused subscription (2030, connection limit) and the
// close and error notices are reported; the harmless 2014 (repeated
// subscription) and a successful ack are not.
func TestHTXControl(t *testing.T) {
	d := NewHTXDecoder(nil, event.Linear)
	for frame, want := range map[string]string{
		`{"op":"sub","cid":"a","topic":"public.*.liquidation_orders","ts":1,"err-code":2030,"err-msg":"Exceeds connection limit of single user."}`: "2030",
		`{"op":"close","ts":1789676477119}`: "close",
		`{"ts":1492420473027,"status":"error","err-code":"bad-request","err-msg":"invalid ping"}`: "invalid ping",
		`{"op":"error","ts":1789676477119}`: "error",
		`{"op":"sub","cid":"probe-1","topic":"public.BTC-USDT.liquidation_orders","err-code":2014,"err-msg":"Repeated subscription.","ts":1789669865635}`: "",
		`{"op":"sub","cid":"airates-liq","topic":"public.*.liquidation_orders","ts":1789670081489,"err-code":0}`:                                          "",
	} {
		bad, msg := d.Control([]byte(frame))
		if bad != (want != "") || !strings.Contains(msg, want) {
			t.Errorf("%s: %v %q; want reported %v with %q", frame, bad, msg, want != "", want)
		}
	}
}
