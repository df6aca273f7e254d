package store

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	bolt "go.etcd.io/bbolt"

	"github.com/liqbox/liqbox/event"
)

// BenchmarkLogAppend measures durable throughput: events appended through
// the queue and committed by Run in groups, fsync on. The clock stops when
// the last event is on disk.
func BenchmarkLogAppend(b *testing.B) {
	b.ReportAllocs()
	s, stop := startBench(b, Options{})
	defer stop()
	now := time.Now()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		ev := mkEvent(uint64(i+1), now.Add(time.Duration(i)*time.Microsecond))
		for !s.Append(&ev) {
			runtime.Gosched() // the queue is full: the disk sets the pace
		}
	}
	for s.Durable() < uint64(b.N) {
		time.Sleep(100 * time.Microsecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(b.N)/float64(s.m.batches.Get()), "events/tx")
}

// BenchmarkLogAppendTxPerEvent is the baseline: one bbolt Update (one
// fsync) per event, the same record and dedup key.
func BenchmarkLogAppendTxPerEvent(b *testing.B) {
	b.ReportAllocs()
	s, err := Open(filepath.Join(b.TempDir(), "log.db"), Options{Metrics: metrics.NewSet(), Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	now := time.Now()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		ev := mkEvent(uint64(i+1), now)
		err := s.db.Update(func(tx *bolt.Tx) error {
			k := binary.BigEndian.AppendUint64(nil, ev.Seq)
			if err := tx.Bucket(bucketEvents).Put(k, appendRecord(nil, &ev)); err != nil {
				return err
			}
			d := binary.BigEndian.AppendUint64(nil, uint64(ev.RecvNs))
			return tx.Bucket(bucketDedup).Put(binary.BigEndian.AppendUint64(d, ev.Key()), nil)
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
}

// BenchmarkAppend is the pipeline's cost: a copy into the queue. A writer
// drains it so the queue never fills.
func BenchmarkAppend(b *testing.B) {
	b.ReportAllocs()
	s, stop := startBench(b, Options{QueueLen: 1 << 20})
	defer stop()
	ev := mkEvent(0, time.Now())
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ev.Seq++
		s.Append(&ev)
	}
	b.StopTimer()
}

// startBench opens a log in a temporary directory and runs its writer;
// stop flushes and closes it.
func startBench(b *testing.B, o Options) (s *Store, stop func()) {
	o.Metrics, o.Logger = metrics.NewSet(), quiet
	s, err := Open(filepath.Join(b.TempDir(), "log.db"), o)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	return s, func() {
		cancel()
		if err := <-done; err != nil {
			b.Error(err)
		}
		s.Close()
	}
}

// quiet keeps benchmark output to the figures.
var quiet = slog.New(slog.DiscardHandler)

// BenchmarkLogAppendPaced appends events at a fixed rate, as a real feed
// does, and reports how well the writer groups them: events per commit,
// commits per second and the process CPU per second of wall time. A
// flooding benchmark always finds a full batch waiting, so it cannot see
// a writer that commits too early. Run it with a fixed count, e.g.
// -benchtime 10000x (5 s at 2,000 events/s).
func BenchmarkLogAppendPaced(b *testing.B) {
	for _, tc := range []struct {
		rate  int
		delay time.Duration
	}{{2000, 5 * time.Millisecond}, {2000, 50 * time.Millisecond}, {200, 5 * time.Millisecond}} {
		b.Run(fmt.Sprintf("rate=%d/delay=%v", tc.rate, tc.delay), func(b *testing.B) {
			benchPaced(b, tc.rate, tc.delay)
		})
	}
}

func benchPaced(b *testing.B, rate int, delay time.Duration) {
	b.ReportAllocs()
	s, stop := startBench(b, Options{BatchDelay: delay})
	defer stop()
	interval := time.Second / time.Duration(rate)
	b.ResetTimer()
	cpu0 := cpuTime()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		// Sleep overshoots; the schedule catches up, so the mean rate holds.
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		ev := mkEvent(uint64(i+1), time.Now())
		if !s.Append(&ev) {
			b.Fatal("queue full at a paced rate")
		}
	}
	for s.Durable() < uint64(b.N) {
		time.Sleep(100 * time.Microsecond)
	}
	elapsed := time.Since(start)
	cpu := cpuTime() - cpu0
	b.StopTimer()
	commits := float64(s.m.batches.Get())
	b.ReportMetric(float64(b.N)/commits, "events/commit")
	b.ReportMetric(commits/elapsed.Seconds(), "commits/s")
	b.ReportMetric(100*cpu.Seconds()/elapsed.Seconds(), "cpu-%")
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRedeliverOldCheckpoint is a restart where a sink last
// acknowledged days ago (a chat with a high threshold): 300,000 events, one
// a second (3.5 days), the checkpoint at the first, the last 2 minutes
// young.
func BenchmarkRedeliverOldCheckpoint(b *testing.B) {
	s, stop := startBench(b, Options{BatchMax: 4096})
	const n = 300000
	base := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	for i := 1; i <= n; i++ {
		ev := mkEvent(uint64(i), base.Add(time.Duration(i)*time.Second))
		for !s.Append(&ev) {
			time.Sleep(time.Millisecond)
		}
	}
	s.Ack("telegram:1", 1)
	for s.Durable() < n {
		time.Sleep(time.Millisecond)
	}
	stop()
	s, err := Open(s.Path(), Options{ReadOnly: true, Metrics: metrics.NewSet(), Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	now := base.Add(n * time.Second)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		red, skip, err := s.Redeliver("telegram:1", 2*time.Minute, now, func(*event.Event) {})
		if err != nil || red != 121 || skip != n-122 {
			b.Fatalf("redelivered %d, skipped %d, %v", red, skip, err)
		}
	}
}
