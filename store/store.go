// Package store is liqbox's durable log: a bbolt file holding every event,
// the dedup keys that survive restarts, each sink's delivery checkpoint,
// the gap ledger, the writer's own liveness (run record), and small
// key-value state for other packages in buckets they name (chat settings,
// the Telegram offset, enrichment results and usage).
//
// One process writes. The pipeline hands events to Append, which copies them
// into a bounded queue and never waits; Run, the single writer goroutine,
// commits them in groups (one fsync per batch), together with whatever else
// was queued (Ack, PutAsync, DeleteAsync, AddGap) and the heartbeat.
// Read-only opens work while the writer runs: they fetch a consistent
// snapshot from the writer over a unix socket beside the file (see
// snapshot.go).
package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/metricdoc"
)

// SchemaVersion is the layout this binary writes. Files with a lower
// version are migrated at open; files with a higher one are refused.
//
//	1  events, dedup, checkpoints, gaps, meta; generic buckets
//	2  drops the generic buckets nothing used (tg_chats, tg_state, outbox,
//	   telegram_outbox); adds gaps_open (open gaps) and the run record
const SchemaVersion = 2

// The store's own buckets. Every other bucket belongs to the package that
// names it (telegram_chats, telegram_state, enrich, llm_usage) and is
// created on its first write.
var (
	bucketMeta        = []byte("meta")
	bucketEvents      = []byte("events")
	bucketDedup       = []byte("dedup")
	bucketCheckpoints = []byte("checkpoints")
	bucketGaps        = []byte("gaps")
	bucketGapsOpen    = []byte("gaps_open")

	keySchema = []byte("schema")

	internalBuckets = [][]byte{bucketMeta, bucketEvents, bucketDedup, bucketCheckpoints, bucketGaps, bucketGapsOpen}
)

// Options configure a Store. The zero value is usable: defaults fill in.
type Options struct {
	// ReadOnly opens for reading; if a writer holds the file, a snapshot is
	// fetched from it so reads work while `liqbox run` runs.
	ReadOnly bool
	// OpenTimeout is how long to wait for the file lock (default 200 ms).
	// A second writer fails with ErrAlreadyRunning after it.
	OpenTimeout time.Duration
	// BatchMax is the queue depth that triggers a commit before
	// BatchDelay (default 512). A backlog is committed up to 8×BatchMax
	// per transaction.
	BatchMax int
	// BatchDelay is how long a batch gathers writes, counted from the
	// first one the writer sees (default 5 ms); only BatchMax queued
	// events end it early. An event that arrives while the previous batch
	// commits also waits for that commit.
	BatchDelay time.Duration
	// QueueLen bounds the events held in memory waiting for the disk,
	// including while the disk fails (default 65536).
	QueueLen int
	// AsyncMax bounds the other writes queued for the next batch
	// (PutAsync, DeleteAsync, AddGap), counted in distinct keys
	// (default 4096).
	AsyncMax int
	// Heartbeat is how often an idle writer commits its liveness
	// (default 2 s); every batch carries it too. It bounds how far the
	// start of a crash's downtime gap may lie before the crash.
	Heartbeat time.Duration
	// Retention limits the log by age and size; zero fields mean no limit.
	Retention Retention
	// DedupTTL is how long an event's dedup key is kept (default 10 min).
	DedupTTL time.Duration
	// Metrics receives the store's metrics; nil means a private set.
	Metrics *metrics.Set
	// Logger is the store's child logger; nil means slog.Default() with
	// component=store.
	Logger *slog.Logger
}

// Retention bounds the event log.
type Retention struct {
	MaxAge   time.Duration // events older than this by RecvNs are deleted
	MaxBytes int64         // live data above this deletes the oldest events
	Interval time.Duration // how often retention runs (default 30 s)
}

func (o *Options) setDefaults() {
	if o.OpenTimeout <= 0 {
		o.OpenTimeout = 200 * time.Millisecond
	}
	if o.BatchMax <= 0 {
		o.BatchMax = 512
	}
	if o.BatchDelay <= 0 {
		o.BatchDelay = 5 * time.Millisecond
	}
	if o.QueueLen <= 0 {
		o.QueueLen = 65536
	}
	if o.QueueLen < o.BatchMax {
		o.QueueLen = o.BatchMax
	}
	if o.AsyncMax <= 0 {
		o.AsyncMax = 4096
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = 2 * time.Second
	}
	if o.DedupTTL <= 0 {
		o.DedupTTL = 10 * time.Minute
	}
	if o.Retention.Interval <= 0 {
		o.Retention.Interval = 30 * time.Second
	}
	if o.Metrics == nil {
		o.Metrics = metrics.NewSet()
	}
	if o.Logger == nil {
		o.Logger = slog.Default().With("component", "store")
	}
}

// Store is an open log. Its methods are safe for concurrent use; Run must
// be called by exactly one goroutine in a writing store.
type Store struct {
	db   *bolt.DB
	path string // the file the caller named (not the snapshot copy)
	opts Options
	log  *slog.Logger
	m    storeMetrics

	// snapPath is the temporary snapshot a read-only open works on, removed
	// at Close; empty when the file itself is open.
	snapPath string
	srv      *snapshotServer

	// qmu guards the queue ring: qbuf, qhead, qlen; and highRecv, the
	// latest receive time appended (HighRecvNs).
	qmu      sync.Mutex
	qbuf     []event.Event
	qhead    int
	qlen     int
	highRecv int64
	wake     chan struct{} // cap 1: Append nudges the writer

	// commits counts successful commits; cmu guards commitCh, closed at
	// the next one (Committed).
	commits  atomic.Uint64
	cmu      sync.Mutex
	commitCh chan struct{}

	// amu guards acks and ackDirty, the checkpoints not yet persisted.
	amu      sync.Mutex
	acks     map[string]uint64
	ackDirty map[string]struct{}

	// smu guards the side writes waiting for a batch: pend (queued),
	// inflight (taken by the commit in progress, or kept for its retry),
	// and the gap ledger's memory: gapLatest (each stream's latest gap)
	// and gapSeq (the last gap id used).
	smu       sync.Mutex
	pend      map[sideKey]sideOp
	inflight  map[sideKey]sideOp
	gapLatest map[string]*gapRec
	gapSeq    uint64

	// prev is the run record found at open (see PreviousRun); started is
	// when this writer opened the file.
	prev    RunRecord
	prevOK  bool
	started time.Time
	// runState is 0 before Run, 1 while it runs, 2 after it stopped
	// cleanly (the clean-stop marker is written), 3 after it failed.
	runState atomic.Int32

	lastSeq   atomic.Uint64 // highest seq appended (queued or durable)
	durable   atomic.Uint64 // highest seq committed to disk
	fileBytes atomic.Int64

	closeOnce sync.Once
	closed    atomic.Bool

	// failWrite, when set (tests only), is consulted before each commit to
	// simulate a failing disk.
	failWrite func() error
}

type storeMetrics struct {
	appended, dropped, batches, writeErrors *metrics.Counter
	asyncDropped, badRecords                *metrics.Counter
	redelivered, skipped, retained          *metrics.Counter
	batchSize, commitSeconds                *metrics.PrometheusHistogram
}

// Open opens or creates the log at path.
func Open(path string, o Options) (*Store, error) {
	o.setDefaults()
	s := &Store{
		path:      path,
		opts:      o,
		log:       o.Logger,
		acks:      make(map[string]uint64),
		ackDirty:  make(map[string]struct{}),
		pend:      make(map[sideKey]sideOp),
		inflight:  make(map[sideKey]sideOp),
		gapLatest: make(map[string]*gapRec),
		wake:      make(chan struct{}, 1),
	}
	if o.ReadOnly {
		if err := s.openReadOnly(); err != nil {
			return nil, err
		}
	} else {
		if err := s.openWriter(); err != nil {
			return nil, err
		}
		s.qbuf = make([]event.Event, o.QueueLen)
	}
	if err := s.load(); err != nil {
		s.closeFiles()
		return nil, err
	}
	s.registerMetrics()
	if !o.ReadOnly {
		srv, err := startSnapshotServer(s)
		if err != nil {
			// Readers then fail with a clear message; the writer still works.
			s.log.Warn("cannot serve snapshots to read-only commands", "err", err)
		}
		s.srv = srv
	}
	return s, nil
}

func (s *Store) openWriter() error {
	db, err := openBolt(s.path, &bolt.Options{Timeout: s.opts.OpenTimeout})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return fmt.Errorf("cannot open log %s: %w", s.path, ErrAlreadyRunning)
		}
		return fmt.Errorf("cannot open log %s: %w", s.path, err)
	}
	s.db = db
	if err := s.migrate(); err != nil {
		_ = db.Close()
		return err
	}
	return nil
}

func (s *Store) openReadOnly() error {
	if _, err := os.Stat(s.path); err != nil {
		return fmt.Errorf("cannot open log %s: %w", s.path, err)
	}
	// A running writer serves a consistent snapshot; reading its live file
	// from another process is not safe, since the writer reuses freed pages
	// that a foreign reader may still be walking.
	snap, err := fetchSnapshot(s.path)
	switch {
	case err == nil:
		s.snapPath = snap
		db, err := openBolt(snap, &bolt.Options{ReadOnly: true, Timeout: s.opts.OpenTimeout})
		if err != nil {
			_ = os.Remove(snap)
			return fmt.Errorf("cannot open snapshot of log %s: %w", s.path, err)
		}
		s.db = db
	case errors.Is(err, errNoWriter):
		db, err := openBolt(s.path, &bolt.Options{ReadOnly: true, Timeout: s.opts.OpenTimeout})
		if err != nil {
			if errors.Is(err, berrors.ErrTimeout) {
				return fmt.Errorf("cannot open log %s read-only: a writer holds it and serves no snapshot: %w", s.path, err)
			}
			return fmt.Errorf("cannot open log %s: %w", s.path, err)
		}
		s.db = db
	default:
		return fmt.Errorf("cannot open log %s read-only: %w", s.path, err)
	}
	return s.checkSchemaReadOnly()
}

// openBolt opens a bbolt file and turns the panics and format errors that a
// damaged file produces into ErrCorrupt.
func openBolt(path string, bo *bolt.Options) (db *bolt.DB, err error) {
	defer func() {
		// A panic here is bolt.Open's: db was never set.
		catchCorruptValue(recover(), &err)
	}()
	defer faultsPanic()()
	if err := checkFile(path); err != nil {
		return nil, err
	}
	db, err = bolt.Open(path, 0o600, bo)
	if err != nil && isCorruption(err) {
		return nil, fmt.Errorf("%w (%v)%s", ErrCorrupt, err, recoveryHint)
	}
	if err == nil {
		// Touch the roots once, inside recover, so a damaged file fails
		// here with a clear error rather than later in the pipeline.
		if cerr := probe(db); cerr != nil {
			_ = db.Close()
			return nil, cerr
		}
	}
	return db, err
}

// catchCorrupt, deferred, turns a panic of bbolt on a damaged file into
// ErrCorrupt in *err.
func catchCorrupt(err *error) { catchCorruptValue(recover(), err) }

func catchCorruptValue(r any, err *error) {
	if r != nil {
		*err = fmt.Errorf("%w (%v)%s", ErrCorrupt, r, recoveryHint)
	}
}

// faultsPanic makes a memory fault in this goroutine (bbolt reading a
// damaged page through its mmap, or past the end of a file truncated under
// it) a panic, which the caller's recover turns into ErrCorrupt, instead of
// a fatal crash of the process. It returns the function that restores the
// goroutine's previous setting.
func faultsPanic() func() {
	old := debug.SetPanicOnFault(true)
	return func() { debug.SetPanicOnFault(old) }
}

func isCorruption(err error) bool {
	if errors.Is(err, berrors.ErrInvalid) || errors.Is(err, berrors.ErrChecksum) ||
		errors.Is(err, berrors.ErrVersionMismatch) || errors.Is(err, berrors.ErrInvalidMapping) {
		return true
	}
	var pe *os.PathError
	if errors.As(err, &pe) {
		return false
	}
	// bbolt reports short files and bad page sizes as plain errors from
	// its mmap and meta-page checks.
	return !errors.Is(err, berrors.ErrTimeout)
}

// probe walks the top of the tree and the ends of every bucket. Cheap, and
// it catches truncation of the pages that every operation reads.
func probe(db *bolt.DB) (err error) {
	defer catchCorrupt(&err)
	defer faultsPanic()()
	err = db.View(func(tx *bolt.Tx) error {
		if tx.Size() > fileSize(db.Path()) {
			return fmt.Errorf("%w (file is %d bytes, its meta page says %d)%s",
				ErrCorrupt, fileSize(db.Path()), tx.Size(), recoveryHint)
		}
		return tx.ForEach(func(_ []byte, b *bolt.Bucket) error {
			c := b.Cursor()
			c.First()
			c.Last()
			return nil
		})
	})
	return err
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// migrate brings the file to SchemaVersion. Version 0 is a file without a
// meta bucket (new, or written before versioning): its buckets are created.
func (s *Store) migrate() error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		v := uint64(0)
		if b := meta.Get(keySchema); len(b) == 8 {
			v = binary.BigEndian.Uint64(b)
		}
		fresh := v == 0 && tx.Bucket(bucketEvents) == nil
		if v > SchemaVersion {
			return fmt.Errorf("file has schema %d, this binary knows up to %d; upgrade liqbox: %w", v, SchemaVersion, ErrNewerSchema)
		}
		for ; v < SchemaVersion; v++ {
			if err := migrations[v](tx); err != nil {
				return fmt.Errorf("cannot migrate schema %d to %d: %w", v, v+1, err)
			}
			if !fresh {
				s.log.Info("log schema migrated", "from", v, "to", v+1)
			}
		}
		var vb [8]byte
		binary.BigEndian.PutUint64(vb[:], SchemaVersion)
		if err := meta.Put(keySchema, vb[:]); err != nil {
			return err
		}
		return s.beginRun(tx)
	})
	if err != nil {
		return fmt.Errorf("cannot prepare log %s: %w", s.path, err)
	}
	return nil
}

// beginRun, in the writer's opening transaction, reads what the previous
// run left, closes the gaps it left open, and records this run as started
// and not yet stopped: a crash from here on is a crash.
func (s *Store) beginRun(tx *bolt.Tx) error {
	meta := tx.Bucket(bucketMeta)
	if v := meta.Get(keyRun); v != nil {
		r, err := decodeRun(v)
		if err != nil {
			s.log.Warn("ignoring a damaged run record; the downtime before this start is unknown", "err", err)
		} else {
			s.prev, s.prevOK = r, true
		}
	}
	if err := s.settleGaps(tx, s.prev.LastAlive); err != nil {
		return fmt.Errorf("cannot close the gaps the last run left open: %w", err)
	}
	s.started = time.Now()
	return meta.Put(keyRun, encodeRun(nil, s.started, s.started, false))
}

// migrations[v] upgrades a file from schema v to v+1.
var migrations = [SchemaVersion]func(*bolt.Tx) error{
	0: func(tx *bolt.Tx) error {
		return createBuckets(tx, bucketEvents, bucketDedup, bucketCheckpoints, bucketGaps)
	},
	1: func(tx *bolt.Tx) error {
		// Schema 1 declared Telegram buckets under names the bot never
		// used, and the bot's outbox is gone (checkpoints replace it).
		for _, name := range []string{"tg_chats", "tg_state", "outbox", "telegram_outbox"} {
			if err := tx.DeleteBucket([]byte(name)); err != nil && !errors.Is(err, berrors.ErrBucketNotFound) {
				return fmt.Errorf("cannot drop bucket %s: %w", name, err)
			}
		}
		return createBuckets(tx, bucketGapsOpen)
	},
}

func createBuckets(tx *bolt.Tx, names ...[]byte) error {
	for _, name := range names {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) checkSchemaReadOnly() error {
	err := s.db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			return fmt.Errorf("no schema version: not a liqbox log, or never opened by `liqbox run`")
		}
		b := meta.Get(keySchema)
		if len(b) != 8 {
			return fmt.Errorf("bad schema version record: %w", ErrCorrupt)
		}
		v := binary.BigEndian.Uint64(b)
		if v > SchemaVersion {
			return fmt.Errorf("file has schema %d, this binary knows up to %d; upgrade liqbox: %w", v, SchemaVersion, ErrNewerSchema)
		}
		if v < SchemaVersion {
			return fmt.Errorf("file has old schema %d; open it once with `liqbox run` to migrate it", v)
		}
		if v := meta.Get(keyRun); v != nil {
			if r, err := decodeRun(v); err == nil {
				s.prev, s.prevOK = r, true
				s.prev.Running = s.snapPath != ""
			}
		}
		return nil
	})
	if err != nil {
		s.closeFiles()
		return fmt.Errorf("cannot open log %s: %w", s.path, err)
	}
	return nil
}

// load reads the last sequence number and the checkpoints.
func (s *Store) load() error {
	return s.view(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketEvents); b != nil {
			if k, v := b.Cursor().Last(); len(k) == seqKeyLen {
				seq := binary.BigEndian.Uint64(k)
				s.lastSeq.Store(seq)
				s.durable.Store(seq)
				s.highRecv, _ = recordRecvNs(v)
			}
		}
		if b := tx.Bucket(bucketCheckpoints); b != nil {
			if err := b.ForEach(func(k, v []byte) error {
				sink, seq, err := decodeCheckpoint(k, v)
				if err != nil {
					// The sink then gets what it would get with no
					// checkpoint: its young events again.
					s.log.Warn("ignoring a damaged checkpoint", "err", err)
					return nil
				}
				s.acks[sink] = seq
				return nil
			}); err != nil {
				return err
			}
		}
		s.fileBytes.Store(tx.Size())
		return nil
	})
}

// decodeCheckpoint reads one entry of the checkpoints bucket: the sink's
// name (non-empty, at most maxSinkName bytes) and 8 bytes of sequence
// number.
func decodeCheckpoint(k, v []byte) (sink string, seq uint64, err error) {
	if len(k) == 0 || len(k) > maxSinkName || len(v) != 8 {
		return "", 0, fmt.Errorf("cannot decode checkpoint of %d+%d bytes: %w", len(k), len(v), ErrBadRecord)
	}
	return string(k), binary.BigEndian.Uint64(v), nil
}

func (s *Store) registerMetrics() {
	set := s.opts.Metrics
	s.m = storeMetrics{
		appended:      metricdoc.Counter(set, "liqbox_store_appended_total", "Events appended to the log."),
		dropped:       metricdoc.Counter(set, "liqbox_store_dropped_total", "Events not logged because the store queue was full."),
		batches:       metricdoc.Counter(set, "liqbox_store_batches_total", "Write transactions committed."),
		writeErrors:   metricdoc.Counter(set, "liqbox_store_write_errors_total", "Write transactions that failed."),
		asyncDropped:  metricdoc.Counter(set, "liqbox_store_async_dropped_total", "Queued writes (PutAsync, DeleteAsync, AddGap) refused because the write queue was full."),
		badRecords:    metricdoc.Counter(set, "liqbox_store_bad_records_total", "Log records skipped by readers because they do not decode."),
		redelivered:   metricdoc.Counter(set, "liqbox_store_redelivered_total", "Logged events redelivered to a sink after a restart."),
		skipped:       metricdoc.Counter(set, "liqbox_store_redeliver_skipped_total", "Undelivered events too old to redeliver after a restart."),
		retained:      metricdoc.Counter(set, "liqbox_store_retention_deleted_total", "Events deleted by retention."),
		batchSize:     metricdoc.Histogram(set, "liqbox_store_batch_events", "Events per write transaction.", metrics.ExponentialBuckets(1, 4, 8)),
		commitSeconds: metricdoc.Histogram(set, "liqbox_store_commit_seconds", "Duration of one write transaction including fsync.", metrics.ExponentialBuckets(0.0005, 2, 12)),
	}
	metricdoc.Gauge(set, "liqbox_store_queue_depth", "Events waiting to be written to the log.", func() float64 {
		s.qmu.Lock()
		n := s.qlen
		s.qmu.Unlock()
		return float64(n)
	})
	metricdoc.Gauge(set, "liqbox_store_file_bytes", "Size of the log file.", func() float64 { return float64(s.fileBytes.Load()) })
	metricdoc.Gauge(set, "liqbox_store_last_durable_seq", "Highest sequence number known durable.", func() float64 { return float64(s.durable.Load()) })
}

// view runs fn in a read transaction, turning a bbolt panic on a damaged
// page into ErrCorrupt.
func (s *Store) view(fn func(*bolt.Tx) error) (err error) {
	if s.closed.Load() {
		return ErrClosed
	}
	defer catchCorrupt(&err)
	defer faultsPanic()()
	return s.db.View(fn)
}

// update runs fn in a write transaction with the same panic guard.
func (s *Store) update(fn func(*bolt.Tx) error) (err error) {
	if s.closed.Load() {
		return ErrClosed
	}
	if s.opts.ReadOnly {
		return ErrReadOnly
	}
	defer catchCorrupt(&err)
	defer faultsPanic()()
	return s.db.Update(fn)
}

// Path returns the file the store was opened on.
func (s *Store) Path() string { return s.path }

// Size returns the log file's size in bytes.
func (s *Store) Size() int64 {
	if s.snapPath != "" {
		return fileSize(s.snapPath)
	}
	return fileSize(s.path)
}

// Close stops serving snapshots and closes the file. It does not flush the
// queue while Run runs: cancel Run's context and wait for it first. A
// writer whose Run never ran commits what was queued and records the clean
// stop here, as Run does when it ends.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		if s.srv != nil {
			s.srv.close()
		}
		if !s.opts.ReadOnly && s.runState.CompareAndSwap(0, 1) {
			err = s.stop(s.newWriter())
		}
		s.closed.Store(true)
		if cerr := s.closeFiles(); err == nil {
			err = cerr
		}
	})
	return err
}

func (s *Store) closeFiles() error {
	var err error
	if s.db != nil {
		if cerr := s.db.Close(); cerr != nil {
			err = fmt.Errorf("cannot close log %s: %w", s.path, cerr)
		}
	}
	if s.snapPath != "" {
		_ = os.Remove(s.snapPath)
	}
	return err
}
