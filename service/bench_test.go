package service_test

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/ingest"
	"github.com/liqbox/liqbox/loadtest"
	"github.com/liqbox/liqbox/service"
)

// BenchmarkEndToEnd measures the box's own path per event: decode a real
// Binance frame, push it into a connection's ring, and let the running
// service's pipeline number it and hand it to every production sink (the
// Telegram bot's queues, the status feed, the stage metrics, the fsync'd
// log's group commit, enrichment's aggregates). ns/event is wall time per
// event with all of that running on the machine's cores.
func BenchmarkEndToEnd(b *testing.B) {
	// No exchange listens on port 1: the stream's own connection keeps
	// failing (with backoff) and leaves its rings to this benchmark.
	r, err := loadtest.StartRig(context.Background(), loadtest.RigOptions{Dir: b.TempDir(), Edit: func(c *service.Config, _ *service.Options) {
		c.Venues[event.BinanceUSDM].StreamURL = "ws://127.0.0.1:1/market/stream"
		c.Telegram.APIURL = "http://127.0.0.1:1"
		c.Telegram.MinUSD = 10000
	}})
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		if err := r.Close(); err != nil {
			b.Error(err)
		}
	}()
	svc := r.Service
	now := time.Now().Add(time.Hour).UnixMilli()
	frames, err := loadtest.SampleFrames(now)
	if err != nil {
		b.Fatal(err)
	}
	dec := ingest.NewBinanceUSDMDecoder()
	rg := svc.Streams()[0].Rings()[0]
	evs := make([]event.Event, 0, 8)
	start := svc.LastSeq()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		evs, _ = dec.Decode(evs[:0], frames[i%len(frames)], time.Now().UnixNano())
		for j := range evs {
			evs[j].TimeMs = now + int64(i) // every event distinct to dedup
			for !rg.Push(&evs[j]) {
				runtime.Gosched() // the ring is full: let the pipeline drain
			}
		}
	}
	for svc.LastSeq() < start+uint64(b.N) {
		runtime.Gosched()
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/event")
	if d := loadtest.CounterSum(svc.Metrics(), "liqbox_store_dropped_total"); d > 0 {
		b.Logf("store dropped %v events: the disk was slower than the pipeline", d)
	}
}
