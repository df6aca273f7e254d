package ingest

import (
	"context"
	"fmt"
	"net/http"

	"github.com/tidwall/gjson"

	"github.com/liqbox/liqbox/event"
)

// fetchGate reads GET /api/v4/futures/usdt/contracts and
// /api/v4/futures/btc/contracts (bare arrays); both must succeed, so a
// half table never replaces a whole one.
func fetchGate(ctx context.Context, c *http.Client, base string) (map[string]Instrument, error) {
	m := make(map[string]Instrument)
	for _, ep := range []struct {
		settle string
		parse  func(gjson.Result) (string, Instrument, bool)
	}{{"usdt", parseGateUSDT}, {"btc", parseGateBTC}} {
		body, err := getJSON(ctx, c, base, "/api/v4/futures/"+ep.settle+"/contracts", nil)
		if err != nil {
			return nil, err
		}
		arr := gjson.ParseBytes(body)
		if !arr.IsArray() {
			return nil, fmt.Errorf("cannot read Gate %s contracts: not an array: %w", ep.settle, ErrUnexpected)
		}
		collect(m, arr, ep.parse)
	}
	return m, nil
}

// parseGateUSDT reads a USDT-settled contract: quanto_multiplier is the
// base coin per contract ("Multiplier used in converting from invoicing to
// settlement currency"; BTC_USDT 0.0001). A contract without a positive
// multiplier is left unknown rather than assumed.
func parseGateUSDT(r gjson.Result) (string, Instrument, bool) {
	name := r.Get("name").String()
	qm, ok := parseDecimal(r.Get("quanto_multiplier").String())
	if name == "" || r.Get("type").String() != "direct" || !ok || !(qm > 0) {
		return "", Instrument{}, false
	}
	return name, Instrument{Market: event.Linear, Basis: event.BasisContractValue, Size: qm,
		Trading: !r.Get("in_delisting").Bool()}, true
}

// parseGateContractInfo reads a record of Gate's futures.contract_info
// push on the USDT-settled endpoint ({"contract":…,"quanto_multiplier":…};
// the embedded snapshot keeps its documentation example in that shape).
func parseGateContractInfo(r gjson.Result) (string, Instrument, bool) {
	name := r.Get("contract").String()
	qm, ok := parseDecimal(r.Get("quanto_multiplier").String())
	if name == "" || !ok || !(qm > 0) {
		return "", Instrument{}, false
	}
	return name, Instrument{Market: event.Linear, Basis: event.BasisContractValue, Size: qm, Trading: true}, true
}

// parseGateBTC reads a BTC-settled contract. Only inverse ones (BTC_USD)
// have a USD value liqbox can compute: one contract is taken as 1 USD
// (UNCONFIRMED, PROTOCOLS.md section 9). A quanto contract settled in BTC
// would need a BTC price: it is left out, and stays unknown.
func parseGateBTC(r gjson.Result) (string, Instrument, bool) {
	name := r.Get("name").String()
	if name == "" || r.Get("type").String() != "inverse" {
		return "", Instrument{}, false
	}
	return name, Instrument{Market: event.Inverse, Basis: event.BasisInverse, Size: 1,
		Trading: !r.Get("in_delisting").Bool()}, true
}
