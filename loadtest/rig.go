package loadtest

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/liqbox/liqbox/demo"
	"github.com/liqbox/liqbox/enrich/enrichtest"
	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/ingest/ingesttest"
	"github.com/liqbox/liqbox/service"
	"github.com/liqbox/liqbox/telegram/telegramtest"
)

// BenchChat is the one subscribed chat of the loopback Bot API.
const BenchChat int64 = 424242

// benchLLMKey is the LLM key of the rig: it only ever reaches the loopback
// LLM.
const benchLLMKey = "sk-bench-loopback-only"

// RigOptions configure StartRig. Zero values take the defaults in brackets.
type RigOptions struct {
	Dir   string // data directory [a temporary one, removed by Close]
	Conns int    // connections to the Binance USD-M loopback exchange [1]
	// Mix enables every venue, each on its own loopback exchange speaking
	// its frame format (Binance USD-M keeps Conns connections).
	Mix bool
	// Bot configures the loopback Bot API (its OnRequest hook, say).
	Bot telegramtest.Options
	// LLM configures the loopback LLM (its answer delay, say).
	LLM enrichtest.Options
	// Edit adjusts the config and the service's options after the rig's
	// own settings and before service.New.
	Edit func(c *service.Config, o *service.Options)
}

// Rig is the whole box on loopback: the service exactly as `liqbox run`
// builds it, fed by a loopback exchange, alerting one chat (BenchChat) of
// a loopback Bot API, enrichment pointed at a loopback LLM (off unless
// Edit turns it on). The bench, the fault suite and the service's tests
// all run on it.
type Rig struct {
	Exchange *ingesttest.Loopback // Binance USD-M's loopback exchange
	Bot      *telegramtest.Server
	LLM      *enrichtest.Server
	Service  *service.Service
	Config   *service.Config
	Dir      string // the data directory; the log is Config.StorePath()

	mix     *demo.Exchanges
	tmp     bool
	once    sync.Once
	stopErr error
}

// StartRig builds the rig and opens the service. Unless Edit pointed
// Binance USD-M elsewhere, it returns once the service's connections are
// up (within 10 s, or ctx).
func StartRig(ctx context.Context, o RigOptions) (_ *Rig, err error) {
	if o.Conns <= 0 {
		o.Conns = 1
	}
	r := &Rig{Dir: o.Dir}
	defer func() {
		if err != nil {
			r.closePeers()
		}
	}()
	if r.Dir == "" {
		if r.Dir, err = os.MkdirTemp("", "liqbox-rig-"); err != nil {
			return nil, err
		}
		r.tmp = true
	}
	if o.Mix {
		if r.mix, err = demo.StartExchanges(o.Conns); err != nil {
			return nil, err
		}
		r.Exchange = r.mix.Exchange(event.BinanceUSDM)
	} else if r.Exchange, err = ingesttest.NewVenue(event.BinanceUSDM, ingesttest.LoopbackOptions{}); err != nil {
		return nil, fmt.Errorf("cannot start the loopback exchange: %w", err)
	}
	if r.Bot, err = telegramtest.NewServer(o.Bot); err != nil {
		return nil, err
	}
	if r.LLM, err = enrichtest.New(o.LLM); err != nil {
		return nil, err
	}
	if r.Config, err = service.LoadConfig(""); err != nil {
		return nil, err
	}
	c := r.Config
	usdm := r.Exchange.URL(ingesttest.VenuePath(event.BinanceUSDM) + "?streams=!forceOrder@arr")
	benchConfig(c, usdm, r.Dir, o.Conns)
	if r.mix != nil {
		r.mix.Configure(c)
		usdm = c.Venues[event.BinanceUSDM].StreamURL
	}
	c.HTTP.Listen = "127.0.0.1:0"
	c.Telegram.APIURL = r.Bot.URL()
	c.Enrich.Enabled = false
	c.Enrich.BaseURL = r.LLM.BaseURL()
	so := service.Options{Config: c, TGToken: telegramtest.Token, LLMKey: benchLLMKey}
	if o.Edit != nil {
		o.Edit(c, &so)
	}
	if r.Service, err = service.New(so); err != nil {
		return nil, err
	}
	if err = r.Service.Open(); err != nil {
		r.Service.Close()
		r.Service = nil
		return nil, err
	}
	vs := c.Venues[event.BinanceUSDM]
	if !vs.Enabled || vs.StreamURL != usdm {
		return r, nil // Edit took the box off the rig's exchange
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if r.mix != nil {
		err = r.mix.WaitClients(wctx)
		if err == nil {
			err = demo.WaitStreamsLive(wctx, r.Service.Streams())
		}
	} else {
		err = r.Exchange.WaitClients(wctx, o.Conns)
	}
	if err != nil {
		r.Stop()
		return nil, fmt.Errorf("the service did not connect to the loopback exchange: %w", err)
	}
	return r, nil
}

// benchConfig is the demo's config with Telegram on: Binance USD-M only,
// through the loopback exchange, every event on the terminal sink (which
// the bench observes), fsync on as in production.
func benchConfig(cfg *service.Config, url, dir string, conns int) {
	demo.Configure(cfg, url, dir, conns)
	cfg.Store.Path = "bench.db"
	cfg.Alerts.MinUSD = 0
	cfg.Telegram.Enabled = true
	cfg.Telegram.Chats = []int64{BenchChat}
	cfg.Telegram.AllowUsers = []int64{BenchChat}
}

// Stop closes the service (once) and returns what Close returned.
func (r *Rig) Stop() error {
	r.once.Do(func() {
		if r.Service != nil {
			r.stopErr = r.Service.Close()
		}
	})
	return r.stopErr
}

// Close stops the service, then the loopback peers, and removes a
// temporary data directory.
func (r *Rig) Close() error {
	err := r.Stop()
	r.closePeers()
	return err
}

func (r *Rig) closePeers() {
	if r.mix != nil {
		r.mix.Close()
	} else if r.Exchange != nil {
		r.Exchange.Close()
	}
	if r.Bot != nil {
		r.Bot.Close()
	}
	if r.LLM != nil {
		r.LLM.Close()
	}
	if r.tmp {
		os.RemoveAll(r.Dir)
	}
}

// WaitSeq waits until the pipeline has numbered seq events.
func (r *Rig) WaitSeq(ctx context.Context, seq uint64, d time.Duration) error {
	deadline := time.Now().Add(d)
	for r.Service.LastSeq() < seq {
		if time.Now().After(deadline) {
			return fmt.Errorf("pipeline at seq %d after %v, want %d", r.Service.LastSeq(), d, seq)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		time.Sleep(2 * time.Millisecond)
	}
	return nil
}
