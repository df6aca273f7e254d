package main

import (
	"context"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/ingest"
)

// BenchmarkEndToEnd measures the box's own path per event: decode a real
// Binance frame, push it into a connection's ring, and let the running
// service's pipeline number it and hand it to every production sink (the
// Telegram bot's queues, the status feed, the stage metrics, the fsync'd
// log's group commit, enrichment's aggregates). ns/event is wall time per
// event with all of that running on the machine's cores.
func BenchmarkEndToEnd(b *testing.B) {
	cfg, err := LoadConfig("")
	if err != nil {
		b.Fatal(err)
	}
	// No exchange listens on port 1: the stream's own connection keeps
	// failing (with backoff) and leaves its rings to this benchmark.
	benchConfig(cfg, "ws://127.0.0.1:1/market/stream", b.TempDir(), 1)
	cfg.Telegram.APIURL = "http://127.0.0.1:1"
	cfg.Telegram.MinUSD = 10000
	svc, err := newService(serviceOptions{Config: cfg, Logger: discardLogger(), Stdout: io.Discard,
		Listener: "127.0.0.1:0", TGToken: benchToken})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			b.Error(err)
		}
	}()
	src, err := newFrameSource()
	if err != nil {
		b.Fatal(err)
	}
	frames := make([][]byte, len(src.rows))
	now := time.Now().Add(time.Hour).UnixMilli()
	for i := range frames {
		frames[i], _ = src.next(now)
	}
	dec := ingest.NewBinanceUSDMDecoder()
	rg := svc.streams[0].Rings()[0]
	evs := make([]event.Event, 0, 8)
	start := svc.pipe.LastSeq()
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
	for svc.pipe.LastSeq() < start+uint64(b.N) {
		runtime.Gosched()
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/event")
	if d := metricSum(svc.set, "liqbox_store_dropped_total"); d > 0 {
		b.Logf("store dropped %v events: the disk was slower than the pipeline", d)
	}
}
