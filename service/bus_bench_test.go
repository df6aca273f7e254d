package service_test

import (
	"context"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/liqbox/liqbox/loadtest"
	"github.com/liqbox/liqbox/service"
	"github.com/liqbox/liqbox/telegram/telegramtest"
)

// BenchmarkBusFrameToAlert measures where the user is: a frame leaves the
// loopback exchange → the edge box (client, pipeline, fsync'd log) → its
// publisher → a loopback nats-server → the central box's consumer,
// pipeline and bot → sendMessage arrives at the central box's loopback Bot
// API. Beside it, the same frame's alert from the edge box itself (its own
// Bot API), the path without the bus. b.N large liquidations, one every
// 100 ms, amid 200 small ones a second (logged and published, below the
// chats' $10k). Telegram's own limits are set to 1 ms: what is measured is
// the boxes and the bus, not Telegram's one message a second. Alerts that
// went as single messages are timed (under load some join a digest: the
// share of singles is reported too).
//
//	go test -run XXX -bench BenchmarkBusFrameToAlert -benchtime 200x ./service
func BenchmarkBusFrameToAlert(b *testing.B) {
	// The bus publishes what the edge box's log has committed: its group
	// commit (store.batch_delay, then the fsync) is on this path.
	for _, delay := range []time.Duration{5 * time.Millisecond, time.Millisecond} {
		b.Run("edge-batch-delay-"+delay.String(), func(b *testing.B) { benchFrameToAlert(b, delay) })
	}
}

func benchFrameToAlert(b *testing.B, batchDelay time.Duration) {
	nats := startNATS(b)
	central := newLatencyBotAPI(b)
	local := newLatencyBotAPI(b)
	edge, err := loadtest.StartRig(context.Background(), loadtest.RigOptions{Dir: b.TempDir(), Edit: func(c *service.Config, o *service.Options) {
		c.Bus.URL, c.Bus.BoxName, c.Bus.Publish = nats.URL(), "tokyo-1", true
		c.Store.BatchDelay = batchDelay
		c.Telegram.APIURL = local.srv.URL()
		c.Telegram.Chats, c.Telegram.MinUSD = []int64{busChat}, 10000
		c.Telegram.Limits.PerChat, c.Telegram.Limits.Global = time.Millisecond, time.Millisecond
		o.TGToken = telegramtest.Token
	}})
	if err != nil {
		b.Fatal(err)
	}
	defer edge.Close()
	cen := startCentral(b, nats.URL(), b.TempDir(), central.srv, nil)
	waitUp(b, cen)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the background: small liquidations, 200 a second
		defer wg.Done()
		tk := time.NewTicker(5 * time.Millisecond)
		defer tk.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tk.C:
			}
			q := strconv.FormatFloat(0.001+0.000001*float64(i%100000), 'f', -1, 64)
			edge.Exchange.Broadcast(frame("ETHUSDT", "BUY", q, "3000", "3000", time.Now().Add(time.Minute).UnixMilli()))
		}
	}()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		price := 50000 + i
		p := strconv.Itoa(price)
		f := frame("BTCUSDT", "SELL", "5", p, p, time.Now().Add(time.Minute).UnixMilli())
		now := time.Now()
		central.sent(price, now)
		local.sent(price, now)
		edge.Exchange.Broadcast(f)
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(time.Second)
	b.StopTimer()
	close(stop)
	wg.Wait()
	for _, r := range []struct {
		name string
		api  *latencyBotAPI
	}{{"central", central}, {"edge", local}} {
		lat := r.api.latencies()
		// An alert that found its chat still busy with the one before
		// joins a cascade digest (the bot's rule under load): it is not
		// timed here, and the share of those is reported.
		b.ReportMetric(100*float64(len(lat))/float64(b.N), r.name+"-single-%")
		if len(lat) == 0 {
			continue
		}
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), r.name+"-p50-µs")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), r.name+"-p99-µs")
		b.ReportMetric(float64(lat[len(lat)-1].Microseconds()), r.name+"-max-µs")
	}
}

// latencyBotAPI is a loopback Bot API that times each alert against the
// moment its frame left the exchange (the alert's price names it).
type latencyBotAPI struct {
	srv *telegramtest.Server

	mu     sync.Mutex // guards sentAt, lat
	sentAt map[int]time.Time
	lat    []time.Duration
}

var alertPrice = regexp.MustCompile(` at (\d+)\n`)

func newLatencyBotAPI(b *testing.B) *latencyBotAPI {
	l := &latencyBotAPI{sentAt: map[int]time.Time{}}
	srv, err := telegramtest.NewServer(telegramtest.Options{OnRequest: func(r telegramtest.Request) {
		if r.Method != "sendMessage" || !strings.Contains(r.Text, " liquidated</b>") {
			return
		}
		m := alertPrice.FindStringSubmatch(r.Text)
		if m == nil {
			return
		}
		p, _ := strconv.Atoi(m[1])
		l.mu.Lock()
		if at, ok := l.sentAt[p]; ok {
			l.lat = append(l.lat, r.At.Sub(at))
			delete(l.sentAt, p)
		}
		l.mu.Unlock()
	}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(srv.Close)
	l.srv = srv
	return l
}

func (l *latencyBotAPI) sent(price int, at time.Time) {
	l.mu.Lock()
	l.sentAt[price] = at
	l.mu.Unlock()
}

func (l *latencyBotAPI) latencies() []time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := append([]time.Duration(nil), l.lat...)
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
