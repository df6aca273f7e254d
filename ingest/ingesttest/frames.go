package ingesttest

import (
	"strconv"
	"strings"
	"time"

	"github.com/liqbox/liqbox/event"
)

// Liquidation is one liquidation as a venue writes it on the wire. Its
// strings are spliced into the frame as they are (they must need no JSON
// escaping): numbers keep the exact decimal text the venue would send.
type Liquidation struct {
	Symbol string
	// Pair is Binance COIN-M's "ps" (BTCUSD for BTCUSD_PERP) and OKX's
	// instFamily/uly (BTC-USDT for BTC-USDT-SWAP); empty: the symbol itself
	// (Binance) or the instrument id without its last segment (OKX). For
	// Bitget it is the account type (usdt-futures when empty).
	Pair string
	// Side is the side of the liquidated position; each encoder writes the
	// venue's own convention (Binance, OKX and BitMEX the order side,
	// Bybit the position side).
	Side event.Side
	// Price is Binance's "p", Bybit's "p" (bankruptcy), OKX's "bkPx",
	// BitMEX's "price" (a JSON number).
	Price string
	// AvgPrice is Binance's "ap" (average fill price); empty: Price.
	AvgPrice string
	// Qty is the size in the venue's unit: base units (Binance USD-M,
	// Bybit linear, Kraken PF_, Deribit linear, Bitfinex), contracts
	// (COIN-M, OKX, BitMEX, Kraken PI_, HTX's volume, Gate's size without
	// its sign) or USD (Bybit inverse, Deribit inverse, Bitget's quote
	// amount). BitMEX, Deribit, Kraken, Bitfinex and HTX write it as a JSON
	// number, as they write Price.
	Qty string
	// Base is HTX's "amount" (base coin) and Quote its "trade_turnover"
	// (USDT, USDT-margined only); each is left out of the frame when
	// empty, as in older frames.
	Base, Quote string
	// TimeMs is the liquidation's exchange time (BitMEX frames carry none).
	TimeMs int64
	// OrderID makes a BitMEX orderID, a Deribit trade_id, a Kraken uid and
	// a Bitfinex position id.
	OrderID uint64
}

// AppendFrame appends the frame venue v sends for l: the combined-stream
// envelope for Binance (and Aster, whose frames are Binance's), allLiquidation
// for Bybit, a SWAP push for OKX, an insert for BitMEX, a flagged trade for
// Deribit and Kraken Futures, a liq:global row for Bitfinex, a usdt-futures
// push for Bitget, a liquidation_orders push for HTX (inflated: the
// Loopback gzips it, see LoopbackOptions.Gzip) and a public_liquidates
// update for Gate.
func AppendFrame(dst []byte, v event.Venue, l *Liquidation) []byte {
	switch v {
	case event.Bybit:
		return AppendBybit(dst, l)
	case event.OKX:
		return AppendOKX(dst, l)
	case event.BitMEX:
		return AppendBitMEX(dst, l)
	case event.Deribit:
		return AppendDeribit(dst, l)
	case event.KrakenFutures:
		return AppendKrakenFutures(dst, l)
	case event.Bitfinex:
		return AppendBitfinex(dst, l)
	case event.Bitget:
		return AppendBitget(dst, l)
	case event.HTX:
		return AppendHTX(dst, l)
	case event.Gate:
		return AppendGate(dst, l)
	}
	return AppendBinance(dst, l)
}

// AppendBinance appends a combined-stream forceOrder frame (USD-M and
// COIN-M alike): "S" is the liquidation order's side, so SELL is a long
// liquidated; "l" and "z" repeat Qty; the event time is TimeMs+3 as in live
// frames, and the undocumented "ps"/"st" fields live captures carry are
// there too.
func AppendBinance(dst []byte, l *Liquidation) []byte {
	side := "SELL"
	if l.Side == event.Short {
		side = "BUY"
	}
	ap := l.AvgPrice
	if ap == "" {
		ap = l.Price
	}
	dst = append(dst, `{"stream":"!forceOrder@arr","data":{"e":"forceOrder","E":`...)
	dst = strconv.AppendInt(dst, l.TimeMs+3, 10)
	dst = append(dst, `,"o":{"s":"`...)
	dst = append(dst, l.Symbol...)
	dst = append(dst, `","S":"`...)
	dst = append(dst, side...)
	dst = append(dst, `","o":"LIMIT","f":"IOC","q":"`...)
	dst = append(dst, l.Qty...)
	dst = append(dst, `","p":"`...)
	dst = append(dst, l.Price...)
	dst = append(dst, `","ap":"`...)
	dst = append(dst, ap...)
	dst = append(dst, `","X":"FILLED","l":"`...)
	dst = append(dst, l.Qty...)
	dst = append(dst, `","z":"`...)
	dst = append(dst, l.Qty...)
	dst = append(dst, `","T":`...)
	dst = strconv.AppendInt(dst, l.TimeMs, 10)
	dst = append(dst, `,"ps":"`...)
	dst = append(dst, orStr(l.Pair, l.Symbol)...)
	return append(dst, `","st":1}}}`...)
}

// AppendBybit appends an allLiquidation frame with one row: "S" is the
// side of the position, so Buy is a long liquidated.
func AppendBybit(dst []byte, l *Liquidation) []byte {
	dst = append(dst, `{"topic":"allLiquidation.`...)
	dst = append(dst, l.Symbol...)
	dst = append(dst, `","type":"snapshot","ts":`...)
	dst = strconv.AppendInt(dst, l.TimeMs+300, 10)
	dst = append(dst, `,"data":[`...)
	dst = AppendBybitRow(dst, l)
	return append(dst, `]}`...)
}

// AppendBybitRow appends one allLiquidation data[] row, for frames that
// carry several.
func AppendBybitRow(dst []byte, l *Liquidation) []byte {
	side := "Buy"
	if l.Side == event.Short {
		side = "Sell"
	}
	dst = append(dst, `{"T":`...)
	dst = strconv.AppendInt(dst, l.TimeMs, 10)
	dst = append(dst, `,"s":"`...)
	dst = append(dst, l.Symbol...)
	dst = append(dst, `","S":"`...)
	dst = append(dst, side...)
	dst = append(dst, `","v":"`...)
	dst = append(dst, l.Qty...)
	dst = append(dst, `","p":"`...)
	dst = append(dst, l.Price...)
	return append(dst, `"}`...)
}

// AppendOKX appends a liquidation-orders SWAP push with one detail, in
// OKX's own member order (details before instId): posSide names the
// position, side the order (sell for a long).
func AppendOKX(dst []byte, l *Liquidation) []byte {
	pos, side := "long", "sell"
	if l.Side == event.Short {
		pos, side = "short", "buy"
	}
	fam := l.Pair
	if fam == "" {
		fam = l.Symbol
		if i := strings.LastIndexByte(fam, '-'); i > 0 {
			fam = fam[:i]
		}
	}
	dst = append(dst, `{"arg":{"channel":"liquidation-orders","instType":"SWAP"},"data":[{"details":[{"bkLoss":"0","bkPx":"`...)
	dst = append(dst, l.Price...)
	dst = append(dst, `","ccy":"","posSide":"`...)
	dst = append(dst, pos...)
	dst = append(dst, `","side":"`...)
	dst = append(dst, side...)
	dst = append(dst, `","sz":"`...)
	dst = append(dst, l.Qty...)
	dst = append(dst, `","ts":"`...)
	dst = strconv.AppendInt(dst, l.TimeMs, 10)
	dst = append(dst, `"}],"instFamily":"`...)
	dst = append(dst, fam...)
	dst = append(dst, `","instId":"`...)
	dst = append(dst, l.Symbol...)
	dst = append(dst, `","instType":"SWAP","uly":"`...)
	dst = append(dst, fam...)
	return append(dst, `"}]}`...)
}

// AppendBitMEX appends a liquidation insert: "side" is the liquidation
// order's, so Sell is a long liquidated; price and leavesQty are JSON
// numbers and the frame carries no time.
func AppendBitMEX(dst []byte, l *Liquidation) []byte {
	side := "Sell"
	if l.Side == event.Short {
		side = "Buy"
	}
	dst = append(dst, `{"table":"liquidation","action":"insert","data":[{"orderID":"`...)
	dst = appendHex(dst, l.OrderID>>32, 8)
	dst = append(dst, '-')
	dst = appendHex(dst, l.OrderID>>16, 4)
	dst = append(dst, `-4000-8000-`...)
	dst = appendHex(dst, l.OrderID, 12)
	dst = append(dst, `","symbol":"`...)
	dst = append(dst, l.Symbol...)
	dst = append(dst, `","side":"`...)
	dst = append(dst, side...)
	dst = append(dst, `","price":`...)
	dst = append(dst, l.Price...)
	dst = append(dst, `,"leavesQty":`...)
	dst = append(dst, l.Qty...)
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

func orStr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// markPrice is a plausible, slowly moving price for canary pushes; the
// client never reads it.
func markPrice(dst []byte, nowMs int64) []byte {
	dst = strconv.AppendInt(dst, 65000+nowMs/1000%1000, 10)
	dst = append(dst, '.')
	return strconv.AppendInt(dst, nowMs%10, 10)
}

// AppendBinanceMarkPrice appends Binance's `<stream>@markPrice@1s` push
// for symbol (upper case, as in the payload), wrapped as on a combined
// stream or raw as on /ws.
func AppendBinanceMarkPrice(dst []byte, symbol string, combined bool, nowMs int64) []byte {
	if combined {
		dst = append(dst, `{"stream":"`...)
		dst = append(dst, strings.ToLower(symbol)...)
		dst = append(dst, `@markPrice@1s","data":`...)
	}
	dst = append(dst, `{"e":"markPriceUpdate","E":`...)
	dst = strconv.AppendInt(dst, nowMs, 10)
	dst = append(dst, `,"s":"`...)
	dst = append(dst, symbol...)
	dst = append(dst, `","p":"`...)
	dst = markPrice(dst, nowMs)
	dst = append(dst, `","i":"`...)
	dst = markPrice(dst, nowMs+7)
	dst = append(dst, `","P":"`...)
	dst = markPrice(dst, nowMs+3)
	dst = append(dst, `","r":"0.00010000","T":`...)
	dst = strconv.AppendInt(dst, (nowMs/28800000+1)*28800000, 10)
	dst = append(dst, '}')
	if combined {
		dst = append(dst, '}')
	}
	return dst
}

// AppendBybitTicker appends a Bybit `tickers.<symbol>` delta push.
func AppendBybitTicker(dst []byte, symbol string, nowMs int64) []byte {
	dst = append(dst, `{"topic":"tickers.`...)
	dst = append(dst, symbol...)
	dst = append(dst, `","type":"delta","data":{"symbol":"`...)
	dst = append(dst, symbol...)
	dst = append(dst, `","markPrice":"`...)
	dst = markPrice(dst, nowMs)
	dst = append(dst, `","indexPrice":"`...)
	dst = markPrice(dst, nowMs+7)
	dst = append(dst, `"},"cs":`...)
	dst = strconv.AppendInt(dst, nowMs*3, 10)
	dst = append(dst, `,"ts":`...)
	dst = strconv.AppendInt(dst, nowMs, 10)
	return append(dst, '}')
}

// AppendOKXMarkPrice appends an OKX `mark-price` push for instID.
func AppendOKXMarkPrice(dst []byte, instID string, nowMs int64) []byte {
	dst = append(dst, `{"arg":{"channel":"mark-price","instId":"`...)
	dst = append(dst, instID...)
	dst = append(dst, `"},"data":[{"instType":"SWAP","instId":"`...)
	dst = append(dst, instID...)
	dst = append(dst, `","markPx":"`...)
	dst = markPrice(dst, nowMs)
	dst = append(dst, `","ts":"`...)
	dst = strconv.AppendInt(dst, nowMs, 10)
	return append(dst, `"}]}`...)
}

// AppendBitMEXInstrument appends a BitMEX `instrument` table update for
// symbol.
func AppendBitMEXInstrument(dst []byte, symbol string, nowMs int64) []byte {
	dst = append(dst, `{"table":"instrument","action":"update","data":[{"symbol":"`...)
	dst = append(dst, symbol...)
	dst = append(dst, `","fairPrice":`...)
	dst = markPrice(dst, nowMs)
	dst = append(dst, `,"markPrice":`...)
	dst = markPrice(dst, nowMs)
	dst = append(dst, `,"timestamp":"`...)
	dst = appendISO(dst, nowMs)
	return append(dst, `"}]}`...)
}

// appendISO appends nowMs as BitMEX writes timestamps (UTC, milliseconds).
func appendISO(dst []byte, ms int64) []byte {
	return append(dst, time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z")...)
}

// AppendHTX appends an HTX liquidation_orders push with one row, as the
// venue writes it before gzipping: direction is the liquidation order's
// side with offset close (sell for a long), numbers are JSON numbers, and
// a USDT-margined row (a -USDT code) carries the fields live frames have.
func AppendHTX(dst []byte, l *Liquidation) []byte {
	dir := "sell"
	if l.Side == event.Short {
		dir = "buy"
	}
	coin := l.Symbol
	if i := strings.IndexByte(coin, '-'); i > 0 {
		coin = coin[:i]
	} else if n := len(coin); n > 6 {
		coin = coin[:n-6] // BTC200703
	}
	dst = append(dst, `{"op":"notify","topic":"public.`...)
	dst = append(dst, l.Symbol...)
	dst = append(dst, `.liquidation_orders","ts":`...)
	dst = strconv.AppendInt(dst, l.TimeMs+5, 10)
	dst = append(dst, `,"data":[{"symbol":"`...)
	dst = append(dst, coin...)
	dst = append(dst, `","contract_code":"`...)
	dst = append(dst, l.Symbol...)
	dst = append(dst, `","direction":"`...)
	dst = append(dst, dir...)
	dst = append(dst, `","offset":"close","volume":`...)
	dst = append(dst, l.Qty...)
	dst = append(dst, `,"price":`...)
	dst = append(dst, l.Price...)
	dst = append(dst, `,"created_at":`...)
	dst = strconv.AppendInt(dst, l.TimeMs, 10)
	if l.Base != "" {
		dst = append(dst, `,"amount":`...)
		dst = append(dst, l.Base...)
	}
	if l.Quote != "" {
		dst = append(dst, `,"trade_turnover":`...)
		dst = append(dst, l.Quote...)
	}
	if strings.Contains(l.Symbol, "-USDT") {
		pair := orStr(l.Pair, l.Symbol)
		dst = append(dst, `,"contract_type":"swap","pair":"`...)
		dst = append(dst, pair...)
		dst = append(dst, `","business_type":"swap","trade_partition":"USDT"`...)
	}
	return append(dst, `}]}`...)
}

// AppendGate appends a Gate futures.public_liquidates update whose result
// is one object, as live frames have it: size is the liquidation order's,
// negative for a sell (a long liquidated), written as a string as with
// the X-Gate-Size-Decimal header; price a string; the row time in ms.
func AppendGate(dst []byte, l *Liquidation) []byte {
	dst = appendGateHead(dst, l.TimeMs+1)
	dst = AppendGateRow(dst, l)
	return append(dst, '}')
}

// AppendGateBatch appends an update whose result is an array, as Gate
// pushes a cycle's liquidations of one contract since 2026-08-20.
func AppendGateBatch(dst []byte, ls []Liquidation) []byte {
	var last int64
	for i := range ls {
		last = max(last, ls[i].TimeMs)
	}
	dst = appendGateHead(dst, last+1)
	dst = append(dst, '[')
	for i := range ls {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = AppendGateRow(dst, &ls[i])
	}
	return append(dst, "]}"...)
}

func appendGateHead(dst []byte, ms int64) []byte {
	dst = append(dst, `{"time":`...)
	dst = strconv.AppendInt(dst, ms/1000, 10)
	dst = append(dst, `,"time_ms":`...)
	dst = strconv.AppendInt(dst, ms, 10)
	return append(dst, `,"channel":"futures.public_liquidates","event":"update","result":`...)
}

// AppendGateRow appends one liquidation object of an update.
func AppendGateRow(dst []byte, l *Liquidation) []byte {
	dst = append(dst, `{"contract":"`...)
	dst = append(dst, l.Symbol...)
	dst = append(dst, `","price":"`...)
	dst = append(dst, l.Price...)
	dst = append(dst, `","time":`...)
	dst = strconv.AppendInt(dst, l.TimeMs, 10)
	dst = append(dst, `,"size":"`...)
	if l.Side == event.Long {
		dst = append(dst, '-')
	}
	dst = append(dst, l.Qty...)
	return append(dst, `"}`...)
}

// AppendHTXFundingRate appends HTX's public.<code>.funding_rate push, the
// canary of its notification hosts.
func AppendHTXFundingRate(dst []byte, code string, nowMs int64) []byte {
	coin, _, _ := strings.Cut(code, "-")
	dst = append(dst, `{"op":"notify","topic":"public.`...)
	dst = append(dst, code...)
	dst = append(dst, `.funding_rate","ts":`...)
	dst = strconv.AppendInt(dst, nowMs, 10)
	dst = append(dst, `,"data":[{"symbol":"`...)
	dst = append(dst, coin...)
	dst = append(dst, `","contract_code":"`...)
	dst = append(dst, code...)
	dst = append(dst, `","fee_asset":"USDT","funding_time":"`...)
	dst = strconv.AppendInt(dst, nowMs/60000*60000, 10)
	dst = append(dst, `","funding_rate":"0.000100000000000000","settlement_time":"`...)
	dst = strconv.AppendInt(dst, (nowMs/28800000+1)*28800000, 10)
	return append(dst, `","estimated_rate":"null"}]}`...)
}

// AppendHTXPing appends the notification hosts' heartbeat, whose ts is a
// quoted string (unlike the acks' numbers).
func AppendHTXPing(dst []byte, nowMs int64) []byte {
	dst = append(dst, `{"op":"ping","ts":"`...)
	dst = strconv.AppendInt(dst, nowMs, 10)
	return append(dst, `"}`...)
}

// AppendGateTicker appends a futures.tickers update for contract, the
// canary of Gate's endpoints.
func AppendGateTicker(dst []byte, contract string, nowMs int64) []byte {
	dst = append(dst, `{"time":`...)
	dst = strconv.AppendInt(dst, nowMs/1000, 10)
	dst = append(dst, `,"time_ms":`...)
	dst = strconv.AppendInt(dst, nowMs, 10)
	dst = append(dst, `,"channel":"futures.tickers","event":"update","result":[{"contract":"`...)
	dst = append(dst, contract...)
	dst = append(dst, `","last":"`...)
	dst = markPrice(dst, nowMs)
	dst = append(dst, `","mark_price":"`...)
	dst = markPrice(dst, nowMs+3)
	dst = append(dst, `","index_price":"`...)
	dst = markPrice(dst, nowMs+7)
	return append(dst, `","funding_rate":"0.0001"}]}`...)
}
