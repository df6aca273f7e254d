package enrich

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	"github.com/liqbox/liqbox/event"
)

// SaveAnalysis stores a in kv under its alert's sequence number, as the
// enricher does for every analysis it delivers, so replay, export, /top
// and the page can show it. It returns once kv holds it durably (the
// store's Put commits before returning).
func SaveAnalysis(kv KV, a event.Analysis, at time.Time) error {
	rec := storedAnalysis{Seq: a.Seq, Risk: a.Risk.String(), Summary: a.Summary, Recommendation: a.Recommendation,
		Source: a.Source, Model: a.Model, Lang: a.Lang, Reason: a.Reason, Late: a.Late, AtMs: at.UnixMilli()}
	for _, t := range a.Alt {
		rec.Alt = append(rec.Alt, storedText(t))
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("cannot encode analysis %d: %w", a.Seq, err)
	}
	if err := kv.Put([]byte(ResultsBucket), seqKey(a.Seq), b); err != nil {
		return fmt.Errorf("cannot store analysis %d: %w", a.Seq, err)
	}
	return nil
}

// storedAnalysis is the persisted form of an analysis (ResultsBucket).
// Fields are only ever added, with omitempty, so older records still read.
type storedAnalysis struct {
	Seq            uint64       `json:"seq"`
	Risk           string       `json:"risk"`
	Summary        string       `json:"summary"`
	Recommendation string       `json:"recommendation"`
	Source         string       `json:"source"`
	Model          string       `json:"model,omitempty"`
	Lang           string       `json:"lang"`
	Reason         string       `json:"reason,omitempty"`
	Late           bool         `json:"late,omitempty"`
	Alt            []storedText `json:"alt,omitempty"`
	AtMs           int64        `json:"at_ms"`
}

type storedText struct {
	Lang           string `json:"lang"`
	Summary        string `json:"summary"`
	Recommendation string `json:"recommendation"`
}

func (s storedAnalysis) analysis() event.Analysis {
	r, _ := event.ParseRisk(s.Risk)
	a := event.Analysis{Seq: s.Seq, Risk: r, Summary: s.Summary, Recommendation: s.Recommendation, Source: s.Source,
		Model: s.Model, Lang: s.Lang, Reason: s.Reason, Late: s.Late}
	for _, t := range s.Alt {
		a.Alt = append(a.Alt, event.Text(t))
	}
	return a
}

func seqKey(seq uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], seq)
	return k[:]
}

// LoadAnalysis returns the stored analysis of the alert with sequence
// number seq, for replay.
func LoadAnalysis(kv KV, seq uint64) (event.Analysis, bool, error) {
	v, err := kv.Get([]byte(ResultsBucket), seqKey(seq))
	if err != nil {
		return event.Analysis{}, false, fmt.Errorf("cannot read analysis %d: %w", seq, err)
	}
	if len(v) == 0 {
		return event.Analysis{}, false, nil
	}
	var s storedAnalysis
	if err := json.Unmarshal(v, &s); err != nil {
		return event.Analysis{}, false, fmt.Errorf("cannot decode analysis %d: %w", seq, err)
	}
	return s.analysis(), true, nil
}

// ForEachAnalysis calls fn with every stored analysis in sequence order.
func ForEachAnalysis(kv KV, fn func(event.Analysis) error) error {
	return kv.ForEach([]byte(ResultsBucket), func(k, v []byte) error {
		var s storedAnalysis
		if err := json.Unmarshal(v, &s); err != nil {
			return fmt.Errorf("cannot decode analysis %x: %w", k, err)
		}
		return fn(s.analysis())
	})
}
