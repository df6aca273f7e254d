package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/liqbox/liqbox/bus/bustest"
	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/ingest/ingesttest"
)

// BenchmarkBusEdgeOverhead is what publishing costs an edge box: the real
// binary (`liqbox run`, fsync on) fed 2,000 liquidations a second for 20 s
// by a loopback exchange, without the bus and publishing to a loopback
// nats-server, twice each, interleaved. The child's own CPU time
// (/proc/PID/stat) and memory (RssAnon sampled every 100 ms, VmHWM) are
// measured; the exchange, the Bot API and the nats-server run in this
// process and are not counted.
//
//	go test -run XXX -bench BenchmarkBusEdgeOverhead -benchtime 1x .
func BenchmarkBusEdgeOverhead(b *testing.B) {
	dir := b.TempDir()
	bin := buildLiqbox(b, dir)
	nats, err := bustest.Start(bustest.Options{Dir: filepath.Join(dir, "nats")})
	if err != nil {
		b.Fatal(err)
	}
	defer nats.Stop()
	// Interleaved, twice each: the machine's other load shifts between runs.
	for k, publish := range []bool{false, true, false, true} {
		name := "off"
		if publish {
			name = "publish"
		}
		name += strconv.Itoa(k / 2)
		idle, cpu, anon, hwm, events := edgeRun(b, bin, filepath.Join(dir, name), nats.URL(), publish)
		b.ReportMetric(idle*100, name+"-idle-cpu-%")
		b.ReportMetric(cpu*100, name+"-cpu-%")
		b.ReportMetric(float64(anon)/(1<<20), name+"-rssanon-MiB")
		b.ReportMetric(float64(hwm)/(1<<20), name+"-vmhwm-MiB")
		b.ReportMetric(float64(events), name+"-events")
	}
}

// edgeRun runs the edge box for the measurement and returns its CPU share
// of one core over 10 s idle (connected, no liquidation) and over the feed,
// its peak private memory and VmHWM, and the events its log holds.
func edgeRun(b *testing.B, bin, dir, natsURL string, publish bool) (idle, cpu float64, anon, hwm int64, events int) {
	ex, bot := loopbackPeers(b)
	// No alert reaches the Bot API (every event is far below the chat's
	// threshold): the box's work is the feed, the log and the bus.
	conf := strings.Replace(childConfig(dir, ex.URL("/market/stream?streams=!forceOrder@arr"), bot.URL()),
		"min_usd = 10k", "min_usd = 1000m", 1)
	if publish {
		conf += "[bus]\nurl = " + natsURL + "\nbox_name = edge-1\npublish = true\n"
	}
	cfgPath := filepath.Join(filepath.Dir(dir), filepath.Base(dir)+".conf")
	os.WriteFile(cfgPath, []byte(conf), 0o600)
	cmd := runChild(b, bin, cfgPath, dir+".log", ex)
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	time.Sleep(time.Second) // settle after start
	pid := cmd.Process.Pid
	c0, t0 := procCPU(pid), time.Now()
	time.Sleep(10 * time.Second)
	idle = (procCPU(pid) - c0).Seconds() / time.Since(t0).Seconds()
	c0, t0 = procCPU(pid), time.Now()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() { // memory, sampled
		defer wg.Done()
		tk := time.NewTicker(100 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tk.C:
				anon = max(anon, procStatusOf(pid, "RssAnon"))
			}
		}
	}()
	const rate, seconds = 2000, 20
	base := time.Now().Add(time.Hour).UnixMilli()
	tk := time.NewTicker(time.Millisecond)
	for i := 0; i < rate*seconds; {
		<-tk.C
		for j := 0; j < rate/1000; j++ {
			q := strconv.Itoa(i + 1)
			ex.Broadcast(ingesttest.AppendBinance(nil, &ingesttest.Liquidation{Symbol: "ETHUSDT", Side: event.Long, Qty: q, Price: "3000", AvgPrice: "3000", TimeMs: base + int64(i)}))
			i++
		}
	}
	tk.Stop()
	cpuUsed := procCPU(pid) - c0
	wall := time.Since(t0)
	hwm = procStatusOf(pid, "VmHWM")
	close(stop)
	wg.Wait()
	time.Sleep(500 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
	events = len(logEvents(b, filepath.Join(dir, "liqbox.db")))
	return idle, cpuUsed.Seconds() / wall.Seconds(), anon, hwm, events
}

// procCPU is a process's user plus system CPU time.
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ
}

// procStatusOf reads a "kB" field of /proc/PID/status, in bytes.
func procStatusOf(pid int, field string) int64 {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n << 10
		}
	}
	return 0
}
