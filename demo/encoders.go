package demo

// The Binance USD-M wire encoder the demo, the load test and the tests
// play the sample with. ingest/ingesttest carries every venue's encoder
// beside its decoder: once that lands, this file goes and AppendFrame's
// callers use ingesttest's.

import "strconv"

// AppendFrame builds the combined-stream forceOrder frame Binance sends
// (USD-M and COIN-M alike) for row,
// stamped with event time tMs (the demo replays at "now", not in 2024).
func AppendFrame(dst []byte, row *Row, tMs int64) []byte {
	dst = append(dst, `{"stream":"!forceOrder@arr","data":{"e":"forceOrder","E":`...)
	dst = strconv.AppendInt(dst, tMs+3, 10)
	dst = append(dst, `,"o":{"s":"`...)
	dst = append(dst, row.Symbol...)
	dst = append(dst, `","S":"`...)
	dst = append(dst, row.Side...)
	dst = append(dst, `","o":"LIMIT","f":"IOC","q":"`...)
	dst = append(dst, row.Qty...)
	dst = append(dst, `","p":"`...)
	dst = append(dst, row.Price...)
	dst = append(dst, `","ap":"`...)
	dst = append(dst, row.AvgPrice...)
	dst = append(dst, `","X":"FILLED","l":"`...)
	dst = append(dst, row.LastQty...)
	dst = append(dst, `","z":"`...)
	dst = append(dst, row.FilledQty...)
	dst = append(dst, `","T":`...)
	dst = strconv.AppendInt(dst, tMs, 10)
	dst = append(dst, `,"ps":"`...)
	if row.Pair != "" {
		dst = append(dst, row.Pair...)
	} else {
		dst = append(dst, row.Symbol...)
	}
	dst = append(dst, `","st":1}}}`...)
	return dst
}
