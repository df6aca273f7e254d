package store

import (
	"context"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	bolt "go.etcd.io/bbolt"

	"github.com/liqbox/liqbox/event"
)

var t0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func mkEvent(seq uint64, recv time.Time) event.Event {
	return event.Event{
		Seq:      seq,
		RecvNs:   recv.UnixNano(),
		TimeMs:   recv.UnixMilli() - 3,
		Price:    97000.5 + float64(seq),
		Qty:      0.25,
		Notional: 24250.125,
		Venue:    event.BinanceUSDM,
		Market:   event.Linear,
		Side:     event.Long,
		Basis:    event.BasisLinear,
		Conn:     1,
		Symbol:   event.MakeSymbol("BTCUSDT"),
	}
}

// running opens a writer at path and runs it until the test ends (or stop
// is called, which flushes and closes).
type running struct {
	*Store
	cancel context.CancelFunc
	done   chan error
}

func startStore(t testing.TB, path string, o Options) *running {
	t.Helper()
	if o.Metrics == nil {
		o.Metrics = metrics.NewSet()
	}
	s, err := Open(path, o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return runStore(t, s)
}

// runStore runs an opened writer until the test ends.
func runStore(t testing.TB, s *Store) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{Store: s, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- s.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

func (r *running) stop(t testing.TB) {
	if r.cancel == nil {
		return
	}
	r.cancel()
	if err := <-r.done; err != nil {
		t.Errorf("Run: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	r.cancel = nil
}

func waitDurable(t testing.TB, s *Store, seq uint64) {
	t.Helper()
	// A bound, not a timing check: tens of thousands of fsynced events
	// under -race on a loaded 2-core box took more than 10 s.
	deadline := time.Now().Add(30 * time.Second)
	for s.Durable() < seq {
		if time.Now().After(deadline) {
			t.Fatalf("durable %d, want %d", s.Durable(), seq)
		}
		time.Sleep(time.Millisecond)
	}
}

func scanAll(t testing.TB, s *Store) []event.Event {
	t.Helper()
	var out []event.Event
	if err := s.Scan(time.Time{}, time.Time{}, func(ev *event.Event) error {
		out = append(out, *ev)
		return nil
	}); err != nil {
		t.Fatalf("Scan: %v", err)
	}
	return out
}

func sameEvent(a, b event.Event) bool {
	na, nb, qa, qb := a.Notional, b.Notional, a.Qty, b.Qty
	a.Notional, b.Notional, a.Qty, b.Qty = 0, 0, 0, 0
	return a == b && math.Float64bits(na) == math.Float64bits(nb) && math.Float64bits(qa) == math.Float64bits(qb)
}

func TestRecordRoundTrip(t *testing.T) {
	cases := []event.Event{
		mkEvent(1, t0),
		{Seq: math.MaxUint64, RecvNs: math.MaxInt64, TimeMs: math.MaxInt64, Price: math.MaxFloat64, Qty: 0,
			Notional: math.NaN(), Venue: event.BitMEX, Market: event.Inverse, Side: event.Short,
			Basis: event.BasisUnknown, Conn: 255, Flags: event.FlagBacklog | event.FlagReplay,
			Symbol: event.MakeSymbol("1000SHIB-USDT-250926-EXTRA-LONG-ID")},
		{Seq: 7, RecvNs: 1, TimeMs: 1, Venue: event.Bybit, Notional: math.NaN(), Symbol: event.MakeSymbol("币安人生USDT")},
		// A BitMEX quanto row: no quantity in base units, no USD size.
		{Seq: 8, RecvNs: 1, TimeMs: 1, Venue: event.BitMEX, Side: event.Long, Price: 3120.5, Qty: math.NaN(),
			Notional: math.NaN(), Symbol: event.MakeSymbol("ETHUSD")},
		// Issue 16's venues, at their persisted numbers (8 and 10).
		{Seq: 9, RecvNs: 1, TimeMs: 1, Venue: event.HTX, Market: event.Inverse, Basis: event.BasisContractSize, Price: 9062.71,
			Qty: 145000 / 9062.71, Notional: 145000, Symbol: event.MakeSymbol("BTC200703")},
		{Seq: 10, RecvNs: 1, TimeMs: 1, Venue: event.Gate, Market: event.Linear, Basis: event.BasisContractValue, Price: 215.1,
			Qty: 0.01245, Notional: 0.01245 * 215.1, Symbol: event.MakeSymbol("BTC_USDT")},
	}
	for _, want := range cases {
		var k [8]byte
		putSeq(k[:], want.Seq)
		v := appendRecord(nil, &want)
		var got event.Event
		if err := decodeRecord(&got, k[:], v); err != nil {
			t.Fatalf("decode: %v", err)
		}
		if !sameEvent(got, want) {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, want)
		}
	}
	var ev event.Event
	for _, bad := range [][]byte{nil, {2}, {1, 2, 3}} {
		if err := decodeRecord(&ev, make([]byte, 8), bad); !errors.Is(err, ErrBadRecord) {
			t.Errorf("decode %v: err %v, want ErrBadRecord", bad, err)
		}
	}
}

// A record holding what no event can is refused; a notional that cannot be
// a USD figure is read as unknown.
func TestRecordValues(t *testing.T) {
	for name, mutate := range map[string]func(*event.Event){
		"seq 0":         func(e *event.Event) { e.Seq = 0 },
		"recv 1970":     func(e *event.Event) { e.RecvNs = -1 },
		"exchange 1970": func(e *event.Event) { e.TimeMs = 0 },
		"price NaN":     func(e *event.Event) { e.Price = math.NaN() },
		"price Inf":     func(e *event.Event) { e.Price = math.Inf(1) },
		"qty negative":  func(e *event.Event) { e.Qty = -1 },
		"venue unknown": func(e *event.Event) { e.Venue = event.VenueUnknown },
		"venue future":  func(e *event.Event) { e.Venue = 200 },
		"side":          func(e *event.Event) { e.Side = maxSide + 1 },
		"market":        func(e *event.Event) { e.Market = maxMarket + 1 },
		"basis":         func(e *event.Event) { e.Basis = maxBasis + 1 },
		"flags":         func(e *event.Event) { e.Flags = 0x80 },
		"symbol ESC":    func(e *event.Event) { e.Symbol = event.MakeSymbol("BTC\x1b[2J") },
		"symbol LF":     func(e *event.Event) { e.Symbol = event.MakeSymbol("BTC\nETH") },
	} {
		ev := mkEvent(5, t0)
		mutate(&ev)
		var k [8]byte
		putSeq(k[:], ev.Seq)
		var got event.Event
		if err := decodeRecord(&got, k[:], appendRecord(nil, &ev)); !errors.Is(err, ErrBadRecord) {
			t.Errorf("%s: decoded (%v), want ErrBadRecord", name, err)
		}
	}
	for _, n := range []float64{math.Inf(1), math.Inf(-1), -5, math.NaN()} {
		ev := mkEvent(5, t0)
		ev.Notional = n
		var k [8]byte
		putSeq(k[:], 5)
		var got event.Event
		if err := decodeRecord(&got, k[:], appendRecord(nil, &ev)); err != nil {
			t.Fatalf("notional %v: %v", n, err)
		}
		if !math.IsNaN(got.Notional) || got.Basis != event.BasisUnknown || got.NotionalKnown() {
			t.Errorf("notional %v read as %v with basis %v, want unknown", n, got.Notional, got.Basis)
		}
	}
}

// A damaged record is skipped and counted, and the rest of the log reads.
func TestScanSkipsBadRecords(t *testing.T) {
	r := startStore(t, filepath.Join(t.TempDir(), "log.db"), Options{})
	for i := uint64(1); i <= 10; i++ {
		ev := mkEvent(i, t0.Add(time.Duration(i)*time.Second))
		r.Append(&ev)
	}
	waitDurable(t, r.Store, 10)
	if err := r.update(func(tx *bolt.Tx) error {
		var k [8]byte
		putSeq(k[:], 4)
		return tx.Bucket(bucketEvents).Put(k[:], []byte{1, 2, 3})
	}); err != nil {
		t.Fatal(err)
	}
	if evs := scanAll(t, r.Store); len(evs) != 9 || evs[3].Seq != 5 {
		t.Errorf("scan over a damaged record: %d events", len(evs))
	}
	if r.m.badRecords.Get() != 1 {
		t.Errorf("bad records counted %d, want 1", r.m.badRecords.Get())
	}
}

func TestGroupCommitAndRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.db")
	set := metrics.NewSet()
	r := startStore(t, path, Options{Metrics: set, BatchDelay: 20 * time.Millisecond})
	const n = 2000
	for i := uint64(1); i <= n; i++ {
		ev := mkEvent(i, t0.Add(time.Duration(i)*time.Millisecond))
		ev.Flags = event.Flags(i % 4)
		if i%7 == 0 {
			ev.Notional, ev.Basis = math.NaN(), event.BasisUnknown
		}
		if !r.Append(&ev) {
			t.Fatalf("Append %d dropped", i)
		}
	}
	waitDurable(t, r.Store, n)
	if b := r.m.batches.Get(); b > n/100 {
		t.Errorf("%d transactions for %d events: group commit not grouping", b, n)
	}
	r.Ack("chat:42", 1500)
	r.Ack("chat:42", 1200) // older acks never move a checkpoint back
	r.Ack("enrich", 10)
	r.stop(t)

	s, err := Open(path, Options{Metrics: metrics.NewSet()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.LastSeq() != n {
		t.Errorf("LastSeq after restart = %d, want %d", s.LastSeq(), n)
	}
	if got := s.Checkpoint("chat:42"); got != 1500 {
		t.Errorf("checkpoint chat:42 = %d, want 1500", got)
	}
	if got := s.Checkpoint("enrich"); got != 10 {
		t.Errorf("checkpoint enrich = %d, want 10", got)
	}
	evs := scanAll(t, s)
	if len(evs) != n {
		t.Fatalf("scanned %d events, want %d", len(evs), n)
	}
	for i, got := range evs {
		want := mkEvent(uint64(i+1), t0.Add(time.Duration(i+1)*time.Millisecond))
		want.Flags = event.Flags((i + 1) % 4)
		if (i+1)%7 == 0 {
			want.Notional, want.Basis = math.NaN(), event.BasisUnknown
		}
		if !sameEvent(got, want) {
			t.Fatalf("event %d:\n got %+v\nwant %+v", i, got, want)
		}
	}
	if c, _ := s.Count(); c != n {
		t.Errorf("Count = %d", c)
	}
}

func TestScanRange(t *testing.T) {
	r := startStore(t, filepath.Join(t.TempDir(), "log.db"), Options{})
	for i := uint64(1); i <= 5000; i++ {
		ev := mkEvent(i*3, t0.Add(time.Duration(i)*time.Second)) // gaps in seq
		r.Append(&ev)
	}
	waitDurable(t, r.Store, 15000)
	for _, tc := range []struct{ from, to, want int }{
		{0, 10, 9}, {100, 200, 100}, {4990, 6000, 11}, {6000, 7000, 0}, {-5, 2, 1},
	} {
		n := 0
		var first uint64
		err := r.Scan(t0.Add(time.Duration(tc.from)*time.Second), t0.Add(time.Duration(tc.to)*time.Second), func(ev *event.Event) error {
			if n == 0 {
				first = ev.Seq
			}
			n++
			return nil
		})
		if err != nil || n != tc.want {
			t.Errorf("Scan [%d,%d): %d events (err %v), want %d", tc.from, tc.to, n, err, tc.want)
		}
		if n > 0 && tc.from > 0 && first != uint64(tc.from)*3 {
			t.Errorf("Scan [%d,%d) starts at seq %d", tc.from, tc.to, first)
		}
	}
}

func TestRedeliver(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.db")
	r := startStore(t, path, Options{})
	now := t0.Add(time.Hour)
	for i := uint64(1); i <= 100; i++ {
		// seq 1..50 are an hour old, 51..100 from the last minute.
		at := t0.Add(time.Duration(i) * time.Millisecond)
		if i > 50 {
			at = now.Add(-time.Minute + time.Duration(i)*time.Millisecond)
		}
		ev := mkEvent(i, at)
		r.Append(&ev)
	}
	r.Ack("chat:1", 40)
	r.Ack("chat:2", 90)
	waitDurable(t, r.Store, 100)
	r.stop(t)

	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, tc := range []struct {
		sink       string
		red, skip  int
		firstReply uint64
	}{
		{"chat:1", 50, 10, 51},
		{"chat:2", 10, 0, 91},
		// Never acknowledged (its first alert was in flight at the
		// crash): the young events, nothing counted as skipped.
		{"chat:3", 50, 0, 51},
	} {
		var got []uint64
		red, skip, err := s.Redeliver(tc.sink, 2*time.Minute, now, func(ev *event.Event) {
			if ev.Flags&event.FlagReplay == 0 {
				t.Errorf("redelivered event lacks FlagReplay")
			}
			got = append(got, ev.Seq)
		})
		if err != nil || red != tc.red || skip != tc.skip || len(got) != red || got[0] != tc.firstReply {
			t.Errorf("%s: redelivered %d skipped %d err %v first %v; want %d %d first %d",
				tc.sink, red, skip, err, got[:1], tc.red, tc.skip, tc.firstReply)
		}
	}
}

func TestDedupKeysSurviveRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.db")
	r := startStore(t, path, Options{DedupTTL: time.Minute})
	old, fresh := mkEvent(1, t0), mkEvent(2, t0.Add(50*time.Second))
	fresh.Symbol = event.MakeSymbol("ETHUSDT")
	r.Append(&old)
	r.Append(&fresh)
	waitDurable(t, r.Store, 2)
	r.stop(t)

	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var got []uint64
	if err := s.DedupKeys(t0.Add(90*time.Second), func(k uint64) { got = append(got, k) }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != fresh.Key() {
		t.Errorf("dedup keys at +90s = %v, want only %d", got, fresh.Key())
	}
}

func TestRetention(t *testing.T) {
	now := time.Now()
	r := startStore(t, filepath.Join(t.TempDir(), "log.db"), Options{
		Retention: Retention{MaxAge: time.Hour, Interval: 20 * time.Millisecond},
		DedupTTL:  time.Millisecond,
	})
	for i := uint64(1); i <= 5000; i++ {
		at := now.Add(-2 * time.Hour)
		if i > 3000 {
			at = now
		}
		ev := mkEvent(i, at)
		r.Append(&ev)
	}
	waitDurable(t, r.Store, 5000)
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, _ := r.Count()
		keys := 0
		_ = r.DedupKeys(time.Unix(0, 0), func(uint64) { keys++ })
		if c == 2000 && keys == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after retention %d events and %d expired dedup keys, want 2000 and 0", c, keys)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if evs := scanAll(t, r.Store); evs[0].Seq != 3001 {
		t.Errorf("oldest kept seq %d, want 3001", evs[0].Seq)
	}
}

func TestRetentionBySize(t *testing.T) {
	r := startStore(t, filepath.Join(t.TempDir(), "log.db"), Options{
		Retention: Retention{MaxBytes: 1 << 20, Interval: 20 * time.Millisecond},
		DedupTTL:  time.Millisecond,
	})
	now := time.Now()
	for i := uint64(1); i <= 60000; i++ {
		ev := mkEvent(i, now)
		for !r.Append(&ev) {
			time.Sleep(time.Millisecond)
		}
	}
	waitDurable(t, r.Store, 60000)
	deadline := time.Now().Add(5 * time.Second)
	for r.liveBytes() > 1<<20 {
		if time.Now().After(deadline) {
			t.Fatalf("live bytes %d above 1 MiB", r.liveBytes())
		}
		time.Sleep(10 * time.Millisecond)
	}
	evs := scanAll(t, r.Store)
	if len(evs) == 0 || evs[len(evs)-1].Seq != 60000 || evs[0].Seq == 1 {
		t.Errorf("kept %d events, first %d: oldest should go first", len(evs), evs[0].Seq)
	}
}

func TestSecondWriterAndReadOnlyWhileRunning(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.db")
	r := startStore(t, path, Options{})
	for i := uint64(1); i <= 300; i++ {
		ev := mkEvent(i, t0.Add(time.Duration(i)*time.Second))
		r.Append(&ev)
	}
	waitDurable(t, r.Store, 300)

	start := time.Now()
	_, err := Open(path, Options{OpenTimeout: 100 * time.Millisecond})
	if !errors.Is(err, ErrAlreadyRunning) {
		t.Fatalf("second writer: err %v, want ErrAlreadyRunning", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("second writer took %v to fail", d)
	}

	// Readers while the writer keeps writing.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := uint64(301); ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			ev := mkEvent(i, t0.Add(time.Duration(i)*time.Second))
			r.Append(&ev)
			time.Sleep(50 * time.Microsecond)
		}
	}()
	for k := 0; k < 3; k++ {
		ro, err := Open(path, Options{ReadOnly: true})
		if err != nil {
			t.Fatalf("read-only open while running: %v", err)
		}
		evs := scanAll(t, ro)
		if len(evs) < 300 {
			t.Errorf("read-only saw %d events", len(evs))
		}
		for i := range evs {
			if evs[i].Seq != uint64(i+1) {
				t.Fatalf("read-only snapshot inconsistent at %d: seq %d", i, evs[i].Seq)
			}
		}
		if err := ro.Put(testBucket, []byte("k"), []byte("v")); !errors.Is(err, ErrReadOnly) {
			t.Errorf("Put on read-only: %v", err)
		}
		snap := ro.snapPath
		ro.Close()
		if _, err := os.Stat(snap); !os.IsNotExist(err) {
			t.Errorf("snapshot %s left behind", snap)
		}
	}
	close(stop)
	wg.Wait()
	r.stop(t)

	// With the writer gone the file itself opens read-only.
	ro, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("read-only open after writer: %v", err)
	}
	defer ro.Close()
	if ro.snapPath != "" {
		t.Errorf("read a snapshot with no writer running")
	}
}

func TestSchema(t *testing.T) {
	dir := t.TempDir()
	// A newer file is refused.
	path := filepath.Join(dir, "new.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keySchema, binary.BigEndian.AppendUint64(nil, SchemaVersion+1))
	}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := Open(path, Options{}); !errors.Is(err, ErrNewerSchema) {
		t.Errorf("newer schema: err %v", err)
	}
	if _, err := Open(path, Options{ReadOnly: true}); !errors.Is(err, ErrNewerSchema) {
		t.Errorf("newer schema read-only: err %v", err)
	}

	// An unversioned file (schema 0) with data is migrated, data kept.
	path = filepath.Join(dir, "old.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(tx *bolt.Tx) error {
		b, _ := tx.CreateBucket(testBucket)
		return b.Put([]byte("42"), []byte("settings"))
	})
	db.Close()
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatalf("migrating open: %v", err)
	}
	defer s.Close()
	if v, err := s.Get(testBucket, []byte("42")); err != nil || string(v) != "settings" {
		t.Errorf("after migration Get = %q, %v", v, err)
	}
	if in, _ := s.Info(); in.Schema != SchemaVersion {
		t.Errorf("schema after migration = %d", in.Schema)
	}
}

func TestCorruptFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "log.db")
	r := startStore(t, path, Options{})
	for i := uint64(1); i <= 20000; i++ {
		ev := mkEvent(i, t0)
		for !r.Append(&ev) {
			time.Sleep(time.Millisecond)
		}
	}
	waitDurable(t, r.Store, 20000)
	r.stop(t)
	fi, _ := os.Stat(path)

	for name, mutate := range map[string]func(string) error{
		"truncated":    func(p string) error { return os.Truncate(p, fi.Size()/3) },
		"tiny":         func(p string) error { return os.Truncate(p, 100) },
		"garbage-meta": func(p string) error { return overwrite(p, 0, 8192) },
	} {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(dir, name+".db")
			copyFile(t, path, p)
			if err := mutate(p); err != nil {
				t.Fatal(err)
			}
			for _, ro := range []bool{false, true} {
				s, err := Open(p, Options{ReadOnly: ro})
				if err == nil {
					s.Close()
					t.Fatalf("opened a %s file (read-only %v)", name, ro)
				}
				if !errors.Is(err, ErrCorrupt) {
					t.Errorf("%s (read-only %v): err %v, want ErrCorrupt", name, ro, err)
				}
			}
		})
	}
}

func overwrite(p string, off, n int64) error {
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	junk := make([]byte, n)
	for i := range junk {
		junk[i] = byte(i*7 + 3)
	}
	_, err = f.WriteAt(junk, off)
	return err
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestWriteErrorsKeepEventsAndResume(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.db")
	var mu sync.Mutex
	failing := true
	s, err := Open(path, Options{QueueLen: 1000, BatchMax: 100, Metrics: metrics.NewSet()})
	if err != nil {
		t.Fatal(err)
	}
	s.failWrite = func() error {
		mu.Lock()
		defer mu.Unlock()
		if failing {
			return syscall.ENOSPC
		}
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()

	accepted := 0
	// More than the memory bound (QueueLen + 8×BatchMax = 1,800), so drops
	// are certain however fast the writer moves events into its batch.
	for i := uint64(1); i <= 3000; i++ {
		ev := mkEvent(i, t0)
		start := time.Now()
		if s.Append(&ev) {
			accepted++
		}
		if d := time.Since(start); d > 50*time.Millisecond {
			t.Fatalf("Append blocked %v on a failing disk", d)
		}
	}
	time.Sleep(150 * time.Millisecond) // a few retries
	if s.m.writeErrors.Get() == 0 || s.m.dropped.Get() == 0 {
		t.Errorf("write errors %d, dropped %d: both should count", s.m.writeErrors.Get(), s.m.dropped.Get())
	}
	if accepted < 1000 || accepted > 1000+8*100 {
		t.Errorf("accepted %d events while failing, want the memory bound (QueueLen..QueueLen+8×BatchMax)", accepted)
	}
	mu.Lock()
	failing = false
	mu.Unlock()
	waitDurable(t, s, s.LastSeq())
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := len(scanAll(t, s)); got != accepted {
		t.Errorf("%d events durable after recovery, want every accepted one (%d)", got, accepted)
	}
	s.Close()
}

// TestDiskFullTmpfs fills a real small file system. It needs root (mount);
// it skips where that is not possible.
func TestDiskFullTmpfs(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=2m"); err != nil {
		t.Skipf("cannot mount tmpfs: %v", err)
	}
	defer syscall.Unmount(dir, syscall.MNT_DETACH)
	path := filepath.Join(dir, "log.db")
	set := metrics.NewSet()
	s, err := Open(path, Options{Metrics: set, QueueLen: 4096})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	filler := filepath.Join(dir, "filler")
	// Fill the file system with another file, then write events.
	if err := os.WriteFile(filler, make([]byte, 2<<20), 0o600); err == nil {
		t.Log("filler fit; file system larger than asked")
	}
	var seq uint64
	appendSome := func(n int) {
		for i := 0; i < n; i++ {
			seq++
			ev := mkEvent(seq, t0)
			start := time.Now()
			s.Append(&ev)
			if d := time.Since(start); d > 50*time.Millisecond {
				t.Fatalf("Append blocked %v on a full disk", d)
			}
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for s.m.writeErrors.Get() == 0 {
		appendSome(500)
		time.Sleep(5 * time.Millisecond)
		if time.Now().After(deadline) {
			t.Fatal("no write error on a full tmpfs")
		}
	}
	// Space returns: the writer resumes by itself.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	appendSome(10)
	last := seq
	waitDurable(t, s, last)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	evs := scanAll(t, s)
	if len(evs) == 0 || evs[len(evs)-1].Seq != last {
		t.Errorf("after recovery last durable seq %v, want %d", len(evs), last)
	}
	s.Close()
	// The file is still a sound log.
	s2, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("reopen after disk full: %v", err)
	}
	s2.Close()
}

func TestKVAndGaps(t *testing.T) {
	r := startStore(t, filepath.Join(t.TempDir(), "log.db"), Options{})
	if err := r.Put(testBucket, []byte("offset"), []byte{1, 2}); err != nil {
		t.Fatal(err)
	}
	if v, _ := r.Get(testBucket, []byte("offset")); string(v) != "\x01\x02" {
		t.Errorf("Get = %v", v)
	}
	if v, _ := r.Get(testBucket, []byte("nope")); v != nil {
		t.Errorf("missing key = %v", v)
	}
	n := 0
	_ = r.ForEach(testBucket, func(k, v []byte) error { n++; return nil })
	if n != 1 {
		t.Errorf("ForEach saw %d", n)
	}
	if err := r.Delete(testBucket, []byte("offset")); err != nil {
		t.Fatal(err)
	}
	if v, _ := r.Get(testBucket, []byte("offset")); v != nil {
		t.Errorf("after Delete = %v", v)
	}
	if err := r.Put(bucketEvents, []byte("x"), nil); err == nil {
		t.Errorf("Put into the events bucket allowed")
	}
	gaps := []Gap{
		{Venue: "bybit", Stream: "allLiquidation.BTCUSDT", Start: t0, End: t0.Add(time.Second), Cause: "reconnect"},
		{Venue: "okx", Stream: "liquidation-orders", Start: t0.Add(time.Hour), End: t0.Add(time.Hour + time.Minute), Cause: "read deadline"},
	}
	for _, g := range gaps {
		if err := r.AddGap(g); err != nil {
			t.Fatal(err)
		}
	}
	got, err := r.Gaps(t0.Add(time.Minute))
	if err != nil || len(got) != 1 || got[0].Venue != "okx" || got[0].Cause != "read deadline" || !got[0].End.Equal(gaps[1].End) {
		t.Errorf("Gaps = %+v, %v", got, err)
	}
}

func TestBackupAndCompact(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "log.db")
	r := startStore(t, path, Options{})
	for i := uint64(1); i <= 1000; i++ {
		ev := mkEvent(i, t0)
		r.Append(&ev)
	}
	waitDurable(t, r.Store, 1000)
	bk := filepath.Join(dir, "backup.db")
	if err := r.BackupFile(bk); err != nil {
		t.Fatal(err)
	}
	if err := Compact(path, filepath.Join(dir, "c.db")); !errors.Is(err, ErrAlreadyRunning) {
		t.Errorf("compact of a running log: %v", err)
	}
	r.stop(t)
	out := filepath.Join(dir, "compact.db")
	if err := Compact(bk, out); err != nil {
		t.Fatal(err)
	}
	s, err := Open(out, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n := len(scanAll(t, s)); n != 1000 {
		t.Errorf("compacted backup holds %d events", n)
	}
}

func TestAppendAllocs(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "log.db"), Options{QueueLen: 1 << 16})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ev := mkEvent(1, t0)
	if a := testing.AllocsPerRun(1000, func() { ev.Seq++; s.Append(&ev) }); a != 0 {
		t.Errorf("Append allocates %v per call", a)
	}
}

// testBucket stands for another package's bucket.
var testBucket = []byte("telegram_state")
