package service_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/loadtest"
	"github.com/liqbox/liqbox/service"
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
	r := startBox(t, func(c *service.Config, _ *service.Options) { c.General.DataDir = disk })
	id, seq := 0, uint64(0)
	alive := func(what string) {
		t.Helper()
		before := len(r.Bot.Delivered())
		id = pump(r, id, 3)
		seq += 3
		r.waitSeq(seq, 2*time.Second)
		deadline := time.Now().Add(3 * time.Second)
		for len(r.Bot.Delivered()) == before {
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
	for i := 0; i < 20 && metricSum(r, "liqbox_store_write_errors_total") == 0; i++ {
		id = pump(r, id, 200)
		seq += 200
		r.waitSeq(seq, 2*time.Second)
		time.Sleep(50 * time.Millisecond)
	}
	if metricSum(r, "liqbox_store_write_errors_total") == 0 {
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
	r, err := loadtest.StartRig(t.Context(), loadtest.RigOptions{Dir: disk, Edit: func(c *service.Config, _ *service.Options) {
		c.Venues[event.BinanceUSDM].StreamURL = "ws://127.0.0.1:1/market/stream"
	}})
	if err == nil {
		r.Close()
		t.Fatal("the service started on a read-only data directory")
	}
	if !strings.Contains(err.Error(), "read-only file system") {
		t.Errorf("error %q does not say the file system is read-only", err)
	}
}
