package main

import (
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// mountTmpfs mounts a size-limited tmpfs, or skips when this is not root
// on Linux with mount available.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a size-limited tmpfs")
	}
	dir := filepath.Join(t.TempDir(), "disk")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	return dir
}

// TestFaultsDiskFull: the log's file system fills up. Writes fail and are counted; alerts keep reaching
// Telegram and the pipeline keeps numbering events throughout.
func TestFaultsDiskFull(t *testing.T) {
	disk := mountTmpfs(t, "320k")
	r := startRig(t, func(c *Config) { c.General.DataDir = disk })
	id, seq := 0, uint64(0)
	alive := func(what string) {
		t.Helper()
		before := len(r.bot.messages())
		id = pump(r, id, 3)
		seq += 3
		r.waitSeq(seq, 2*time.Second)
		deadline := time.Now().Add(3 * time.Second)
		for len(r.bot.messages()) == before {
			if time.Now().After(deadline) {
				t.Fatalf("%s: no alert reached Telegram", what)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	alive("healthy disk")
	// Fill the disk: the log's own growth plus a filler file.
	filler, _ := os.Create(filepath.Join(disk, "filler"))
	buf := make([]byte, 4096)
	for {
		if _, err := filler.Write(buf); err != nil {
			break
		}
	}
	filler.Close()
	for i := 0; i < 20 && metricSum(r.svc.set, "liqbox_store_write_errors_total") == 0; i++ {
		id = pump(r, id, 200)
		seq += 200
		r.waitSeq(seq, 2*time.Second)
		time.Sleep(50 * time.Millisecond)
	}
	if metricSum(r.svc.set, "liqbox_store_write_errors_total") == 0 {
		t.Fatal("a full disk caused no counted write error")
	}
	alive("disk full")
}

// TestFaultsReadOnlyDataDir: a data directory on a read-only file system
// (Linux refuses to remount one read-only while the log is open, so this is
// the at-start case) fails at start with an error that names the problem,
// instead of running blind.
func TestFaultsReadOnlyDataDir(t *testing.T) {
	disk := mountTmpfs(t, "64k")
	if out, err := exec.Command("mount", "-o", "remount,ro", disk).CombinedOutput(); err != nil {
		t.Skipf("remount ro: %v %s", err, out)
	}
	cfg, err := LoadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	benchConfig(cfg, "ws://127.0.0.1:1/market/stream", disk, 1)
	svc, err := newService(serviceOptions{Config: cfg, Logger: discardLogger(), Stdout: io.Discard, Listener: "127.0.0.1:0", TGToken: testTGToken})
	if err == nil {
		svc.store.Close()
		t.Fatal("the service started on a read-only data directory")
	}
	if !strings.Contains(err.Error(), "read-only file system") {
		t.Errorf("error %q does not say the file system is read-only", err)
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
