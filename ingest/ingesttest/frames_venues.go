package ingesttest

import (
	"strconv"
	"strings"

	"github.com/liqbox/liqbox/event"
)

// BitfinexChanID is the channel id the loopback exchange assigns to the
// liq:global subscription, and AppendBitfinex writes into its frames: on
// the real venue each connection gets its own.
const BitfinexChanID = 91684

// AppendDeribit appends a trades notification with one liquidation trade
// flagged "T" (the taker was liquidated): direction is the taker's, so
// sell for a long. Price and amount are JSON numbers; amount is USD for an
// inverse instrument (BTC-PERPETUAL), base units for a linear one.
func AppendDeribit(dst []byte, l *Liquidation) []byte {
	dir := "sell"
	if l.Side == event.Short {
		dir = "buy"
	}
	dst = append(dst, `{"jsonrpc":"2.0","method":"subscription","params":{"channel":"trades.future.any.100ms","data":[{"trade_seq":`...)
	dst = strconv.AppendUint(dst, l.OrderID%1e9, 10)
	dst = append(dst, `,"trade_id":"`...)
	dst = strconv.AppendUint(dst, l.OrderID, 10)
	dst = append(dst, `","timestamp":`...)
	dst = strconv.AppendInt(dst, l.TimeMs, 10)
	dst = append(dst, `,"tick_direction":1,"price":`...)
	dst = append(dst, l.Price...)
	dst = append(dst, `,"mark_price":`...)
	dst = append(dst, l.Price...)
	dst = append(dst, `,"liquidation":"T","instrument_name":"`...)
	dst = append(dst, l.Symbol...)
	dst = append(dst, `","index_price":`...)
	dst = append(dst, l.Price...)
	dst = append(dst, `,"direction":"`...)
	dst = append(dst, dir...)
	dst = append(dst, `","amount":`...)
	dst = append(dst, l.Qty...)
	return append(dst, `}]}}`...)
}

// AppendKrakenFutures appends a trade message of type liquidation: side is
// the taker's, sell for a long; qty (contracts of 1 USD for PI_, base units
// for PF_) and price are JSON numbers.
func AppendKrakenFutures(dst []byte, l *Liquidation) []byte {
	side := "sell"
	if l.Side == event.Short {
		side = "buy"
	}
	dst = append(dst, `{"feed":"trade","product_id":"`...)
	dst = append(dst, l.Symbol...)
	dst = append(dst, `","uid":"`...)
	dst = appendHex(dst, l.OrderID>>32, 8)
	dst = append(dst, `-0000-4000-8000-`...)
	dst = appendHex(dst, l.OrderID, 12)
	dst = append(dst, `","side":"`...)
	dst = append(dst, side...)
	dst = append(dst, `","type":"liquidation","seq":`...)
	dst = strconv.AppendUint(dst, l.OrderID%1e6+1, 10)
	dst = append(dst, `,"time":`...)
	dst = strconv.AppendInt(dst, l.TimeMs, 10)
	dst = append(dst, `,"qty":`...)
	dst = append(dst, l.Qty...)
	dst = append(dst, `,"price":`...)
	dst = append(dst, l.Price...)
	return append(dst, '}')
}

// AppendBitfinex appends a liq:global update on BitfinexChanID with one
// trigger row (IS_MATCH 0): AMOUNT is the position's signed size, positive
// for a long; BASE_PRICE is Price and LIQUIDATION_PRICE null, as in the
// recordings; the symbol gets its "t" prefix unless it has one; a sequence
// number and a timestamp trail, as when Bitfinex is asked for them.
func AppendBitfinex(dst []byte, l *Liquidation) []byte {
	dst = append(dst, '[')
	dst = strconv.AppendInt(dst, BitfinexChanID, 10)
	dst = append(dst, `,[["pos",`...)
	dst = strconv.AppendUint(dst, l.OrderID, 10)
	dst = append(dst, ',')
	dst = strconv.AppendInt(dst, l.TimeMs, 10)
	dst = append(dst, `,null,"`...)
	if !strings.HasPrefix(l.Symbol, "t") {
		dst = append(dst, 't')
	}
	dst = append(dst, l.Symbol...)
	dst = append(dst, `",`...)
	if l.Side == event.Short {
		dst = append(dst, '-')
	}
	dst = append(dst, l.Qty...)
	dst = append(dst, ',')
	dst = append(dst, l.Price...)
	dst = append(dst, `,null,0,1,null,null]],`...)
	dst = strconv.AppendUint(dst, l.OrderID%1e9, 10)
	dst = append(dst, ',')
	dst = strconv.AppendInt(dst, l.TimeMs+60, 10)
	return append(dst, ']')
}

// AppendBitget appends a UTA liquidation push for usdt-futures (Pair
// "coin-futures" or "usdc-futures" picks another account type) with one
// row: side is the position's, buy for a long; Qty is written as the
// amount, which Bitget gives as the quote value.
func AppendBitget(dst []byte, l *Liquidation) []byte {
	side := "buy"
	if l.Side == event.Short {
		side = "sell"
	}
	dst = append(dst, `{"action":"update","arg":{"instType":"`...)
	dst = append(dst, orStr(l.Pair, "usdt-futures")...)
	dst = append(dst, `","topic":"liquidation"},"data":[{"symbol":"`...)
	dst = append(dst, l.Symbol...)
	dst = append(dst, `","side":"`...)
	dst = append(dst, side...)
	dst = append(dst, `","price":"`...)
	dst = append(dst, l.Price...)
	dst = append(dst, `","amount":"`...)
	dst = append(dst, l.Qty...)
	dst = append(dst, `","ts":"`...)
	dst = strconv.AppendInt(dst, l.TimeMs, 10)
	dst = append(dst, `"}],"ts":`...)
	dst = strconv.AppendInt(dst, l.TimeMs+900, 10)
	return append(dst, '}')
}

// AppendDeribitIndex appends a deribit_price_index.<index> notification,
// Deribit's canary.
func AppendDeribitIndex(dst []byte, index string, nowMs int64) []byte {
	dst = append(dst, `{"jsonrpc":"2.0","method":"subscription","params":{"channel":"deribit_price_index.`...)
	dst = append(dst, index...)
	dst = append(dst, `","data":{"timestamp":`...)
	dst = strconv.AppendInt(dst, nowMs, 10)
	dst = append(dst, `,"price":`...)
	dst = markPrice(dst, nowMs)
	dst = append(dst, `,"index_name":"`...)
	dst = append(dst, index...)
	return append(dst, `"}}}`...)
}

// AppendKrakenHeartbeat appends the heartbeat feed's message, Kraken
// Futures' canary.
func AppendKrakenHeartbeat(dst []byte, nowMs int64) []byte {
	dst = append(dst, `{"feed":"heartbeat","time":`...)
	dst = strconv.AppendInt(dst, nowMs, 10)
	return append(dst, '}')
}
