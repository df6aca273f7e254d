package main

import (
	"context"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/liqbox/liqbox/bus/bustest"
	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/ingest/ingesttest"
	"github.com/liqbox/liqbox/loadtest"
	"github.com/liqbox/liqbox/service"
	"github.com/liqbox/liqbox/store"
	"github.com/liqbox/liqbox/telegram/telegramtest"
)

// TestFaultsBusSIGKILL kills an edge box (`liqbox run`, the real binary)
// with SIGKILL at random moments while it publishes, several times, then
// lets it run once more to publish what it committed last. The central
// box (the service in this process, consuming) ends with every event of
// the edge box's log exactly once, and nothing else.
func TestFaultsBusSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and kills it repeatedly")
	}
	dir := t.TempDir()
	bin := buildLiqbox(t, dir)
	nats, err := bustest.Start(bustest.Options{Dir: filepath.Join(dir, "nats")})
	if err != nil {
		t.Fatal(err)
	}
	defer nats.Stop()
	ex, bot := loopbackPeers(t)

	central, err := loadtest.StartRig(context.Background(), loadtest.RigOptions{Dir: filepath.Join(dir, "central"),
		Edit: func(c *service.Config, o *service.Options) {
			for _, vs := range c.Venues {
				vs.Enabled = false
			}
			c.Telegram.Enabled = false
			c.Bus.URL, c.Bus.BoxName, c.Bus.Consume = nats.URL(), "central", true
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer central.Close()

	data := filepath.Join(dir, "edge")
	cfgPath := filepath.Join(dir, "edge.conf")
	conf := childConfig(data, ex.URL("/market/stream?streams=!forceOrder@arr"), bot.URL()) +
		"[bus]\nurl = " + nats.URL() + "\nbox_name = edge-1\npublish = true\n"
	if err := os.WriteFile(cfgPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		base := time.Now().Add(time.Hour).UnixMilli()
		for i := 0; ctx.Err() == nil; i++ {
			q := strconv.Itoa(i + 1)
			ex.Broadcast(ingesttest.AppendBinance(nil, &ingesttest.Liquidation{Symbol: "ETHUSDT", Side: event.Long, Qty: q, Price: "3000", AvgPrice: "3000", TimeMs: base + int64(i)}))
			time.Sleep(2 * time.Millisecond)
		}
	}()
	stopFeed := func() { cancel(); wg.Wait() }
	defer stopFeed()

	start := func(k int) (*exec.Cmd, string) {
		logPath := filepath.Join(dir, "edge"+strconv.Itoa(k)+".log")
		return runChild(t, bin, cfgPath, logPath, ex), logPath
	}
	waitGone := func() {
		for i := 0; i < 200 && ex.Clients() > 0; i++ {
			time.Sleep(5 * time.Millisecond)
		}
	}
	const kills = 4
	for k := 0; k < kills; k++ {
		cmd, _ := start(k)
		time.Sleep(time.Duration(500+rand.IntN(1000)) * time.Millisecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()
		waitGone()
	}
	// The last run publishes what the kills left behind, and stops cleanly.
	stopFeed()
	cmd, logPath := start(kills)
	edgeLog := filepath.Join(data, "liqbox.db")
	deadline := time.Now().Add(30 * time.Second)
	for {
		n, _ := countLog(t, edgeLog)
		if uint64(n) > 0 && central.Service.Store().Durable() >= uint64(n) {
			break
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(logPath)
			t.Fatalf("the central box has %d events, the edge box %d\n%s", central.Service.Store().Durable(), n, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(time.Second) // anything extra would arrive now
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		b, _ := os.ReadFile(logPath)
		t.Fatalf("the last edge run: %v\n%s", err, b)
	}

	sent := logKeys(t, edgeLog)
	var got []uint64
	central.Service.Store().Scan(time.Time{}, time.Time{}, func(ev *event.Event) error {
		got = append(got, ev.Key())
		return nil
	})
	seen := map[uint64]int{}
	for _, k := range got {
		seen[k]++
	}
	missing, twice := 0, 0
	for _, k := range sent {
		switch seen[k] {
		case 0:
			missing++
		case 1:
		default:
			twice++
		}
	}
	if missing > 0 || twice > 0 || len(got) != len(sent) {
		t.Fatalf("edge logged %d, central %d: %d missing, %d twice", len(sent), len(got), missing, twice)
	}
	consumed := loadtest.CounterSum(central.Service.Metrics(), `liqbox_bus_consumed_total`)
	t.Logf("%d events over %d kills of the edge box, each at the central box once (%v messages consumed, %v duplicates dropped)",
		len(sent), kills, consumed, loadtest.CounterSum(central.Service.Metrics(), "liqbox_pipeline_duplicates_total"))
}

func countLog(t *testing.T, path string) (int, error) {
	st, err := store.Open(path, store.Options{ReadOnly: true, Metrics: metrics.NewSet()})
	if err != nil {
		return 0, err
	}
	defer st.Close()
	return st.Count()
}

// logKeys reads a closed log's event identities in order.
func logKeys(t *testing.T, path string) []uint64 {
	t.Helper()
	st, err := store.Open(path, store.Options{ReadOnly: true, Metrics: metrics.NewSet()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var out []uint64
	if err := st.Scan(time.Time{}, time.Time{}, func(ev *event.Event) error {
		out = append(out, ev.Key())
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestBinaryLinksNoServer: the nats-server is a test dependency; the
// binary links only the client.
func TestBinaryLinksNoServer(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "nats-server") {
		t.Fatal("the liqbox binary links nats-server: bus/bustest is imported outside a _test.go file")
	}
	if !strings.Contains(string(out), "github.com/nats-io/nats.go") {
		t.Fatal("the binary does not link nats.go: is the bus wired?")
	}
}

// loopbackPeers starts a loopback Binance USD-M exchange and Bot API for a
// child `liqbox run`, closed when the test ends.
func loopbackPeers(tb testing.TB) (*ingesttest.Loopback, *telegramtest.Server) {
	tb.Helper()
	ex, err := ingesttest.NewLoopback(ingesttest.LoopbackOptions{Path: "/market/stream"})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ex.Close() })
	bot, err := telegramtest.NewServer(telegramtest.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(bot.Close)
	return ex, bot
}

// runChild starts `liqbox run --config cfgPath` with its output in logPath
// and waits until it has connected to ex.
func runChild(tb testing.TB, bin, cfgPath, logPath string, ex *ingesttest.Loopback) *exec.Cmd {
	tb.Helper()
	out, err := os.Create(logPath)
	if err != nil {
		tb.Fatal(err)
	}
	defer out.Close()
	cmd := exec.Command(bin, "run", "--config", cfgPath)
	cmd.Env = append(os.Environ(), "TELEGRAM_BOT_TOKEN="+telegramtest.Token, "HOLYSHEEP_API_KEY=")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ex.WaitClients(ctx, 1); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		b, _ := os.ReadFile(logPath)
		tb.Fatalf("liqbox run did not connect: %v\n%s", err, b)
	}
	return cmd
}
