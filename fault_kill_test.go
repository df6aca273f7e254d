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
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/ingest/ingesttest"
	"github.com/liqbox/liqbox/loadtest"
	"github.com/liqbox/liqbox/store"
	"github.com/liqbox/liqbox/telegram/telegramtest"
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

// killEvent is one logged event of the kill test: its id (carried in its
// quantity) and whether it was large enough to alert.
type killEvent struct {
	id    int
	alert bool
}

// logEvents opens the log read-only and returns its events in sequence
// order, failing on a sequence gap or repeat.
func logEvents(t testing.TB, path string) []killEvent {
	t.Helper()
	st, err := store.Open(path, store.Options{ReadOnly: true, Metrics: metrics.NewSet()})
	if err != nil {
		t.Fatalf("cannot open the log after the kill: %v", err)
	}
	defer st.Close()
	var evs []killEvent
	var prev uint64
	err = st.Scan(time.Time{}, time.Time{}, func(ev *event.Event) error {
		if ev.Seq != prev+1 {
			t.Errorf("sequence %d follows %d", ev.Seq, prev)
		}
		prev = ev.Seq
		evs = append(evs, killEvent{id: int(ev.Qty), alert: ev.Notional >= 10_000})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// Every killAlertEvery-th frame of the kill test is a liquidation above the
// chat's threshold: ten alerts a second, spaced so that a chat never
// folds them into a digest.
const (
	killFrameEvery = 4 * time.Millisecond
	killAlertEvery = 25
)

// killFrame is the i-th frame of the kill test. Its id is its quantity; its
// exchange time, base+i ms, is unique, so the alert's clock ("time
// HH:MM:SS.mmm") tells which event a message carries.
func killFrame(i int, base int64) ([]byte, bool) {
	id := strconv.Itoa(i + 1)
	l := ingesttest.Liquidation{Symbol: "DOGEUSDT", Side: event.Long, Qty: id, Price: "0.0001", TimeMs: base + int64(i)}
	alert := (i+1)%killAlertEvery == 0
	if alert {
		l.Symbol, l.Price = "ETHUSDT", "3000"
	}
	return ingesttest.AppendBinance(nil, &l), alert
}

// killClock is the clock an alert of id shows.
func killClock(id int, base int64) string {
	return time.UnixMilli(base + int64(id-1)).UTC().Format("15:04:05.000")
}

// TestFaultsSIGKILL kills `liqbox run` with SIGKILL under load, several
// times: at random moments, and while an alert's sendMessage hangs at the
// Bot API (logged, not delivered: the crash between logging and sending).
// After every kill the log holds every event committed before, each
// exactly once, with consecutive sequence numbers. At the end every alert
// whose event was committed reached the chat (young: the test is shorter
// than store.redeliver_max_age), an alert that hung at a kill arrived once
// after the restart, marked "♻️ Redelivered after a restart", and no alert
// arrived twice save the one a random kill may catch between its send and
// its acknowledgement's commit.
func TestFaultsSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and kills it repeatedly")
	}
	dir := t.TempDir()
	bin := buildLiqbox(t, dir)
	ex, err := ingesttest.NewVenue(event.BinanceUSDM, ingesttest.LoopbackOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer ex.Close()
	bot, err := telegramtest.NewServer(telegramtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer bot.Close()
	// hung is told of each sendMessage that arrives while the Bot API
	// hangs: the moment the alert is on its way and not yet delivered.
	var hanging atomic.Bool
	hung := make(chan telegramtest.Request, 16)
	bot.Answer(func(r telegramtest.Request) (int, string, bool) {
		if r.Method == "sendMessage" && hanging.Load() {
			select {
			case hung <- r:
			default:
			}
		}
		return 0, "", false
	})
	data := filepath.Join(dir, "data")
	cfgPath := filepath.Join(dir, "liqbox.conf")
	if err := os.WriteFile(cfgPath, []byte(childConfig(data, ex.URL("/market/stream?streams=!forceOrder@arr"), bot.URL())), 0o600); err != nil {
		t.Fatal(err)
	}
	// The feed runs for the whole test: frames sent while no child is
	// connected are simply missed, as during a real crash. While quiet is
	// set it sends no alert-sized frame, so the one that hangs is alone.
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var quiet atomic.Bool
	base := time.Now().Add(time.Hour).Truncate(time.Hour).UnixMilli()
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ctx.Err() == nil; i++ {
			f, alert := killFrame(i, base)
			if !alert || !quiet.Load() {
				ex.Broadcast(f)
			}
			time.Sleep(killFrameEvery)
		}
	}()
	defer func() { cancel(); wg.Wait() }()

	const kills = 6
	var committed []killEvent
	var hungReqs []telegramtest.Request // per hung kill, the request that hung
	randomKills := 0
	for k := 0; k < kills; k++ {
		stderr, _ := os.Create(filepath.Join(dir, "child"+strconv.Itoa(k)+".log"))
		sentBefore := len(bot.Requests("sendMessage"))
		cmd := exec.Command(bin, "run", "--config", cfgPath)
		cmd.Env = append(os.Environ(), "TELEGRAM_BOT_TOKEN="+telegramtest.Token, "HOLYSHEEP_API_KEY=")
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
		// This run is under way (an alert of its own reached the Bot API)
		// before the clock of the random kill starts: on a loaded box the
		// start alone can outlast the random moment.
		for deadline := time.Now().Add(15 * time.Second); len(bot.Requests("sendMessage")) <= sentBefore; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				cmd.Wait()
				b, _ := os.ReadFile(stderr.Name())
				t.Fatalf("child %d sent no alert in 15 s\n%s", k, b)
			}
		}
		time.Sleep(time.Duration(300+rand.IntN(700)) * time.Millisecond)
		if k%2 == 1 {
			// The next alert hangs at the Bot API; the ones after it
			// would queue behind it, so none is sent until the kill.
			hanging.Store(true)
			bot.SetFault(telegramtest.Hang)
			select {
			case r := <-hung:
				hungReqs = append(hungReqs, r)
			case <-time.After(5 * time.Second):
				t.Fatalf("kill %d: no alert reached the hanging Bot API", k)
			}
			quiet.Store(true)
			// Long enough for its event to be committed (one store batch).
			time.Sleep(100 * time.Millisecond)
		} else {
			randomKills++
		}
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()
		stderr.Close()
		hanging.Store(false)
		bot.SetFault(telegramtest.None)
		quiet.Store(false)
		// Wait for the exchange to see the dead socket before the next start.
		for i := 0; i < 200 && ex.Clients() > 0; i++ {
			time.Sleep(5 * time.Millisecond)
		}
		evs := logEvents(t, filepath.Join(data, "liqbox.db"))
		seen := make(map[int]bool, len(evs))
		for _, e := range evs {
			if seen[e.id] {
				t.Errorf("kill %d: event %d is in the log twice", k, e.id)
			}
			seen[e.id] = true
		}
		for _, e := range committed {
			if !seen[e.id] {
				t.Errorf("kill %d: event %d, committed before, is gone", k, e.id)
			}
		}
		if len(evs) <= len(committed) {
			t.Errorf("kill %d: the log did not grow (%d events)", k, len(evs))
		}
		committed = evs
	}
	// A last run delivers what the last kill left undelivered.
	cmd := exec.Command(bin, "run", "--config", cfgPath)
	cmd.Env = append(os.Environ(), "TELEGRAM_BOT_TOKEN="+telegramtest.Token, "HOLYSHEEP_API_KEY=")
	quiet.Store(true) // nothing new: what arrives now is redelivery
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()

	// What the chat got: each alert by the clock it shows, live or
	// redelivered.
	type got struct{ live, replayed int }
	byClock := map[string]*got{}
	for _, m := range bot.Delivered() {
		if m.Method != "sendMessage" || !strings.Contains(m.Text, " liquidated</b>") {
			if strings.HasPrefix(m.Text, "🌊") {
				t.Errorf("a digest reached the chat; the test spaces alerts so that none should: %q", m.Text)
			}
			continue
		}
		_, rest, ok := strings.Cut(m.Text, "time ")
		if !ok || len(rest) < 12 {
			t.Errorf("alert without its time: %q", m.Text)
			continue
		}
		c := rest[:12]
		g := byClock[c]
		if g == nil {
			g = &got{}
			byClock[c] = g
		}
		if strings.HasPrefix(m.Text, "♻️ <b>Redelivered after a restart</b> · ") {
			g.replayed++
		} else {
			g.live++
		}
	}
	alerts, twice := 0, 0
	for _, e := range committed {
		if !e.alert {
			continue
		}
		alerts++
		g := byClock[killClock(e.id, base)]
		switch {
		case g == nil:
			t.Errorf("alert of event %d was committed and never reached the chat", e.id)
		case g.live > 1:
			t.Errorf("alert of event %d was sent live %d times", e.id, g.live)
		case g.live+g.replayed > 1:
			twice++
		}
	}
	if alerts == 0 {
		t.Fatal("no alert-sized event in the log")
	}
	if twice > randomKills {
		t.Errorf("%d alerts delivered twice over %d random kills: more than the one in flight per kill", twice, randomKills)
	}
	// Each alert that hung at a kill must have come again, once, marked.
	for i, r := range hungReqs {
		_, rest, _ := strings.Cut(r.Text, "time ")
		if len(rest) < 12 {
			t.Errorf("hung kill %d: the hung request carries no alert: %q", i, r.Text)
			continue
		}
		if g := byClock[rest[:12]]; g == nil || g.replayed != 1 || g.live != 0 {
			t.Errorf("hung kill %d: the alert at %s that hung was delivered %+v after the restart, want once, marked as redelivered", i, rest[:12], g)
		}
	}
	t.Logf("%d events committed over %d kills, %d alerts; %d delivered twice", len(committed), kills, alerts, twice)
}
