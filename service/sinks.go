package service

import (
	"bufio"
	"context"
	"io"
	"math"
	"strconv"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/VictoriaMetrics/metrics"

	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/latency"
	"github.com/liqbox/liqbox/metricdoc"
	"github.com/liqbox/liqbox/money"
)

// terminalSink prints one aligned line per alert. The pipeline only copies
// the event into a bounded channel: a slow terminal or a full pipe can
// never stall the hot path, it only drops lines (counted).
type terminalSink struct {
	w      io.Writer
	minUSD float64
	color  bool
	ch     chan event.Event
	notes  chan event.Analysis
	drops  *metrics.Counter
	lat    *latency.Histogram
	// printed is Observer.Printed, or nil.
	printed func(ev *event.Event, at time.Time)
}

func newTerminalSink(w io.Writer, minUSD float64, color bool, set *metrics.Set, printed func(*event.Event, time.Time)) *terminalSink {
	return &terminalSink{
		w: w, minUSD: minUSD, color: color, printed: printed,
		ch:    make(chan event.Event, 4096),
		notes: make(chan event.Analysis, 256),
		drops: metricdoc.Counter(set, `liqbox_terminal_dropped_total`, "Terminal lines dropped because the terminal was too slow."),
		lat: latency.New(set, `liqbox_stage_receive_to_terminal_seconds`,
			"Local receive to the alert line written to the terminal."),
	}
}

// Offer implements pipeline.Sink.
func (t *terminalSink) Offer(ev *event.Event) {
	if ev.Flags&event.FlagBacklog != 0 || !ev.NotionalKnown() || ev.Notional < t.minUSD {
		return
	}
	select {
	case t.ch <- *ev:
	default:
		t.drops.Inc()
	}
}

func (t *terminalSink) annotate(a event.Analysis) {
	select {
	case t.notes <- a:
	default:
		t.drops.Inc()
	}
}

// Run writes queued lines until ctx is cancelled, then what is left.
func (t *terminalSink) Run(ctx context.Context) error {
	bw := bufio.NewWriterSize(t.w, 16<<10)
	var line []byte
	write := func(ev *event.Event) {
		now := time.Now()
		line = AppendTerminalLine(line[:0], ev, now, t.color)
		t.lat.Update(float64(time.Now().UnixNano()-ev.RecvNs) / 1e9)
		if t.printed != nil {
			t.printed(ev, now)
		}
		bw.Write(line)
	}
	note := func(a *event.Analysis) {
		line = AppendTerminalNote(line[:0], a, t.color)
		bw.Write(line)
	}
	for {
		select {
		case <-ctx.Done():
			for {
				select {
				case ev := <-t.ch:
					write(&ev)
				case a := <-t.notes:
					note(&a)
				default:
					return bw.Flush()
				}
			}
		case ev := <-t.ch:
			write(&ev)
		case a := <-t.notes:
			note(&a)
		}
		if len(t.ch) == 0 && len(t.notes) == 0 {
			if err := bw.Flush(); err != nil {
				return err
			}
		}
	}
}

const (
	ansiRed   = "\x1b[31m"
	ansiGreen = "\x1b[32m"
	ansiDim   = "\x1b[2m"
	ansiBold  = "\x1b[1m"
	ansiReset = "\x1b[0m"
)

// AppendTerminalLine formats an alert as one aligned line:
//
//	12:04:05.120  binance-usdm   BTCUSDT          LONG  liquidated   $1.25M  @ 82,651.9   seq 7  on-box 85µs
//
// The on-box figure is now less the event's receive time; a zero now
// leaves it out, for lines written from the log (replay, stats), where the
// line is not written when the event arrived and any figure would be
// made up.
func AppendTerminalLine(dst []byte, ev *event.Event, now time.Time, color bool) []byte {
	t := time.UnixMilli(ev.TimeMs).UTC()
	dst = t.AppendFormat(dst, "15:04:05.000")
	dst = append(dst, "  "...)
	dst = appendPadded(dst, ev.Venue.String(), 14)
	dst = append(dst, ' ')
	dst = appendPadded(dst, ev.Symbol.String(), 16)
	dst = append(dst, ' ')
	if color {
		if ev.Side == event.Long {
			dst = append(dst, ansiRed...)
		} else {
			dst = append(dst, ansiGreen...)
		}
	}
	dst = appendPadded(dst, ev.Side.Upper(), 5)
	dst = append(dst, " liquidated "...)
	if color {
		dst = append(dst, ansiReset...)
		dst = append(dst, ansiBold...)
	}
	var ub [24]byte
	n := math.NaN()
	if ev.NotionalKnown() {
		n = ev.Notional
	}
	usd := money.AppendUSD(ub[:0], n, "unknown")
	for i := len(usd); i < 9; i++ {
		dst = append(dst, ' ')
	}
	dst = append(dst, usd...)
	if color {
		dst = append(dst, ansiReset...)
	}
	dst = append(dst, "  @ "...)
	at := len(dst)
	if p := ev.Price; p > 0 && p <= math.MaxFloat64 {
		dst = money.AppendPrice(dst, p)
	} else {
		dst = append(dst, '?')
	}
	for i := len(dst) - at; i < 12; i++ {
		dst = append(dst, ' ')
	}
	if color {
		dst = append(dst, ansiDim...)
	}
	dst = append(dst, "   seq "...)
	dst = strconv.AppendUint(dst, ev.Seq, 10)
	if !now.IsZero() {
		dst = append(dst, "  on-box "...)
		dst = appendDuration(dst, time.Duration(now.UnixNano()-ev.RecvNs))
	}
	if color {
		dst = append(dst, ansiReset...)
	}
	return append(dst, '\n')
}

// AppendTerminalNote formats an analysis as the indented line under its
// alert.
func AppendTerminalNote(dst []byte, a *event.Analysis, color bool) []byte {
	if color {
		dst = append(dst, ansiDim...)
	}
	dst = append(dst, "              ↳ seq "...)
	dst = strconv.AppendUint(dst, a.Seq, 10)
	dst = append(dst, ' ')
	dst = append(dst, a.Risk.String()...)
	dst = append(dst, " ("...)
	dst = appendOneLine(dst, a.Source)
	dst = append(dst, "): "...)
	dst = appendOneLine(dst, a.Summary)
	if a.Recommendation != "" {
		dst = append(dst, " — "...)
		dst = appendOneLine(dst, a.Recommendation)
	}
	if color {
		dst = append(dst, ansiReset...)
	}
	return append(dst, '\n')
}

// appendOneLine copies prose (an analysis, from the LLM or the log) onto
// one terminal line: line breaks, tabs and other spacing become a space,
// and everything else a terminal would act on or hide is escaped (see
// AppendTerminalText).
func appendOneLine(dst []byte, s string) []byte { return appendTerminal(dst, s, true) }

// AppendTerminalText appends text from outside liqbox (a symbol, a gap's
// cause, anything read from an exchange or the log) for a terminal:
// printable text as it is, and every byte or character a terminal would
// act on or that hides or reorders what it shows written as a Go escape,
// visible and inert: C0 controls (ESC as \x1b, a newline as \n), DEL, C1
// controls, format characters such as bidi overrides (\u202e), invalid
// UTF-8 (\xff). A backslash is doubled, so an escape cannot be forged.
// Decoders refuse such symbols; this is the defence for what an older
// log may hold.
func AppendTerminalText(dst []byte, s string) []byte { return appendTerminal(dst, s, false) }

// TerminalText is AppendTerminalText for cold paths.
func TerminalText(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '\\' {
			return string(AppendTerminalText(nil, s))
		}
	}
	return s
}

func appendTerminal(dst []byte, s string, prose bool) []byte {
	const hex = "0123456789abcdef"
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c < 0x7f {
			if c == '\\' && !prose {
				dst = append(dst, '\\')
			}
			dst = append(dst, c)
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case prose && unicode.IsSpace(r):
			dst = append(dst, ' ')
		case r == utf8.RuneError && n == 1:
			dst = append(dst, '\\', 'x', hex[c>>4], hex[c&0xf])
		case r >= 0xa0 && unicode.IsPrint(r):
			dst = append(dst, s[i:i+n]...)
		case r == '\n':
			dst = append(dst, '\\', 'n')
		case r == '\r':
			dst = append(dst, '\\', 'r')
		case r == '\t':
			dst = append(dst, '\\', 't')
		case r < 0x80:
			dst = append(dst, '\\', 'x', hex[c>>4], hex[c&0xf])
		case r <= 0xffff:
			dst = append(dst, '\\', 'u', hex[r>>12&0xf], hex[r>>8&0xf], hex[r>>4&0xf], hex[r&0xf])
		default:
			dst = append(dst, '\\', 'U')
			for sh := 28; sh >= 0; sh -= 4 {
				dst = append(dst, hex[r>>sh&0xf])
			}
		}
		i += n
	}
	return dst
}

// appendPadded appends s made safe for a terminal, then spaces up to w
// characters.
func appendPadded(dst []byte, s string, w int) []byte {
	at := len(dst)
	dst = AppendTerminalText(dst, s)
	for i := utf8.RuneCount(dst[at:]); i < w; i++ {
		dst = append(dst, ' ')
	}
	return dst
}

func appendDuration(dst []byte, d time.Duration) []byte {
	switch {
	case d < time.Millisecond:
		dst = strconv.AppendInt(dst, int64(d/time.Microsecond), 10)
		return append(dst, "µs"...)
	case d < time.Second:
		dst = strconv.AppendFloat(dst, float64(d)/1e6, 'f', 2, 64)
		return append(dst, "ms"...)
	}
	dst = strconv.AppendFloat(dst, d.Seconds(), 'f', 2, 64)
	return append(dst, 's')
}

// recentSink keeps the newest events for the status page and its JSON API.
type recentSink struct {
	mu    sync.Mutex // guards all fields below
	buf   []event.Event
	next  int
	full  bool
	notes map[uint64]event.Analysis
	order []uint64
}

func newRecentSink(n int) *recentSink {
	return &recentSink{buf: make([]event.Event, n), notes: map[uint64]event.Analysis{}}
}

// Offer implements pipeline.Sink: a copy under a short lock.
func (r *recentSink) Offer(ev *event.Event) {
	r.mu.Lock()
	r.buf[r.next] = *ev
	r.next++
	if r.next == len(r.buf) {
		r.next, r.full = 0, true
	}
	r.mu.Unlock()
}

func (r *recentSink) annotate(a event.Analysis) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.notes[a.Seq]; !ok {
		r.order = append(r.order, a.Seq)
	}
	r.notes[a.Seq] = a
	for len(r.order) > len(r.buf) {
		delete(r.notes, r.order[0])
		r.order = r.order[1:]
	}
}

// newest returns up to n events, newest first, at or above minUSD, with the
// analyses known for them.
func (r *recentSink) newest(n int, minUSD float64) ([]event.Event, map[uint64]event.Analysis) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []event.Event
	notes := map[uint64]event.Analysis{}
	size := r.next
	if r.full {
		size = len(r.buf)
	}
	for i := 0; i < size && len(out) < n; i++ {
		j := (r.next - 1 - i + len(r.buf)) % len(r.buf)
		ev := r.buf[j]
		if minUSD > 0 && (!ev.NotionalKnown() || ev.Notional < minUSD) {
			continue
		}
		out = append(out, ev)
		if a, ok := r.notes[ev.Seq]; ok {
			notes[ev.Seq] = a
		}
	}
	return out, notes
}

// stageMetrics observes the exchange → box stage and estimates the box's
// clock offset against the exchanges: the smallest exchange→receive delay
// seen in a window is network latency plus clock offset, and a negative
// one can only be a clock that runs behind.
type stageMetrics struct {
	exchToRecv *latency.Histogram
	mu         sync.Mutex // guards minDelay and windowStart
	minDelay   float64
	lastMin    float64
	winStart   int64
}

func newStageMetrics(set *metrics.Set) *stageMetrics {
	s := &stageMetrics{minDelay: math.Inf(1), lastMin: math.NaN()}
	s.exchToRecv = latency.New(set, `liqbox_stage_exchange_to_receive_seconds`,
		"Exchange event time to local receive: network plus exchange lag (plus clock offset).")
	metricdoc.Gauge(set, `liqbox_clock_offset_estimate_seconds`,
		"Smallest exchange-to-receive delay in the last 5 min: network latency plus clock offset; negative means the local clock is behind.",
		func() float64 { return s.clockOffset() })
	return s
}

const clockWindowNs = int64(5 * time.Minute)

// Offer implements pipeline.Sink.
func (s *stageMetrics) Offer(ev *event.Event) {
	// A remote event's receive time is another box's clock: it says
	// nothing of this box's offset.
	if ev.Flags&(event.FlagBacklog|event.FlagRemote) != 0 || ev.TimeMs <= 0 {
		return
	}
	d := float64(ev.RecvNs-ev.TimeMs*1e6) / 1e9
	if d >= 0 {
		s.exchToRecv.Update(d)
	}
	s.mu.Lock()
	if ev.RecvNs-s.winStart > clockWindowNs {
		if !math.IsInf(s.minDelay, 1) {
			s.lastMin = s.minDelay
		}
		s.minDelay, s.winStart = math.Inf(1), ev.RecvNs
	}
	if d < s.minDelay {
		s.minDelay = d
	}
	s.mu.Unlock()
}

// clockOffset returns the lowest exchange→receive delay of the current (or
// last complete) window, NaN before any event. It over-estimates the offset
// by the network's one-way latency; a negative value means the local clock
// is behind the exchange's by at least that much.
func (s *stageMetrics) clockOffset() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !math.IsInf(s.minDelay, 1) {
		if math.IsNaN(s.lastMin) || s.minDelay < s.lastMin {
			return s.minDelay
		}
	}
	return s.lastMin
}
