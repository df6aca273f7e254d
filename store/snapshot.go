package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Read-only commands must work while `liqbox run` writes the file. bbolt's
// own answer, a shared flock, waits for the writer's exclusive lock; and
// reading the live file from a second process without the lock would not be
// safe, because the writer reuses pages that the foreign reader cannot tell
// it is still walking. So the writer serves consistent snapshots
// (tx.WriteTo inside a read transaction) on a unix socket beside the file,
// with the file's own permissions, and a read-only open copies one to a
// temporary file and reads that.

// errNoWriter means no writer answered on the snapshot socket.
var errNoWriter = errors.New("no writer is serving the log")

// socketPath is where the writer of path listens.
func socketPath(path string) string { return path + ".sock" }

// snapshotServer is the writer's side.
type snapshotServer struct {
	ln   net.Listener
	path string
	wg   sync.WaitGroup
}

func startSnapshotServer(s *Store) (*snapshotServer, error) {
	sock := socketPath(s.path)
	// We hold the file's exclusive lock, so a socket left here is stale
	// (a writer killed with SIGKILL).
	_ = os.Remove(sock)
	ln, err := net.Listen("unix", sock)
	if err != nil {
		return nil, fmt.Errorf("cannot listen on %s: %w", sock, err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(true)
	if err := os.Chmod(sock, 0o600); err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("cannot restrict %s: %w", sock, err)
	}
	srv := &snapshotServer{ln: ln, path: sock}
	srv.wg.Add(1)
	go func() {
		defer srv.wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return // closed
			}
			srv.wg.Add(1)
			go func() {
				defer srv.wg.Done()
				defer conn.Close()
				if err := s.serveSnapshot(conn); err != nil {
					s.log.Warn("cannot send snapshot to a read-only command", "err", err)
				}
			}()
		}
	}()
	return srv, nil
}

func (srv *snapshotServer) close() {
	_ = srv.ln.Close()
	srv.wg.Wait()
}

// serveSnapshot writes the snapshot's size, then the snapshot.
func (s *Store) serveSnapshot(conn net.Conn) error {
	return s.view(func(tx *bolt.Tx) error {
		var hdr [8]byte
		binary.BigEndian.PutUint64(hdr[:], uint64(tx.Size()))
		if _, err := conn.Write(hdr[:]); err != nil {
			return err
		}
		_, err := tx.WriteTo(conn)
		return err
	})
}

// fetchSnapshot asks the writer of path for a snapshot and stores it in a
// temporary file, whose name it returns.
func fetchSnapshot(path string) (string, error) {
	conn, err := net.DialTimeout("unix", socketPath(path), 2*time.Second)
	if err != nil {
		if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED) {
			return "", errNoWriter
		}
		return "", fmt.Errorf("cannot reach the running writer: %w", err)
	}
	defer conn.Close()
	var hdr [8]byte
	if _, err := io.ReadFull(conn, hdr[:]); err != nil {
		return "", fmt.Errorf("cannot read snapshot header: %w", err)
	}
	want := int64(binary.BigEndian.Uint64(hdr[:]))
	// Beside the log first: that disk was sized for it, while /tmp on a
	// small ARM box is often a RAM-backed tmpfs. A reader without write
	// access there (another user) falls back to the temp directory.
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".snapshot-*")
	if err != nil {
		f, err = os.CreateTemp("", "liqbox-snapshot-*.db")
	}
	if err != nil {
		return "", fmt.Errorf("cannot create snapshot file: %w", err)
	}
	n, err := io.Copy(f, conn)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && n != want {
		err = fmt.Errorf("got %d of %d bytes", n, want)
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return "", fmt.Errorf("cannot copy snapshot of %s: %w", filepath.Base(path), err)
	}
	return f.Name(), nil
}

// Backup writes a consistent copy of the log to w while the store stays in
// use (a hot backup: one long read transaction).
func (s *Store) Backup(w io.Writer) error {
	err := s.view(func(tx *bolt.Tx) error {
		_, err := tx.WriteTo(w)
		return err
	})
	if err != nil {
		return fmt.Errorf("cannot back up log: %w", err)
	}
	return nil
}

// BackupFile writes a hot backup to path, atomically: a temporary file in
// the same directory, fsynced, then renamed.
func (s *Store) BackupFile(path string) error {
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("cannot create backup file: %w", err)
	}
	tmp := f.Name()
	err = s.Backup(f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("cannot write backup %s: %w", path, err)
	}
	return nil
}

// Compact copies the log at src into a new, compact file at dst, offline
// (src must not be open by a writer). dst must not exist.
func Compact(src, dst string) (err error) {
	if _, err := os.Stat(dst); err == nil {
		return fmt.Errorf("cannot compact into %s: file exists", dst)
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("cannot compact %s: %w (%v)", src, ErrCorrupt, r)
		}
	}()
	defer faultsPanic()()
	in, err := openBolt(src, &bolt.Options{ReadOnly: true, Timeout: 200 * time.Millisecond})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return fmt.Errorf("cannot compact %s: %w", src, ErrAlreadyRunning)
		}
		return fmt.Errorf("cannot compact %s: %w", src, err)
	}
	defer in.Close()
	out, err := bolt.Open(dst, 0o600, &bolt.Options{Timeout: 200 * time.Millisecond})
	if err != nil {
		return fmt.Errorf("cannot create %s: %w", dst, err)
	}
	if err := bolt.Compact(out, in, 64<<20); err != nil {
		_ = out.Close()
		_ = os.Remove(dst)
		return fmt.Errorf("cannot compact %s into %s: %w", src, dst, err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("cannot close %s: %w", dst, err)
	}
	return nil
}
