package loadtest

import "github.com/tidwall/gjson"

// How the mix's loopback exchanges answer their clients (application
// pings, subscription acks), as each venue does. ingest/ingesttest carries
// the loopback exchange with each venue's behaviour: once that lands, this
// file goes and the mix uses ingesttest's.

// bybitAnswer answers the Bybit client's application ping and acknowledges
// its subscriptions, as Bybit does.
func bybitAnswer(msg []byte) [][]byte {
	switch gjson.GetBytes(msg, "op").String() {
	case "ping":
		return [][]byte{[]byte(`{"success":true,"ret_msg":"pong","conn_id":"loopback","req_id":"","op":"ping"}`)}
	case "subscribe":
		return [][]byte{[]byte(`{"success":true,"ret_msg":"","conn_id":"loopback","req_id":"","op":"subscribe"}`)}
	}
	return nil
}

// okxAnswer answers OKX's text ping and acknowledges the subscription.
func okxAnswer(msg []byte) [][]byte {
	if string(msg) == "ping" {
		return [][]byte{[]byte("pong")}
	}
	if gjson.GetBytes(msg, "op").String() != "subscribe" {
		return nil
	}
	var out [][]byte
	gjson.GetBytes(msg, "args").ForEach(func(_, a gjson.Result) bool {
		out = append(out, []byte(`{"event":"subscribe","arg":`+a.Raw+`,"connId":"loopback"}`))
		return true
	})
	return out
}

// textPong answers a text "ping" as BitMEX does.
func textPong(msg []byte) [][]byte {
	if string(msg) == "ping" {
		return [][]byte{[]byte("pong")}
	}
	return nil
}
