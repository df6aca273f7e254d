package loadtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/liqbox/liqbox/cascade"
	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/ingest/ingesttest"
	"github.com/liqbox/liqbox/retry"
	"github.com/liqbox/liqbox/service"
	"github.com/liqbox/liqbox/telegram/telegramtest"
)

// `liqbox bench --pattern cascade`: frame → cascade alert at the Bot API.
// Background liquidations (the embedded recordings, restamped) stream at
// Rate through the loopback exchange while, every Every, a burst on an
// asset of its own crosses that asset's cascade rule: BurstFrames
// liquidations of $300K in a row, the rule $1M within a minute, so the
// fourth frame crosses. Each burst has an asset of its own (the chat has
// one rule per burst), so no rule waits out its quiet period and every
// burst is a first crossing. The chat's raw-alert threshold is above every
// frame, so the cascade alerts are all that spend its Telegram budget, and
// Every (1.5 s) is longer than Telegram's one message a second per chat:
// what is measured is the box, not Telegram's limit. Each cascade is
// timed from the moment the crossing frame was handed to the loopback
// exchange, and from the crossing liquidation's receive stamp (through
// Observer.Cascade), to its sendMessage arriving at the loopback Bot API.

// CascadeOptions are `liqbox bench --pattern cascade`'s flags.
type CascadeOptions struct {
	Rate   int           // background frames per second
	Bursts int           // cascades to cross, one asset each
	Every  time.Duration // between bursts
	Conns  int           // connections to the loopback exchange
	Dir    string        // directory for the log (default: a temporary one)
}

// burstFrames is the burst's length; the rule crosses at crossAt (0-based).
const (
	burstFrames = 5
	crossAt     = 3
	burstUSD    = 300_000
)

// CascadeResult is what a cascade bench measured.
type CascadeResult struct {
	o            CascadeOptions
	sent         int64 // background frames
	fromFrame    []time.Duration
	fromReceive  []time.Duration
	missing      []string // assets whose cascade alert never arrived
	extra        int      // cascade messages beyond one per burst
	load0, load1 string
	cpuName      string
	failed       bool
	notes        []string
}

// burstAsset names burst i's asset: CX000, CX001, … (no real coin).
func burstAsset(i int) string { return fmt.Sprintf("CX%03d", i) }

// RunCascade runs the cascade pattern on a Rig and measures it.
func RunCascade(ctx context.Context, o CascadeOptions, logw io.Writer) (*CascadeResult, error) {
	if o.Bursts <= 0 || o.Rate < 0 || o.Every <= 0 || o.Conns <= 0 {
		return nil, errors.New("--bursts, --every and --conns must be positive, --rate not negative")
	}
	r := &CascadeResult{o: o, load0: loadAvg(), cpuName: cpuModel()}
	src, err := newFrameSource()
	if err != nil {
		return nil, err
	}
	var rules []cascade.Rule
	for i := 0; i < o.Bursts; i++ {
		rule, err := cascade.ParseSpec(burstAsset(i) + ":1M:1m")
		if err != nil {
			return nil, err
		}
		rules = append(rules, rule)
	}
	var mu sync.Mutex           // guards fired
	fired := map[string]int64{} // asset → receive time of the crossing liquidation
	rig, err := StartRig(ctx, RigOptions{Dir: o.Dir, Conns: o.Conns, Edit: func(c *service.Config, so *service.Options) {
		c.Telegram.MinUSD = 10e6 // no raw alert: the cascade alerts have the budget
		// One rule per burst: more than a chat may set with /cascade, on
		// purpose (the limit is the command's, not the engine's).
		c.Telegram.Cascades = rules
		c.Enrich.Enabled = false
		so.Logger = service.NewLogger(logw, c)
		so.Observer.Cascade = func(x *cascade.Snapshot) {
			if x.State == cascade.Open && x.Version == 1 {
				mu.Lock()
				fired[x.Rule.Asset.String()] = x.FiredNs
				mu.Unlock()
			}
		}
	}})
	if err != nil {
		return nil, err
	}
	defer rig.Close()
	ex, bot := rig.Exchange, rig.Bot

	total := time.Duration(o.Bursts)*o.Every + time.Second
	bg := make(chan int64, 1)
	bctx, stopBG := context.WithCancel(ctx)
	go func() { bg <- emit(bctx, ex, src, o.Rate, total) }()
	crossedAt := make([]time.Time, o.Bursts)
	t0 := time.Now()
	for i := 0; i < o.Bursts && ctx.Err() == nil; i++ {
		if d := time.Until(t0.Add(time.Duration(i) * o.Every)); d > 0 {
			retry.Sleep(ctx, d)
		}
		sym := burstAsset(i) + "USDT"
		for k := 0; k < burstFrames; k++ {
			row := ingesttest.Liquidation{Symbol: sym, Side: event.Long, Qty: "3", Price: "100000", AvgPrice: "100000", TimeMs: time.Now().UnixMilli()}
			f := ingesttest.AppendBinance(make([]byte, 0, 320), &row)
			if k == crossAt {
				crossedAt[i] = time.Now()
			}
			ex.Broadcast(f)
			time.Sleep(20 * time.Millisecond)
		}
	}
	// The last alert has a second to arrive.
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) && len(cascadeSends(bot)) < o.Bursts {
		time.Sleep(20 * time.Millisecond)
	}
	stopBG()
	r.sent = <-bg
	r.load1 = loadAvg()
	sends := cascadeSends(bot)
	mu.Lock()
	defer mu.Unlock()
	for i := 0; i < o.Bursts; i++ {
		a := burstAsset(i)
		at, ok := sends[a]
		if !ok {
			r.missing = append(r.missing, a)
			continue
		}
		r.fromFrame = append(r.fromFrame, at[0].Sub(crossedAt[i]))
		if ns, ok := fired[a]; ok {
			r.fromReceive = append(r.fromReceive, at[0].Sub(time.Unix(0, ns)))
		}
		r.extra += len(at) - 1
	}
	r.judge()
	return r, nil
}

// cascadeSends returns, per burst asset, when each cascade message for it
// arrived at the Bot API (sendMessage only: its edits are not news).
func cascadeSends(bot *telegramtest.Server) map[string][]time.Time {
	out := map[string][]time.Time{}
	for _, m := range bot.Requests("sendMessage") {
		_, rest, ok := strings.Cut(m.Text, "Cascade · ")
		if !ok {
			continue
		}
		a, _, _ := strings.Cut(rest, "</b>")
		out[a] = append(out[a], m.At)
	}
	return out
}

func (r *CascadeResult) judge() {
	miss := func(f string, a ...any) {
		r.failed = true
		r.notes = append(r.notes, "MISSED: "+fmt.Sprintf(f, a...))
	}
	if len(r.missing) > 0 {
		miss("%d bursts got no cascade alert: %s", len(r.missing), strings.Join(r.missing, " "))
	}
	if r.extra > 0 {
		miss("%d cascade messages beyond one per cascade", r.extra)
	}
	if p := pct(r.fromFrame, 99); p > time.Second {
		miss("frame → cascade alert p99 %v > 1 s", p)
	}
}

// Failed reports whether a target was missed.
func (r *CascadeResult) Failed() bool { return r.failed }

// Print writes the report.
func (r *CascadeResult) Print(w io.Writer) {
	bw := bufio.NewWriter(w)
	defer bw.Flush()
	p := func(f string, a ...any) { fmt.Fprintf(bw, f+"\n", a...) }
	p("liqbox bench — cascade: %d bursts every %v over %d ev/s of background, %d connections, one chat", r.o.Bursts, r.o.Every, r.o.Rate, r.o.Conns)
	p("machine: %d CPUs, %s, %s, load average before %s, after %s", runtime.NumCPU(), r.cpuName, runtime.Version(), r.load0, r.load1)
	p("")
	p("background        %d frames", r.sent)
	p("cascade alerts    %d of %d bursts ("+strconv.Itoa(burstFrames)+" × $300K each, the rule $1M within 1 min, crossed by the 4th)", len(r.fromFrame), r.o.Bursts)
	p("frame → Bot API   crossing frame handed to the loopback exchange → its cascade's sendMessage at the Bot API: %s", quantiles(r.fromFrame))
	p("receive → Bot API the crossing liquidation's receive stamp → the same: %s", quantiles(r.fromReceive))
	for _, n := range r.notes {
		p("%s", n)
	}
	if !r.failed {
		p("all targets met (every burst alerted once, p99 ≤ 1 s)")
	}
}
