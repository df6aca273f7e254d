package store

import "errors"

// Errors returned by the store. Callers branch on them with errors.Is.
var (
	// ErrAlreadyRunning means another process holds the log open for writing.
	ErrAlreadyRunning = errors.New("liqbox is already running on this log (the file is locked by another writer)")
	// ErrCorrupt means the file is not a readable bbolt log: truncated,
	// overwritten or damaged. The wrapped message names the recovery command.
	ErrCorrupt = errors.New("log file is corrupt or truncated")
	// ErrNewerSchema means the file was written by a newer liqbox.
	ErrNewerSchema = errors.New("log file has a newer schema than this binary understands")
	// ErrReadOnly is returned by writes on a store opened read-only.
	ErrReadOnly = errors.New("store is open read-only")
	// ErrBadRecord means an event record could not be decoded.
	ErrBadRecord = errors.New("bad event record")
	// ErrQueueFull means a write queued for the next batch (PutAsync,
	// DeleteAsync, AddGap) was refused: AsyncMax writes already wait,
	// because the disk is failing. It is counted in
	// liqbox_store_async_dropped_total.
	ErrQueueFull = errors.New("the log's write queue is full")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("store is closed")
)

// recoveryHint is appended to corruption errors so the operator knows what
// to run next.
const recoveryHint = "; move the file aside and restore from a backup (`liqbox backup`), " +
	"or try `liqbox compact --db FILE --out NEW` to copy what is still readable"
