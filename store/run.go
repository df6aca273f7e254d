package store

import (
	"encoding/binary"
	"fmt"
	"time"
)

// The writer records its own liveness in the meta bucket, so the next run
// knows how long the box was blind: the run record holds when the run
// started, its last heartbeat, and whether it stopped cleanly. The
// heartbeat is the time of the writer's latest commit: every batch carries
// it (no extra fsync while events flow; the meta bucket is small enough
// that bbolt keeps it inside a page the commit writes anyway), and an idle
// writer commits it alone every Heartbeat. So a crash happened at most
// Heartbeat plus one commit after the recorded LastAlive.
//
// Layout (key "run"): version (1), started (8 bytes, Unix ns, big-endian),
// last alive (8), flags (1; bit 0 = stopped cleanly).
const (
	runRecordV1  = 1
	runRecordLen = 18
	runClean     = 1
)

var keyRun = []byte("run")

// RunRecord is what the file says about a writer's life.
type RunRecord struct {
	Started   time.Time // when that run opened the file for writing
	LastAlive time.Time // its last heartbeat, or its clean stop
	// Clean is true when it stopped cleanly (Run returned after its
	// context ended, or Close without Run), false when it crashed or, for
	// a read-only open, is still running.
	Clean bool
	// Running is true for a read-only open served by the running writer:
	// the record describes the current run, LastAlive at most one
	// heartbeat old.
	Running bool
}

// PreviousRun returns what the file recorded about its writer before this
// open: for a writer, the run before this one (ok is false for a new file,
// or one written before run records existed); for a read-only open, the
// current run if one is writing (Running), else the last one. The service
// hands it to each stream so that its first gap runs from LastAlive to the
// first live connection, with cause "liqbox not running" (Clean) or
// "liqbox crashed".
func (s *Store) PreviousRun() (r RunRecord, ok bool) {
	return s.prev, s.prevOK
}

func encodeRun(b []byte, started, alive time.Time, clean bool) []byte {
	b = append(b[:0], runRecordV1)
	b = binary.BigEndian.AppendUint64(b, uint64(started.UnixNano()))
	b = binary.BigEndian.AppendUint64(b, uint64(alive.UnixNano()))
	var f byte
	if clean {
		f = runClean
	}
	return append(b, f)
}

// decodeRun reads a run record, refusing any other length, version or
// flag, and times before 1970. (A heartbeat may precede the start if the
// clock stepped back.)
func decodeRun(v []byte) (RunRecord, error) {
	if len(v) != runRecordLen || v[0] != runRecordV1 || v[17]&^runClean != 0 {
		return RunRecord{}, fmt.Errorf("cannot decode run record of %d bytes: %w", len(v), ErrBadRecord)
	}
	started := int64(binary.BigEndian.Uint64(v[1:]))
	alive := int64(binary.BigEndian.Uint64(v[9:]))
	if started <= 0 || alive <= 0 {
		return RunRecord{}, fmt.Errorf("cannot decode run record: started %d, alive %d: %w", started, alive, ErrBadRecord)
	}
	return RunRecord{Started: time.Unix(0, started), LastAlive: time.Unix(0, alive), Clean: v[17]&runClean != 0}, nil
}
