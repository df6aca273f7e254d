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
// row's identity are skipped once at load, and a row sent again within the
// millisecond it was last stamped with (a sender catching up after a stall
// goes round the whole sample in one millisecond at burst rates) is stamped
// a millisecond later, so no two frames are ever the same liquidation to
// the pipeline's dedup.
type frameSource struct {
	rows []ingesttest.Liquidation
	last []int64 // the exchange time each row was last sent with
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
	fs.last = make([]int64, len(fs.rows))
	return fs, nil
}

// next returns the next frame, freshly allocated (the loopback exchange
// keeps it until every client has been sent it), stamped nowMs.
func (f *frameSource) next(nowMs int64) []byte {
	l := f.rows[f.i]
	l.TimeMs = max(nowMs, f.last[f.i]+1)
	f.last[f.i] = l.TimeMs
	f.i++
	if f.i == len(f.rows) {
		f.i = 0
	}
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
