package telegram

import (
	"strconv"
	"strings"
	"time"

	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/money"
)

// digest summarises a cascade: what one edited-in-place message says.
type digest struct {
	msgID    int
	count    int
	unknown  int // alerts whose USD size is unknown
	usd      [3]float64
	n        [3]int
	top      [5]event.Event
	ntop     int
	firstMs  int64
	lastMs   int64
	lastFold time.Time
	maxSeq   uint64 // the highest sequence number folded in, for the chat's checkpoint
	replays  int    // alerts redelivered after a restart
}

func (d *digest) fold(ev *event.Event) {
	d.count++
	if ev.Seq > d.maxSeq {
		d.maxSeq = ev.Seq
	}
	if ev.Flags&event.FlagReplay != 0 {
		d.replays++
	}
	side := ev.Side
	if side > event.Short {
		side = event.SideUnknown
	}
	d.n[side]++
	if ev.NotionalKnown() {
		d.usd[side] += ev.Notional
	} else {
		d.unknown++
	}
	if d.firstMs == 0 || ev.TimeMs < d.firstMs {
		d.firstMs = ev.TimeMs
	}
	if ev.TimeMs > d.lastMs {
		d.lastMs = ev.TimeMs
	}
	if ev.NotionalKnown() {
		d.insertTop(ev)
	}
}

// insertTop keeps d.top the largest alerts, largest first. An insertion
// step over five entries, so folding allocates nothing: it also runs on the
// pipeline goroutine when a chat's queue is full.
func (d *digest) insertTop(ev *event.Event) {
	i := d.ntop
	if i == len(d.top) {
		if ev.Notional <= d.top[i-1].Notional {
			return
		}
		i--
	} else {
		d.ntop++
	}
	for ; i > 0 && d.top[i-1].Notional < ev.Notional; i-- {
		d.top[i] = d.top[i-1]
	}
	d.top[i] = *ev
}

// merge adds o's alerts to d (o is a digest that was never sent).
func (d *digest) merge(o *digest) {
	if o.count == 0 {
		return
	}
	d.count += o.count
	d.unknown += o.unknown
	d.replays += o.replays
	if o.maxSeq > d.maxSeq {
		d.maxSeq = o.maxSeq
	}
	for i := range d.usd {
		d.usd[i] += o.usd[i]
		d.n[i] += o.n[i]
	}
	if d.firstMs == 0 || (o.firstMs != 0 && o.firstMs < d.firstMs) {
		d.firstMs = o.firstMs
	}
	if o.lastMs > d.lastMs {
		d.lastMs = o.lastMs
	}
	for i := 0; i < o.ntop; i++ {
		d.insertTop(&o.top[i])
	}
}

// total is the sum of all known USD in the digest.
func (d *digest) total() float64 { return d.usd[0] + d.usd[1] + d.usd[2] }

func (d *digest) appendHTML(dst []byte, t *texts, open bool) []byte {
	dst = append(dst, "🌊 <b>"...)
	dst = append(dst, strings.Replace(t.DigestTitle, "%d", strconv.Itoa(d.count), 1)...)
	dst = append(dst, "</b> · "...)
	dst = money.AppendUSD(dst, d.total(), t.UnknownUSD)
	dst = append(dst, "\n🔴 "...)
	dst = append(dst, t.DigestLongs...)
	dst = append(dst, ": "...)
	dst = strconv.AppendInt(dst, int64(d.n[event.Long]), 10)
	dst = append(dst, " · "...)
	dst = money.AppendUSD(dst, d.usd[event.Long], t.UnknownUSD)
	dst = append(dst, "\n🟢 "...)
	dst = append(dst, t.DigestShorts...)
	dst = append(dst, ": "...)
	dst = strconv.AppendInt(dst, int64(d.n[event.Short]), 10)
	dst = append(dst, " · "...)
	dst = money.AppendUSD(dst, d.usd[event.Short], t.UnknownUSD)
	if d.unknown > 0 {
		dst = append(dst, "\n"...)
		dst = strconv.AppendInt(dst, int64(d.unknown), 10)
		dst = append(dst, " × "...)
		dst = append(dst, t.UnknownUSD...)
		dst = append(dst, " USD"...)
	}
	dst = appendLargest(dst, d.top[:d.ntop], t)
	dst = append(dst, "\n"...)
	dst = append(dst, t.DigestSpan...)
	dst = append(dst, ": "...)
	dst = appendClock(dst, d.firstMs)
	dst = append(dst, " – "...)
	dst = appendClock(dst, d.lastMs)
	if d.replays > 0 {
		dst = append(dst, "\n♻️ "...)
		dst = append(dst, strings.Replace(t.DigestReplays, "%d", strconv.Itoa(d.replays), 1)...)
	}
	if open {
		dst = append(dst, "\n<i>"...)
		dst = append(dst, t.DigestOpen...)
		dst = append(dst, "</i>"...)
	}
	return dst
}

// appendLargest appends the "Largest:" list of a digest or a cascade: one
// numbered line per liquidation, side, symbol, USD, price and venue.
func appendLargest(dst []byte, top []event.Event, t *texts) []byte {
	if len(top) == 0 {
		return dst
	}
	dst = append(dst, "\n<b>"...)
	dst = append(dst, t.DigestLargest...)
	dst = append(dst, ":</b>"...)
	for i := range top {
		ev := &top[i]
		dst = append(dst, "\n"...)
		dst = strconv.AppendInt(dst, int64(i+1), 10)
		dst = append(dst, ". "...)
		dst = append(dst, t.side(ev.Side)...)
		dst = append(dst, ' ')
		dst = appendSymbol(dst, &ev.Symbol)
		dst = append(dst, ' ')
		dst = money.AppendUSD(dst, ev.Notional, t.UnknownUSD)
		dst = append(dst, " @ "...)
		dst = money.AppendPrice(dst, ev.Price)
		dst = append(dst, " · "...)
		dst = append(dst, ev.Venue.String()...)
	}
	return dst
}
