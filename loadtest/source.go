package loadtest

import (
	"errors"

	"github.com/liqbox/liqbox/demo"
	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/ingest/ingesttest"
)

// errNoSample is returned when the embedded sample has no rows.
var errNoSample = errors.New("the embedded sample has no liquidations")

// frameSource cycles the embedded real Binance liquidations as combined-
// stream frames stamped with the current time. Rows that repeat another
// row's identity are skipped once at load, so two frames sent in the same
// millisecond are never the same liquidation to the pipeline's dedup.
type frameSource struct {
	rows []ingesttest.Liquidation
	i    int
}

func newFrameSource() (*frameSource, error) {
	sessions, err := demo.LoadSample()
	if err != nil {
		return nil, err
	}
	type ident struct {
		sym, qty, price, avg string
		side                 event.Side
	}
	seen := map[ident]bool{}
	fs := &frameSource{}
	for _, s := range sessions {
		for _, r := range s.Rows {
			k := ident{r.Symbol, r.Qty, r.Price, r.AvgPrice, r.Side}
			if seen[k] {
				continue
			}
			seen[k] = true
			fs.rows = append(fs.rows, r)
		}
	}
	if len(fs.rows) == 0 {
		return nil, errNoSample
	}
	return fs, nil
}

// next returns the next frame, freshly allocated (the loopback exchange
// keeps it until every client has been sent it), stamped nowMs.
func (f *frameSource) next(nowMs int64) []byte {
	l := f.rows[f.i]
	f.i++
	if f.i == len(f.rows) {
		f.i = 0
	}
	l.TimeMs = nowMs
	return ingesttest.AppendBinance(make([]byte, 0, 320), &l)
}

// SampleFrames returns one frame of each distinct sample liquidation, all
// stamped tMs: what BenchmarkEndToEnd decodes over and over.
func SampleFrames(tMs int64) ([][]byte, error) {
	src, err := newFrameSource()
	if err != nil {
		return nil, err
	}
	frames := make([][]byte, len(src.rows))
	for i := range frames {
		frames[i] = src.next(tMs)
	}
	return frames, nil
}
