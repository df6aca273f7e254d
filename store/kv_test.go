package store

import (
	"errors"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// fileValue reads key from the file itself, past the queue.
func fileValue(t *testing.T, s *Store, bucket, key string) []byte {
	t.Helper()
	var out []byte
	if err := s.view(func(tx *bolt.Tx) error {
		if b := tx.Bucket([]byte(bucket)); b != nil {
			if v := b.Get([]byte(key)); v != nil {
				out = slices.Clone(v)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// countCommits counts the writer's transactions through the test hook.
func countCommits(s *Store) func() int {
	var mu sync.Mutex
	n := 0
	s.failWrite = func() error { mu.Lock(); n++; mu.Unlock(); return nil }
	return func() int { mu.Lock(); defer mu.Unlock(); return n }
}

// PutAsync rides in the batch of the events around it: no commit of its
// own, and reads in the process see it before it is committed.
func TestPutAsyncJoinsTheBatch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.db")
	s, err := Open(path, Options{BatchDelay: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	commits := countCommits(s)
	r := runStore(t, s)
	ev := mkEvent(1, t0)
	r.Append(&ev)
	val := []byte("msg 1234")
	if err := r.PutAsync([]byte("telegram_sent"), []byte("k"), val); err != nil {
		t.Fatal(err)
	}
	val[0] = 'X' // the store copied it
	r.Ack("telegram:1", 1)
	if v, err := r.Get([]byte("telegram_sent"), []byte("k")); err != nil || string(v) != "msg 1234" {
		t.Errorf("Get after PutAsync = %q, %v", v, err)
	}
	if v := fileValue(t, r.Store, "telegram_sent", "k"); v != nil {
		t.Errorf("committed at once (%q): PutAsync must wait for the batch", v)
	}
	waitDurable(t, r.Store, 1)
	waitFor(t, "the batch to be committed", func() bool { return fileValue(t, r.Store, "telegram_sent", "k") != nil })
	if n := commits(); n != 1 {
		t.Errorf("%d commits for an event, a PutAsync and an Ack within BatchDelay, want 1", n)
	}
	if err := r.DeleteAsync([]byte("telegram_sent"), []byte("k")); err != nil {
		t.Fatal(err)
	}
	if v, _ := r.Get([]byte("telegram_sent"), []byte("k")); v != nil {
		t.Errorf("Get after DeleteAsync = %q", v)
	}
	if err := r.PutAsync([]byte("telegram_sent"), []byte("k2"), []byte("v2")); err != nil {
		t.Fatal(err)
	}
	r.stop(t)

	s, err = Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, _ := s.Get([]byte("telegram_sent"), []byte("k")); v != nil {
		t.Errorf("deleted key after restart = %q", v)
	}
	if v, _ := s.Get([]byte("telegram_sent"), []byte("k2")); string(v) != "v2" {
		t.Errorf("queued at shutdown, after restart = %q: the final flush must write it", v)
	}
}

// ForEach merges the queue into the file in key order.
func TestForEachSeesQueuedWrites(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "log.db"), Options{BatchDelay: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	b := []byte("telegram_chats")
	for _, k := range []string{"a", "c", "e"} {
		if err := s.Put(b, []byte(k), []byte("file-"+k)); err != nil {
			t.Fatal(err)
		}
	}
	// No writer runs: everything below stays queued.
	_ = s.PutAsync(b, []byte("b"), []byte("q-b"))
	_ = s.DeleteAsync(b, []byte("c"))
	_ = s.PutAsync(b, []byte("e"), []byte("q-e"))
	_ = s.PutAsync(b, []byte("f"), []byte("q-f"))
	_ = s.DeleteAsync(b, []byte("zz"))
	var got []string
	if err := s.ForEach(b, func(k, v []byte) error { got = append(got, string(k)+"="+string(v)); return nil }); err != nil {
		t.Fatal(err)
	}
	want := []string{"a=file-a", "b=q-b", "e=q-e", "f=q-f"}
	if !slices.Equal(got, want) {
		t.Errorf("ForEach = %v, want %v", got, want)
	}
	var n int
	_ = s.ForEach([]byte("nothing_yet"), func(k, v []byte) error { n++; return nil })
	_ = s.PutAsync([]byte("nothing_yet"), []byte("x"), nil)
	_ = s.ForEach([]byte("nothing_yet"), func(k, v []byte) error { n++; return nil })
	if n != 1 {
		t.Errorf("a bucket that exists only in the queue: %d entries, want 1", n)
	}
}

// On a failing disk queued writes wait, stay readable, are bounded and
// counted, and are written when the disk returns.
func TestPutAsyncOnAFailingDisk(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "log.db"), Options{AsyncMax: 3, BatchDelay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	failing := true
	s.failWrite = func() error {
		mu.Lock()
		defer mu.Unlock()
		if failing {
			return syscall.EIO
		}
		return nil
	}
	r := runStore(t, s)
	b := []byte("enrich")
	for _, k := range []string{"1", "2", "3"} {
		if err := r.PutAsync(b, []byte(k), []byte("v"+k)); err != nil {
			t.Fatalf("PutAsync %s: %v", k, err)
		}
	}
	waitFor(t, "a failed commit", func() bool { return r.m.writeErrors.Get() > 0 })
	if err := r.PutAsync(b, []byte("2"), []byte("v2b")); err != nil {
		t.Errorf("replacing a queued key: %v", err)
	}
	if err := r.PutAsync(b, []byte("4"), []byte("v4")); !errors.Is(err, ErrQueueFull) {
		t.Errorf("PutAsync beyond AsyncMax: %v, want ErrQueueFull", err)
	}
	if r.m.asyncDropped.Get() != 1 {
		t.Errorf("async drops counted %d, want 1", r.m.asyncDropped.Get())
	}
	if v, _ := r.Get(b, []byte("2")); string(v) != "v2b" {
		t.Errorf("Get while the disk fails = %q, want the newest queued value", v)
	}
	mu.Lock()
	failing = false
	mu.Unlock()
	waitFor(t, "the queue to be written", func() bool { return string(fileValue(t, r.Store, "enrich", "2")) == "v2b" })
	if v := fileValue(t, r.Store, "enrich", "1"); string(v) != "v1" {
		t.Errorf("after recovery %q", v)
	}
}

func TestPutAsyncRefusesWhatCannotBeStored(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "log.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for name, f := range map[string]func() error{
		"empty key":       func() error { return s.PutAsync([]byte("b"), nil, []byte("v")) },
		"empty bucket":    func() error { return s.PutAsync(nil, []byte("k"), nil) },
		"store's own":     func() error { return s.PutAsync(bucketEvents, []byte("k"), nil) },
		"huge value":      func() error { return s.PutAsync([]byte("b"), []byte("k"), make([]byte, maxAsyncValue+1)) },
		"delete own":      func() error { return s.DeleteAsync(bucketCheckpoints, []byte("k")) },
		"delete no key":   func() error { return s.DeleteAsync([]byte("b"), nil) },
		"sync empty key ": func() error { return s.Put([]byte("b"), nil, nil) },
	} {
		if err := f(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	s.Close()
	if err := s.PutAsync([]byte("b"), []byte("k"), nil); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
}
