package service

import (
	"slices"
	"time"

	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/ingest"
	"github.com/liqbox/liqbox/pipeline"
	"github.com/liqbox/liqbox/telegram"
)

// newRelay builds the HolySheep relay's streams ([relay.holysheep]), one
// per exchange, with the options of the venues' own streams, and the
// pipeline's matching of the relay's copies to theirs; nothing when the
// relay is off. key is the enrichment key (HOLYSHEEP_API_KEY).
func (s *Service) newRelay(key string, so ingest.StreamOptions) ([]*ingest.Stream, *pipeline.CrossSource, error) {
	r := s.cfg.Relay
	if !r.Enabled {
		return nil, nil, nil
	}
	model := r.Model
	if model == "" {
		model = s.cfg.Enrich.Model
	}
	specs, err := ingest.HolySheepSpecs(ingest.RelayConfig{URL: r.StreamURL, APIKey: key, Model: model,
		Exchanges: r.Exchanges, Symbols: r.Symbols, ThresholdUSD: r.ThresholdUSD, StaleAfter: r.StaleAfter})
	if err != nil {
		return nil, nil, err
	}
	so.Conns = 1
	var streams []*ingest.Stream
	var venues []event.Venue
	for _, sp := range specs {
		streams = append(streams, ingest.NewStream(sp, so))
		// A venue the stream delivers beside its own (COIN-M symbols on
		// "binance") gets its row with its first liquidation.
		venues = append(venues, sp.Venue)
	}
	s.log.Info("the HolySheep relay is a source", "url", specs[0].URL, "exchanges", r.Exchanges,
		"threshold_usd", r.ThresholdUSD, "model", model)
	return streams, &pipeline.CrossSource{
		Rule:   event.MatchRule{Window: r.MatchWindow, SizeTol: r.MatchSize, Agree: r.MatchAgree},
		Venues: venues,
		MinUSD: r.ThresholdUSD,
	}, nil
}

// watchedVenues are the venues /healthz holds to a live connection: those
// read directly and those the relay delivers, in venue order.
func (s *Service) watchedVenues() []event.Venue {
	var vs []event.Venue
	for v := range s.insts {
		vs = append(vs, v)
	}
	for _, sp := range s.streams {
		if v := sp.Spec().Venue; sp.Spec().Stream == ingest.RelayStream && !slices.Contains(vs, v) {
			vs = append(vs, v)
		}
	}
	slices.Sort(vs)
	return vs
}

// SourceState is one venue's race between its own feed and the relay
// since start (pipeline.SourceStats): how many liquidations both
// delivered, which was first and by how much, and how often their copies
// disagreed.
type SourceState struct {
	Venue                   string
	DirectFirst, RelayFirst uint64
	// The first source's lead over the other, p50 and p99 in seconds;
	// nil while that source was never first.
	DirectLeadP50, DirectLeadP99 *float64
	RelayLeadP50, RelayLeadP99   *float64
	// Disagreements by field (event.MatchRule).
	Side, USD, Price uint64
}

func (s *Service) sourceStates() []SourceState {
	var out []SourceState
	for _, st := range s.pipe.Sources() {
		d, r := st.Lead[event.SourceDirect], st.Lead[event.SourceRelay]
		out = append(out, SourceState{Venue: st.Venue.String(),
			DirectFirst: st.First[event.SourceDirect], RelayFirst: st.First[event.SourceRelay],
			DirectLeadP50: d.Quantile(0.5), DirectLeadP99: d.Quantile(0.99),
			RelayLeadP50: r.Quantile(0.5), RelayLeadP99: r.Quantile(0.99),
			Side: st.Side, USD: st.USD, Price: st.Price})
	}
	return out
}

// SourceJSON is one row of /api/status's "sources".
type SourceJSON struct {
	Venue         string   `json:"venue"`
	DirectFirst   uint64   `json:"direct_first"`
	RelayFirst    uint64   `json:"relay_first"`
	DirectLeadP50 *float64 `json:"direct_lead_p50_s"`
	DirectLeadP99 *float64 `json:"direct_lead_p99_s"`
	RelayLeadP50  *float64 `json:"relay_lead_p50_s"`
	RelayLeadP99  *float64 `json:"relay_lead_p99_s"`
	Disagreements struct {
		Side  uint64 `json:"side"`
		USD   uint64 `json:"usd"`
		Price uint64 `json:"price"`
	} `json:"disagreements"`
}

func sourcesJSON(states []SourceState) []SourceJSON {
	out := []SourceJSON{}
	for _, v := range states {
		j := SourceJSON{Venue: v.Venue, DirectFirst: v.DirectFirst, RelayFirst: v.RelayFirst,
			DirectLeadP50: v.DirectLeadP50, DirectLeadP99: v.DirectLeadP99, RelayLeadP50: v.RelayLeadP50, RelayLeadP99: v.RelayLeadP99}
		j.Disagreements.Side, j.Disagreements.USD, j.Disagreements.Price = v.Side, v.USD, v.Price
		out = append(out, j)
	}
	return out
}

// sourcesStatus renders the race for Telegram's /status.
func sourcesStatus(states []SourceState) []telegram.SourceStatus {
	dur := func(p *float64) time.Duration {
		if p == nil {
			return -1
		}
		return time.Duration(*p * 1e9)
	}
	var out []telegram.SourceStatus
	for _, v := range states {
		out = append(out, telegram.SourceStatus{Venue: v.Venue, DirectFirst: v.DirectFirst, RelayFirst: v.RelayFirst,
			DirectLeadP50: dur(v.DirectLeadP50), DirectLeadP99: dur(v.DirectLeadP99),
			RelayLeadP50: dur(v.RelayLeadP50), RelayLeadP99: dur(v.RelayLeadP99),
			Side: v.Side, USD: v.USD, Price: v.Price})
	}
	return out
}
