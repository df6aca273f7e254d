package ingest

import (
	"context"
	"fmt"
	"net/http"

	"github.com/tidwall/gjson"

	"github.com/liqbox/liqbox/event"
)

// fetchHTX reads HTX's contract sizes: GET /linear-swap-api/v1/swap_contract_info
// (USDT-margined) and /swap-api/v1/swap_contract_info (coin-margined). Both
// must succeed, so a half table never replaces a whole one. Delivery
// futures are not fetched: liqbox does not subscribe to them.
func fetchHTX(ctx context.Context, c *http.Client, base string) (map[string]Instrument, error) {
	m := make(map[string]Instrument)
	for _, ep := range []struct {
		path  string
		parse func(gjson.Result) (string, Instrument, bool)
	}{
		{"/linear-swap-api/v1/swap_contract_info", parseHTXLinearSwap},
		{"/swap-api/v1/swap_contract_info", parseHTXCoinSwap},
	} {
		body, err := getJSON(ctx, c, base, ep.path, nil)
		if err != nil {
			return nil, err
		}
		if st := gjson.GetBytes(body, "status").String(); st != "ok" {
			return nil, fmt.Errorf("cannot get HTX contracts %s: status %q, err_code %s %s: %w", ep.path, st,
				gjson.GetBytes(body, "err_code").Raw, gjson.GetBytes(body, "err_msg").String(), ErrUnexpected)
		}
		data := gjson.GetBytes(body, "data")
		if !data.IsArray() {
			return nil, fmt.Errorf("cannot read HTX contracts %s: no data array: %w", ep.path, ErrUnexpected)
		}
		collect(m, data, ep.parse)
	}
	return m, nil
}

// htxContract reads a contract_info record's code, contract_size and
// whether it is listed (contract_status 1).
func htxContract(r gjson.Result) (string, float64, bool, bool) {
	code := r.Get("contract_code").String()
	cs, ok := parseDecimal(r.Get("contract_size").String())
	if code == "" || !ok || !(cs > 0) {
		return "", 0, false, false
	}
	return code, cs, r.Get("contract_status").Int() == 1, true
}

// parseHTXLinearSwap reads a USDT-margined record. HTX documents
// contract_size as "Contract Value (USDT of one contract)", but it is the
// base coin per contract: its own REST example has volume 479 and amount
// 0.479 BTC for BTC-USDT, 0.001 BTC a contract (PROTOCOLS.md section 11).
func parseHTXLinearSwap(r gjson.Result) (string, Instrument, bool) {
	code, cs, trading, ok := htxContract(r)
	if !ok {
		return "", Instrument{}, false
	}
	return code, Instrument{Market: event.Linear, Basis: event.BasisContractValue, Size: cs, Trading: trading}, true
}

// parseHTXCoinSwap reads a coin-margined swap record: contract_size is
// "Contract Value (USD of one contract)", 10 or 100.
func parseHTXCoinSwap(r gjson.Result) (string, Instrument, bool) {
	code, cs, trading, ok := htxContract(r)
	if !ok {
		return "", Instrument{}, false
	}
	return code, Instrument{Market: event.Inverse, Basis: event.BasisContractSize, Size: cs, Trading: trading}, true
}

// parseHTXCoinFutures reads a coin-margined delivery-futures record
// (/api/v1/contract_contract_info): USD per contract, as the swaps.
func parseHTXCoinFutures(r gjson.Result) (string, Instrument, bool) {
	code, in, ok := parseHTXCoinSwap(r)
	if _, dated := htxDeliveryCoin(code); !ok || !dated {
		return "", Instrument{}, false
	}
	return code, in, true
}
