package ingest

import (
	"sync"
	"time"
)

// decodeWindow is the span of DecodeErrorRate.
const decodeWindow = time.Minute

// decodeRate keeps a minute of once-a-second samples of a stream's decode
// errors and decoded frames, so the error rate over the last minute costs
// the hot path nothing: the reader only bumps the counters it bumps anyway.
type decodeRate struct {
	mu   sync.Mutex // guards hist and n
	hist [62]rateSample
	n    int // samples taken
}

type rateSample struct {
	at           time.Time
	errs, frames uint64
}

func (r *decodeRate) sample(now time.Time, errs, frames uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hist[r.n%len(r.hist)] = rateSample{now, errs, frames}
	r.n++
}

// since returns the oldest sample no older than decodeWindow before now,
// or the first one ever.
func (r *decodeRate) since(now time.Time) (rateSample, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.n == 0 {
		return rateSample{}, false
	}
	oldest := max(0, r.n-len(r.hist))
	for i := oldest; i < r.n; i++ {
		if sm := r.hist[i%len(r.hist)]; now.Sub(sm.at) <= decodeWindow {
			return sm, true
		}
	}
	return r.hist[(r.n-1)%len(r.hist)], true
}

// DecodeErrorRate reports, over the last minute, the frames that failed to
// decode (or held a liquidation that did), the frames handed to the decoder
// (keepalive replies and canary frames are not), and their ratio (0 with no
// frame). A stream younger than a minute reports what it has seen.
func (s *Stream) DecodeErrorRate() (rate float64, errs, frames uint64) {
	e, f := s.m.decodeErrs.Get(), s.decoded.Load()
	if base, ok := s.rate.since(time.Now()); ok {
		e, f = e-base.errs, f-base.frames
	}
	if f == 0 {
		return 0, e, 0
	}
	return float64(e) / float64(f), e, f
}
