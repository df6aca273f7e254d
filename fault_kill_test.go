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

	"github.com/liqbox/liqbox/demo"
	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/ingest/ingesttest"
	"github.com/liqbox/liqbox/loadtest"
	"github.com/liqbox/liqbox/store"
)

// buildLiqbox compiles the binary into dir once per test.
func buildLiqbox(t testing.TB, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "liqbox")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// otherVenuesOff disables every venue but Binance USD-M, so that the child
// never dials a real exchange, whatever the default enables.
func otherVenuesOff() string {
	var b strings.Builder
	for _, v := range event.Venues() {
		if v != event.BinanceUSDM {
			b.WriteString("[venue." + v.String() + "]\nenabled = false\n")
		}
	}
	return b.String()
}

// childConfig is a config file for `liqbox run` against loopback peers.
func childConfig(dataDir, wsURL, botURL string) string {
	return `[general]
data_dir = ` + dataDir + `
log_level = info
[http]
listen = 127.0.0.1:0
[venue.binance-usdm]
enabled = true
stream_url = ` + wsURL + `
conns = 1
` + otherVenuesOff() + `[telegram]
enabled = true
api_url = ` + botURL + `
chats = ` + strconv.FormatInt(loadtest.BenchChat, 10) + `
min_usd = 10k
[telegram.limits]
per_chat = 1ms
global = 1ms
[enrich]
enabled = false
`
}

// logIDs opens the log read-only and returns each event's id (carried in
// its quantity) in sequence order, failing on a sequence gap or repeat.
func logIDs(t testing.TB, path string) []int {
	t.Helper()
	st, err := store.Open(path, store.Options{ReadOnly: true, Metrics: metrics.NewSet()})
	if err != nil {
		t.Fatalf("cannot open the log after the kill: %v", err)
	}
	defer st.Close()
	var ids []int
	var prev uint64
	err = st.Scan(time.Time{}, time.Time{}, func(ev *event.Event) error {
		if ev.Seq != prev+1 {
			t.Errorf("sequence %d follows %d", ev.Seq, prev)
		}
		prev = ev.Seq
		ids = append(ids, int(ev.Qty))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// TestFaultsSIGKILL kills `liqbox run` with SIGKILL at random moments under
// load, several times. After every kill the log holds every event committed
// before, each exactly once, with consecutive sequence numbers; and no
// alert reaches Telegram twice, save the one that may have been in flight
// (sent, not yet acknowledged) at each kill.
func TestFaultsSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and kills it repeatedly")
	}
	dir := t.TempDir()
	bin := buildLiqbox(t, dir)
	ex, err := ingesttest.NewLoopback(ingesttest.LoopbackOptions{Path: "/market/stream"})
	if err != nil {
		t.Fatal(err)
	}
	defer ex.Close()
	bot, err := loadtest.NewBotAPI()
	if err != nil {
		t.Fatal(err)
	}
	defer bot.Close()
	data := filepath.Join(dir, "data")
	cfgPath := filepath.Join(dir, "liqbox.conf")
	if err := os.WriteFile(cfgPath, []byte(childConfig(data, ex.URL("/market/stream?streams=!forceOrder@arr"), bot.URL())), 0o600); err != nil {
		t.Fatal(err)
	}
	// The feed runs for the whole test: frames sent while no child is
	// connected are simply missed, as during a real crash.
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		base := time.Now().Add(time.Hour).UnixMilli()
		for i := 0; ctx.Err() == nil; i++ {
			q := strconv.Itoa(i + 1)
			ex.Broadcast(demo.AppendFrame(nil, &demo.Row{Symbol: "ETHUSDT", Side: "SELL", Qty: q, Price: "3000", AvgPrice: "3000", LastQty: q, FilledQty: q}, base+int64(i)))
			time.Sleep(4 * time.Millisecond)
		}
	}()
	defer func() { cancel(); wg.Wait() }()

	const kills = 4
	var committed []int
	for k := 0; k < kills; k++ {
		stderr, _ := os.Create(filepath.Join(dir, "child"+strconv.Itoa(k)+".log"))
		cmd := exec.Command(bin, "run", "--config", cfgPath)
		cmd.Env = append(os.Environ(), "TELEGRAM_BOT_TOKEN="+loadtest.BenchToken, "HOLYSHEEP_API_KEY=")
		cmd.Stdout, cmd.Stderr = stderr, stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := ex.WaitClients(wctx, 1)
		wcancel()
		if err != nil {
			cmd.Process.Kill()
			cmd.Wait()
			b, _ := os.ReadFile(stderr.Name())
			t.Fatalf("child %d did not connect: %v\n%s", k, err, b)
		}
		time.Sleep(time.Duration(300+rand.IntN(700)) * time.Millisecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()
		stderr.Close()
		// Wait for the exchange to see the dead socket before the next start.
		for i := 0; i < 200 && ex.Clients() > 0; i++ {
			time.Sleep(5 * time.Millisecond)
		}
		ids := logIDs(t, filepath.Join(data, "liqbox.db"))
		seen := make(map[int]bool, len(ids))
		for _, id := range ids {
			if seen[id] {
				t.Errorf("kill %d: event %d is in the log twice", k, id)
			}
			seen[id] = true
		}
		for _, id := range committed {
			if !seen[id] {
				t.Errorf("kill %d: event %d, committed before, is gone", k, id)
			}
		}
		if len(ids) <= len(committed) {
			t.Errorf("kill %d: the log did not grow (%d events)", k, len(ids))
		}
		committed = ids
	}
	sent := map[string]int{}
	dups := 0
	for _, m := range bot.Messages() {
		if m.Method != "sendMessage" || !strings.Contains(m.Text, " liquidated</b>") {
			continue
		}
		key := m.Text[:strings.LastIndex(m.Text, "on-box")]
		sent[key]++
		if sent[key] > 1 {
			dups++
		}
	}
	if len(sent) == 0 {
		t.Fatal("no alert reached the Bot API")
	}
	if dups > kills {
		t.Errorf("%d alerts delivered twice over %d kills: more than the one in flight per kill", dups, kills)
	}
	t.Logf("%d events committed over %d kills; %d distinct alerts, %d repeated", len(committed), kills, len(sent), dups)
}
