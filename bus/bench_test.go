package bus

import (
	"testing"
	"time"

	"github.com/liqbox/liqbox/bus/bustest"
	"github.com/liqbox/liqbox/event"
)

// BenchmarkThroughBus is the sustained rate through the bus with fsync on
// both sides: b.N events appended to an edge box's log (group commit,
// fsync per batch), published as the log commits them, stored by a
// loopback nats-server, consumed by a central box into its pipeline and
// its own fsync'd log. The figure is events/s from the first append to
// the last event durable at the central box.
//
//	go test -run XXX -bench BenchmarkThroughBus -benchtime 200000x ./bus
func BenchmarkThroughBus(b *testing.B) {
	for _, sync := range []bool{false, true} {
		name := "jetstream-default-sync"
		if sync {
			name = "jetstream-sync-always"
		}
		b.Run(name, func(b *testing.B) {
			srv, err := bustest.Start(bustest.Options{Dir: b.TempDir(), SyncAlways: sync})
			if err != nil {
				b.Fatal(err)
			}
			defer srv.Stop()
			edge := startBox(b, boxOpts{name: "edge-1", url: srv.URL(), publish: true, edit: func(c *Config) { c.MaxInFlight = 1024 }})
			central := startBox(b, boxOpts{name: "central", url: srv.URL(), consume: true})
			waitFor(b, 10*time.Second, "consumer up", func() bool { return central.cons.Status(time.Now()).Up })
			now := time.Now()
			b.ResetTimer()
			t0 := time.Now()
			for i := 1; i <= b.N; i++ {
				ev := liq(i, now.Add(time.Duration(i)*time.Nanosecond))
				ev.Seq = uint64(i)
				for !edge.st.Append(&ev) {
					time.Sleep(50 * time.Microsecond) // the edge log's queue is full: its writer catches up
				}
			}
			waitFor(b, 5*time.Minute, "central durable", func() bool { return central.st.Durable() >= uint64(b.N) })
			el := time.Since(t0)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/el.Seconds(), "events/s")
			if d := central.st.Durable(); d != uint64(b.N) {
				b.Errorf("central durable %d, want %d", d, b.N)
			}
			_ = event.FlagRemote
		})
	}
}
