package ingest

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/liqbox/liqbox/event"
)

// TestRespondLeavesLiquidations: Spec.Respond runs before the decoder, so
// a frame it claims is never decoded. Every recorded frame of every venue
// (liquidations, canaries, acks) is left to the decoder by each venue's
// Respond, but for the control messages it exists for: HTX's heartbeat,
// Deribit's test_request, Bitfinex's restart and maintenance notices,
// OKX's service-upgrade notice.
func TestRespondLeavesLiquidations(t *testing.T) {
	specs := []Spec{
		HTXSpec(VenueConfig{}, nil, event.Linear),
		DeribitSpec(VenueConfig{}, nil),
		BitfinexSpec(VenueConfig{}),
		OKXSpec(VenueConfig{}, nil),
	}
	files, err := filepath.Glob("testdata/frames/*.jsonl")
	if err != nil || len(files) < 20 {
		t.Fatalf("recorded frames: %v, %v", files, err)
	}
	claimed := map[event.Venue][]string{}
	for _, spec := range specs {
		for _, f := range files {
			for _, fr := range readLines(t, strings.TrimPrefix(f, "testdata/")) {
				if _, r := spec.Respond(nil, fr); r != NoResponse {
					claimed[spec.Venue] = append(claimed[spec.Venue], string(fr))
				}
			}
		}
	}
	want := map[event.Venue][]string{
		event.HTX:     {`{"op":"ping","ts":"1789676447110"}`},
		event.Deribit: {`{"jsonrpc":"2.0","method":"heartbeat","params":{"type":"test_request"}}`},
		event.OKX:     {`{"event":"notice","code":"64008","msg":"The connection will soon be closed for a service upgrade. Please reconnect.","connId":"a4d3ae55"}`},
	}
	for _, spec := range specs {
		if got, w := strings.Join(claimed[spec.Venue], "\n"), strings.Join(want[spec.Venue], "\n"); got != w {
			t.Errorf("%s claims\n%s\nwant\n%s", spec.Venue, got, w)
		}
	}
}
