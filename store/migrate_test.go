package store

import (
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/liqbox/liqbox/event"
)

// testdata/schema1.db.gz was written by the schema-1 store: 300 events
// received one a second from 2026-11-27 12:00:01 UTC, checkpoints
// telegram:42 = 250 and enrich = 290, one gap (bybit
// allLiquidation/linear, 12:00:10–12:00:40, read deadline), and a key
// "k-NAME" = "v-NAME" in each of tg_chats, tg_state, outbox,
// telegram_chats, telegram_state, telegram_outbox, enrich and llm_usage.
func schema1File(t testing.TB) string {
	t.Helper()
	f, err := os.Open("testdata/schema1.db.gz")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "schema1.db")
	out, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, zr); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestMigrateSchema1(t *testing.T) {
	path := schema1File(t)
	if _, err := Open(path, Options{ReadOnly: true}); err == nil {
		t.Fatal("a read-only open of a schema-1 file must ask for a migration")
	}
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("migrating open: %v", err)
	}
	defer s.Close()
	if in, _ := s.Info(); in.Schema != 2 || in.Events != 300 || in.LastSeq != 300 {
		t.Errorf("after migration Info = %+v", in)
	}
	if _, ok := s.PreviousRun(); ok {
		t.Errorf("a schema-1 file has no run record, but PreviousRun is ok")
	}
	if s.Checkpoint("telegram:42") != 250 || s.Checkpoint("enrich") != 290 {
		t.Errorf("checkpoints after migration: %d, %d", s.Checkpoint("telegram:42"), s.Checkpoint("enrich"))
	}
	var buckets []string
	_ = s.view(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, _ *bolt.Bucket) error { buckets = append(buckets, string(name)); return nil })
	})
	want := []string{"checkpoints", "dedup", "enrich", "events", "gaps", "gaps_open", "llm_usage", "meta", "telegram_chats", "telegram_state"}
	if !slices.Equal(buckets, want) {
		t.Errorf("buckets after migration %v, want %v", buckets, want)
	}
	for _, b := range []string{"telegram_chats", "telegram_state", "enrich", "llm_usage"} {
		if v, err := s.Get([]byte(b), []byte("k-"+b)); err != nil || string(v) != "v-"+b {
			t.Errorf("%s after migration = %q, %v", b, v, err)
		}
	}
	base := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	gaps, err := s.Gaps(time.Time{})
	if err != nil || len(gaps) != 1 || gaps[0].Cause != "read deadline" || !gaps[0].Start.Equal(base.Add(10*time.Second)) || !gaps[0].End.Equal(base.Add(40*time.Second)) {
		t.Errorf("gaps after migration = %+v, %v", gaps, err)
	}
	n := 0
	red, skip, err := s.Redeliver("telegram:42", 10*time.Second, base.Add(300*time.Second), func(ev *event.Event) { n++ })
	if err != nil || red != 11 || skip != 39 || n != 11 {
		t.Errorf("Redeliver on the migrated log: %d redelivered, %d skipped, %v", red, skip, err)
	}
	// It goes on as a schema-2 log.
	r := runStore(t, s)
	ev := mkEvent(301, base.Add(301*time.Second))
	r.Append(&ev)
	waitDurable(t, r.Store, 301)
	r.stop(t)
	ro, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("read-only open after migration: %v", err)
	}
	defer ro.Close()
	if prev, ok := ro.PreviousRun(); !ok || !prev.Clean {
		t.Errorf("after the migrated run: PreviousRun = %+v, %v", prev, ok)
	}
}
