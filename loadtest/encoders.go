package loadtest

import (
	"strconv"

	"github.com/liqbox/liqbox/demo"
	"github.com/liqbox/liqbox/event"
)

// Wire encoders of the mix's venues other than Binance USD-M (whose
// encoder is demo.AppendFrame). ingest/ingesttest carries every venue's
// encoder beside its decoder, with a round-trip fuzz: once that lands, this
// file goes and the mix uses ingesttest's.

// appendCOINMFrame builds a COIN-M combined-stream forceOrder frame; q is
// in contracts and the fill price is the order price.
func appendCOINMFrame(dst []byte, r *mixRow, tMs int64) []byte {
	return demo.AppendFrame(dst, &demo.Row{Symbol: r.in.sym, Pair: r.in.pair, Side: r.src.Side,
		Qty: r.qty, Price: r.price, AvgPrice: r.price, LastQty: r.qty, FilledQty: r.qty}, tMs)
}

// appendBybitFrame builds a Bybit allLiquidation frame: "S" is the side
// of the position, so Buy is a long liquidated.
func appendBybitFrame(dst []byte, r *mixRow, tMs int64) []byte {
	side := "Buy"
	if r.side == event.Short {
		side = "Sell"
	}
	dst = append(dst, `{"topic":"allLiquidation.`...)
	dst = append(dst, r.in.sym...)
	dst = append(dst, `","type":"snapshot","ts":`...)
	dst = strconv.AppendInt(dst, tMs+300, 10)
	dst = append(dst, `,"data":[{"T":`...)
	dst = strconv.AppendInt(dst, tMs, 10)
	dst = append(dst, `,"s":"`...)
	dst = append(dst, r.in.sym...)
	dst = append(dst, `","S":"`...)
	dst = append(dst, side...)
	dst = append(dst, `","v":"`...)
	dst = append(dst, r.qty...)
	dst = append(dst, `","p":"`...)
	dst = append(dst, r.price...)
	return append(dst, `"}]}`...)
}

// appendOKXFrame builds an OKX liquidation-orders SWAP frame; sz is in
// contracts, ts a string.
func appendOKXFrame(dst []byte, r *mixRow, tMs int64) []byte {
	pos, side := "long", "sell"
	if r.side == event.Short {
		pos, side = "short", "buy"
	}
	dst = append(dst, `{"arg":{"channel":"liquidation-orders","instType":"SWAP"},"data":[{"details":[{"bkLoss":"0","bkPx":"`...)
	dst = append(dst, r.price...)
	dst = append(dst, `","ccy":"","posSide":"`...)
	dst = append(dst, pos...)
	dst = append(dst, `","side":"`...)
	dst = append(dst, side...)
	dst = append(dst, `","sz":"`...)
	dst = append(dst, r.qty...)
	dst = append(dst, `","ts":"`...)
	dst = strconv.AppendInt(dst, tMs, 10)
	dst = append(dst, `"}],"instFamily":"`...)
	dst = append(dst, r.in.pair...)
	dst = append(dst, `","instId":"`...)
	dst = append(dst, r.in.sym...)
	dst = append(dst, `","instType":"SWAP","uly":"`...)
	dst = append(dst, r.in.pair...)
	return append(dst, `"}]}`...)
}

// appendBitMEXFrame builds a BitMEX liquidation insert: "side" is the
// liquidation order's, so Sell is a long liquidated; price and leavesQty
// are JSON numbers and the frame carries no time.
func appendBitMEXFrame(dst []byte, r *mixRow, order uint64) []byte {
	side := "Sell"
	if r.side == event.Short {
		side = "Buy"
	}
	dst = append(dst, `{"table":"liquidation","action":"insert","data":[{"orderID":"`...)
	dst = appendHex(dst, order>>32, 8)
	dst = append(dst, '-')
	dst = appendHex(dst, order>>16, 4)
	dst = append(dst, `-4000-8000-`...)
	dst = appendHex(dst, order, 12)
	dst = append(dst, `","symbol":"`...)
	dst = append(dst, r.in.sym...)
	dst = append(dst, `","side":"`...)
	dst = append(dst, side...)
	dst = append(dst, `","price":`...)
	dst = append(dst, r.price...)
	dst = append(dst, `,"leavesQty":`...)
	dst = append(dst, r.qty...)
	return append(dst, `}]}`...)
}

// appendHex appends the low 4·n bits of x as n lower-case hex digits.
func appendHex(dst []byte, x uint64, n int) []byte {
	const digits = "0123456789abcdef"
	for i := n - 1; i >= 0; i-- {
		dst = append(dst, digits[(x>>(4*uint(i)))&0xf])
	}
	return dst
}
