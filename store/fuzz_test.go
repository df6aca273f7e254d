package store

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/liqbox/liqbox/event"
)

// The decoders of bytes read from the file: event records, checkpoints,
// gap records, the run record and bbolt's meta page (checked before bbolt
// maps a file). Each target asserts no panic, and that what decodes obeys
// the invariants readers rely on and encodes back to the same bytes.
// Seeds are the records of testdata/schema1.db.gz, written by the real
// writer, and records of this version's writer.

// seedRecords returns every key and value of bucket in the schema-1 file.
func seedRecords(f *testing.F, bucket string) [][2][]byte {
	f.Helper()
	path := schema1File(f)
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		f.Fatal(err)
	}
	defer db.Close()
	var out [][2][]byte
	_ = db.View(func(tx *bolt.Tx) error {
		bk := tx.Bucket([]byte(bucket))
		if bk == nil {
			return nil
		}
		return bk.ForEach(func(k, v []byte) error {
			out = append(out, [2][]byte{bytes.Clone(k), bytes.Clone(v)})
			return nil
		})
	})
	if len(out) == 0 {
		f.Fatalf("no seed records in %s", bucket)
	}
	return out
}

func FuzzDecodeRecord(f *testing.F) {
	recs := seedRecords(f, "events")
	for _, kv := range recs[:20] {
		f.Add(kv[0], kv[1])
	}
	for _, ev := range []event.Event{
		{Seq: 9, RecvNs: 1, TimeMs: 1, Venue: event.OKX, Market: event.Inverse, Side: event.Short, Notional: math.NaN(), Symbol: event.MakeSymbol("BTC-USD-SWAP")},
		{Seq: 10, RecvNs: math.MaxInt64, TimeMs: 1, Venue: event.BitMEX, Price: math.Inf(1), Notional: math.Inf(1), Basis: event.BasisLinear},
	} {
		var k [8]byte
		putSeq(k[:], ev.Seq)
		f.Add(k[:], appendRecord(nil, &ev))
	}
	f.Fuzz(func(t *testing.T, k, v []byte) {
		var ev event.Event
		if err := decodeRecord(&ev, k, v); err != nil {
			return
		}
		if math.IsNaN(ev.Price) || math.IsInf(ev.Price, 0) || ev.Price < 0 ||
			math.IsInf(ev.Qty, 0) || ev.Qty < 0 {
			t.Fatalf("decoded a non-finite or negative price %v or quantity %v", ev.Price, ev.Qty)
		}
		if ev.NotionalKnown() != !math.IsNaN(ev.Notional) || math.IsInf(ev.Notional, 0) || ev.Notional < 0 {
			t.Fatalf("notional %v with basis %v", ev.Notional, ev.Basis)
		}
		if !ev.Venue.Known() || ev.Seq == 0 || ev.RecvNs <= 0 || ev.TimeMs <= 0 {
			t.Fatalf("decoded %+v", ev)
		}
		ns, ok := recordRecvNs(v)
		if !ok || ns != ev.RecvNs {
			t.Fatalf("recordRecvNs %d, %v; decode %d", ns, ok, ev.RecvNs)
		}
		// What decodes encodes to a record that decodes the same.
		var again event.Event
		if err := decodeRecord(&again, k, appendRecord(nil, &ev)); err != nil || !sameEvent(again, ev) {
			t.Fatalf("re-encoded: %+v, %v; want %+v", again, err, ev)
		}
	})
}

func FuzzDecodeCheckpoint(f *testing.F) {
	for _, kv := range seedRecords(f, "checkpoints") {
		f.Add(kv[0], kv[1])
	}
	f.Add([]byte{}, make([]byte, 8))
	f.Fuzz(func(t *testing.T, k, v []byte) {
		sink, seq, err := decodeCheckpoint(k, v)
		if err != nil {
			return
		}
		if sink != string(k) || binary.BigEndian.AppendUint64(nil, seq) == nil || len(sink) == 0 || len(sink) > maxSinkName {
			t.Fatalf("decoded %q %d from %q %x", sink, seq, k, v)
		}
	})
}

func FuzzDecodeGap(f *testing.F) {
	for _, kv := range seedRecords(f, "gaps") {
		f.Add(kv[0], kv[1])
	}
	open := Gap{Venue: "okx", Stream: "liquidation-orders", Start: t0, Cause: "stale, then liqbox crashed"}
	var k [gapKeyLen]byte
	binary.BigEndian.PutUint64(k[:], uint64(t0.UnixNano()))
	f.Add(k[:], encodeGapValue(open))
	f.Fuzz(func(t *testing.T, k, v []byte) {
		g, err := decodeGap(k, v)
		if err != nil {
			return
		}
		if g.Start.UnixNano() <= 0 || (!g.IsOpen() && g.End.Before(g.Start)) {
			t.Fatalf("decoded %+v", g)
		}
		if got := encodeGapValue(g); !bytes.Equal(got, v) {
			t.Fatalf("re-encoded %x, read %x", got, v)
		}
	})
}

func FuzzDecodeRun(f *testing.F) {
	f.Add(encodeRun(nil, t0, t0.Add(time.Hour), false))
	f.Add(encodeRun(nil, t0, t0.Add(-time.Second), true))
	f.Fuzz(func(t *testing.T, v []byte) {
		r, err := decodeRun(v)
		if err != nil {
			return
		}
		if r.Started.UnixNano() <= 0 || r.LastAlive.UnixNano() <= 0 || r.Running {
			t.Fatalf("decoded %+v", r)
		}
		if got := encodeRun(nil, r.Started, r.LastAlive, r.Clean); !bytes.Equal(got, v) {
			t.Fatalf("re-encoded %x, read %x", got, v)
		}
	})
}

// FuzzOpenFile opens whatever bytes a file holds, as a read-only open of a
// damaged log would: the pre-checks and bbolt's own must refuse it with an
// error (ErrCorrupt), never crash or hang the process. Its inputs are
// 32 KiB files, so minimising one takes minutes: run it with
// -fuzzminimizetime 1s.
func FuzzOpenFile(f *testing.F) {
	dir := f.TempDir()
	seed := dir + "/seed.db"
	db, err := bolt.Open(seed, 0o600, nil)
	if err != nil {
		f.Fatal(err)
	}
	_ = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("events"))
		if err != nil {
			return err
		}
		return b.Put([]byte("12345678"), []byte("record"))
	})
	db.Close()
	b, err := os.ReadFile(seed)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add(b[:len(b)/2])
	f.Fuzz(func(t *testing.T, b []byte) {
		path := t.TempDir() + "/f.db"
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		db, err := openBolt(path, &bolt.Options{ReadOnly: true, Timeout: 100 * time.Millisecond})
		if err == nil {
			db.Close()
		}
	})
}
