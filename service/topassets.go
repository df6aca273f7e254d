package service

import (
	"fmt"
	"sync"
	"time"

	"github.com/liqbox/liqbox/asset"
	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/store"
)

// topAssetsN is how many assets the status shows: as many as /stats.
const topAssetsN = 10

// The top assets are read from the log as /stats reads them, a scan of the
// last day. The page asks every 2 s, and a day of a busy log is a scan of
// every event in it, so a reading serves until topAssetsShare of the time
// since it was taken has been spent scanning, within [topAssetsMin,
// topAssetsMax]: a small log is read again at nearly every poll, a large
// one costs the box at most about 2 % of a core while the page is open.
const (
	topAssetsShare = 50 // rescan after 50 × the last scan's duration
	topAssetsMin   = time.Second
	topAssetsMax   = 5 * time.Minute
)

// TopAssets is the assets with the most USD liquidated over the last day
// across every venue, with their last hour, read from the event log into
// asset.Totals, the one tally /stats shows too.
type TopAssets struct {
	// AsOf is where both windows end: when the log was read. Zero before
	// it could be read.
	AsOf time.Time
	// Assets is the largest day first (ties by name), at most topAssetsN.
	Assets []asset.Total
}

// topAssets reads the top assets from the log and keeps the reading for
// a while (see topAssetsShare).
type topAssets struct {
	st *store.Store

	mu sync.Mutex // guards last and every; held across a scan, so concurrent readers wait for one scan
	// last is the latest reading; every is how long it serves.
	last  TopAssets
	every time.Duration
}

// at returns the reading of the top assets current at now, reading the
// log again when the last reading has served its time (or is from after
// now). On an error it returns the last reading with the error.
func (t *topAssets) at(now time.Time) (TopAssets, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if age := now.Sub(t.last.AsOf); !t.last.AsOf.IsZero() && age >= 0 && age < t.every {
		return t.last, nil
	}
	totals := asset.NewTotals(now)
	began := time.Now()
	err := t.st.Scan(now.Add(-24*time.Hour), now, func(ev *event.Event) error {
		totals.Add(ev)
		return nil
	})
	if err != nil {
		return t.last, fmt.Errorf("cannot read the top assets from the log: %w", err)
	}
	t.every = min(max(topAssetsShare*time.Since(began), topAssetsMin), topAssetsMax)
	t.last = TopAssets{AsOf: now, Assets: totals.Top(topAssetsN)}
	return t.last, nil
}

// TopAssetsJSON is /api/status's "top_assets".
type TopAssetsJSON struct {
	// AsOfMs is when the log was read (Unix ms): both windows end here.
	// Null before the log could be read.
	AsOfMs *int64 `json:"as_of_ms"`
	// Assets is the largest 24 h USD first.
	Assets []AssetJSON `json:"assets"`
	// Coverage is the sum over every venue in the rows' 24 h figures:
	// "complete", "sampled" (some figures are lower bounds) or
	// "undocumented", "" without rows; CoverageNote says it in words,
	// naming the venues that make it so.
	Coverage     string `json:"coverage"`
	CoverageNote string `json:"coverage_note"`
}

// AssetJSON is one row of /api/status's "top_assets.assets".
type AssetJSON struct {
	Asset    string  `json:"asset"` // the base coin across venues, e.g. "BTC"
	USD1h    float64 `json:"usd_1h"`
	USD24h   float64 `json:"usd_24h"`
	Events1h int     `json:"liquidations_1h"`
	Events24 int     `json:"liquidations_24h"`
	// Coverage1h and Coverage24h say whether each figure is "complete",
	// "sampled" (a lower bound: a venue that sends only some liquidations
	// is in it) or "undocumented"; "" for an hour without liquidations.
	Coverage1h  string `json:"coverage_1h"`
	Coverage24h string `json:"coverage_24h"`
}

// newTopAssetsJSON renders a reading.
func newTopAssetsJSON(t TopAssets) TopAssetsJSON {
	out := TopAssetsJSON{Assets: make([]AssetJSON, 0, len(t.Assets))}
	if !t.AsOf.IsZero() {
		ms := t.AsOf.UnixMilli()
		out.AsOfMs = &ms
	}
	var sum event.CoverageSum
	for _, a := range t.Assets {
		out.Assets = append(out.Assets, AssetJSON{Asset: a.Name.String(), USD1h: a.USD1h, USD24h: a.USD1d,
			Events1h: a.N1h, Events24: a.N1d, Coverage1h: coverageName(a.Coverage1h), Coverage24h: coverageName(a.Coverage1d)})
		sum.Merge(a.Coverage1d)
	}
	out.Coverage, out.CoverageNote = coverageName(sum), sum.Text("en")
	return out
}

// coverageName is a sum's coverage as /api/status writes it; "" for an
// empty sum.
func coverageName(s event.CoverageSum) string {
	if s.Empty() {
		return ""
	}
	return s.Coverage().String()
}
