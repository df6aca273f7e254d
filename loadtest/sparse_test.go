package loadtest

import (
	"bytes"
	"testing"
	"time"
)

// TestBenchSparseEveryAlertAndAnalysis runs `liqbox bench --pattern sparse
// --duration 10s`: 500 small liquidations a second below every threshold,
// a $600K one every 1 to 3 s, enrichment against a loopback LLM that takes
// 300 ms. It asserts counts, not times (latency is the benchmark's): every
// large liquidation alerted on its own and seen arriving at the Bot API,
// every one analysed at the Bot API, none waited behind an edit of its
// chat, nothing dropped or missing from the log.
func TestBenchSparseEveryAlertAndAnalysis(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the service for about twelve seconds")
	}
	var out, errw bytes.Buffer
	res, err := Run(t.Context(), Options{Pattern: "sparse", Duration: 10 * time.Second, TGMinUSD: 100_000,
		LLMDelay: 300 * time.Millisecond, Dir: t.TempDir()}, &errw)
	if err != nil {
		t.Fatalf("bench --pattern sparse: %v\nstderr:\n%s", err, errw.String())
	}
	res.Print(&out)
	t.Logf("report:\n%s", out.String())
	b := res.bot
	if res.large < 3 {
		t.Fatalf("%d large liquidations in 10 s, want one every 1 to 3 s", res.large)
	}
	if b.alerts != res.large || b.seen != res.large {
		t.Errorf("%d large liquidations sent, %d alerted on their own, %d seen at the Bot API", res.large, b.alerts, b.seen)
	}
	if b.analysed != res.large || b.late != 0 || res.tgTooOld != 0 {
		t.Errorf("%d of %d alerts analysed at the Bot API (%d late, %v too old)", b.analysed, res.large, b.late, res.tgTooOld)
	}
	if b.edits+b.replies == 0 {
		t.Error("no analysis edit or reply reached the Bot API")
	}
	if n := b.waitedAnalysis + b.waitedDigest + b.waitedOther; n != 0 {
		t.Errorf("%d alerts waited behind an edit or reply of their chat (analysis %d, digest %d, other %d)", n,
			b.waitedAnalysis, b.waitedDigest, b.waitedOther)
	}
	if int64(res.logged) != res.sent || !res.seqOK || res.ringDrops != 0 || res.storeDrops != 0 {
		t.Errorf("%d events logged of %d sent (consecutive %v); drops ring %d, store %v", res.logged, res.sent, res.seqOK,
			res.ringDrops, res.storeDrops)
	}
	if len(res.onBox) != res.large {
		t.Errorf("the terminal printed %d lines, want the %d large liquidations only", len(res.onBox), res.large)
	}
}
