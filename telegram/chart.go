package telegram

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"strings"
	"time"

	"github.com/mymmrac/telego"
	tu "github.com/mymmrac/telego/telegoutil"
	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"

	"github.com/liqbox/liqbox/event"
)

// chartSeries is liquidated USD per interval, longs and shorts apart.
type chartSeries struct {
	from, to time.Time
	step     time.Duration
	long     []float64
	short    []float64
}

func (b *Bot) chartCmd(ctx context.Context, c *chat, args []string, t *texts) string {
	win := time.Hour
	var filter []byte
	for _, a := range args {
		if d, ok := parseWindow(strings.ToLower(a), 24*time.Hour); ok {
			win = d
			continue
		}
		syms, ok := normSymbols([]string{a})
		if !ok || len(syms) != 1 || filter != nil {
			return escape(t.ChartUsage)
		}
		filter = []byte(syms[0])
	}
	if b.o.History == nil {
		return escape(t.NoHistory)
	}
	s, err := b.series(time.Now(), win, filter)
	if err != nil {
		b.log.Error("cannot scan the event log for /chart", "err", err)
		return escape(t.NoHistory)
	}
	what, whatLocal := lang("en").ChartAll, t.ChartAll
	if filter != nil {
		what, whatLocal = string(filter), string(filter)
	}
	caption := fmt.Sprintf(t.ChartCaption, windowName(win), whatLocal)
	// The bitmap font is ASCII only, so the picture's title stays English;
	// the photo's caption carries the chat's language.
	img, err := drawChart(s, fmt.Sprintf(lang("en").ChartCaption, windowName(win), what))
	if err != nil {
		b.log.Error("cannot draw chart", "err", err)
		return escape(t.Failed)
	}
	if _, ok := b.lim.waitTake(ctx, c.id, classSpare); !ok {
		return ""
	}
	rctx, cancel := context.WithTimeout(ctx, b.o.RequestTimeout)
	defer cancel()
	p := tu.Photo(tu.ID(c.id), tu.FileFromBytes(img, "chart.png")).WithCaption(escape(caption)).WithParseMode(telego.ModeHTML)
	if _, err := b.api.SendPhoto(rctx, p); err != nil {
		b.log.Warn("cannot send chart", "chat", c.id, "err", scrub(err, b.o.Token))
		return escape(t.Failed)
	}
	b.m.replies.Inc()
	return ""
}

// series bins the log's events in [now-win, now) into about 60 intervals.
func (b *Bot) series(now time.Time, win time.Duration, filter []byte) (*chartSeries, error) {
	step := time.Minute
	if win > 2*time.Hour {
		step = 30 * time.Minute
	}
	to := now.Truncate(step).Add(step)
	from := to.Add(-win)
	n := int(win / step)
	s := &chartSeries{from: from, to: to, step: step, long: make([]float64, n), short: make([]float64, n)}
	var m matcher
	if filter != nil {
		m = newMatcher(string(filter))
	}
	err := b.o.History.Scan(from, to, func(ev *event.Event) error {
		var a lazyAsset
		if !ev.NotionalKnown() || (filter != nil && !m.matches(ev, &a)) {
			return nil
		}
		i := int(time.Duration(ev.RecvNs-from.UnixNano()) / step)
		if i < 0 || i >= n {
			return nil
		}
		switch ev.Side {
		case event.Long:
			s.long[i] += ev.Notional
		case event.Short:
			s.short[i] += ev.Notional
		}
		return nil
	})
	return s, err
}

var (
	colBg    = color.RGBA{0x16, 0x1a, 0x22, 0xff}
	colAxis  = color.RGBA{0x9a, 0xa4, 0xb2, 0xff}
	colGrid  = color.RGBA{0x2c, 0x33, 0x40, 0xff}
	colLong  = color.RGBA{0xe0, 0x4f, 0x5f, 0xff}
	colShort = color.RGBA{0x2e, 0xbd, 0x85, 0xff}
	colText  = color.RGBA{0xe6, 0xe9, 0xee, 0xff}
)

// drawChart renders stacked bars (longs below, shorts above) with a y
// axis in USD, time labels in UTC, a title and a legend, as PNG.
func drawChart(s *chartSeries, title string) ([]byte, error) {
	const w, h = 900, 420
	const left, right, top, bottom = 80, 20, 40, 50
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(img, img.Bounds(), image.NewUniform(colBg), image.Point{}, draw.Src)
	maxV := 0.0
	for i := range s.long {
		if v := s.long[i] + s.short[i]; v > maxV {
			maxV = v
		}
	}
	if maxV == 0 {
		maxV = 1
	}
	maxV = niceCeil(maxV)
	plotW, plotH := w-left-right, h-top-bottom
	fill := func(x0, y0, x1, y1 int, c color.Color) {
		draw.Draw(img, image.Rect(x0, y0, x1, y1), image.NewUniform(c), image.Point{}, draw.Src)
	}
	label := func(x, y int, text string, c color.Color) {
		d := &font.Drawer{Dst: img, Src: image.NewUniform(c), Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
		d.DrawString(text)
	}
	textW := func(text string) int { return font.MeasureString(basicfont.Face7x13, text).Ceil() }
	// Grid and y labels: five steps.
	for i := 0; i <= 4; i++ {
		y := top + plotH - plotH*i/4
		fill(left, y, left+plotW, y+1, colGrid)
		l := usd(maxV*float64(i)/4, "")
		label(left-8-textW(l), y+4, l, colAxis)
	}
	n := len(s.long)
	barW := plotW / n
	for i := 0; i < n; i++ {
		x0 := left + i*barW + 1
		x1 := x0 + barW - 1
		if barW > 3 {
			x1--
		}
		yBase := top + plotH
		hl := int(s.long[i] / maxV * float64(plotH))
		hs := int(s.short[i] / maxV * float64(plotH))
		fill(x0, yBase-hl, x1, yBase, colLong)
		fill(x0, yBase-hl-hs, x1, yBase-hl, colShort)
	}
	// Axes.
	fill(left, top, left+1, top+plotH+1, colAxis)
	fill(left, top+plotH, left+plotW, top+plotH+1, colAxis)
	// X labels: about six, in UTC.
	every := n / 6
	if every == 0 {
		every = 1
	}
	for i := 0; i <= n; i += every {
		x := left + i*barW
		fill(x, top+plotH, x+1, top+plotH+5, colAxis)
		l := s.from.Add(time.Duration(i) * s.step).UTC().Format("15:04")
		label(x-textW(l)/2, top+plotH+18, l, colAxis)
	}
	label(left+plotW-textW("UTC"), top+plotH+36, "UTC", colAxis)
	label(left, 24, title, colText)
	// Legend.
	lx := w - right - 200
	fill(lx, 14, lx+12, 26, colLong)
	label(lx+18, 25, "longs liquidated", colText)
	fill(lx, 30, lx+12, 42, colShort)
	label(lx+18, 41, "shorts liquidated", colText)
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("cannot encode chart: %w", err)
	}
	return buf.Bytes(), nil
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	p := 1.0
	for p*10 <= v {
		p *= 10
	}
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}
