package bus

import (
	"fmt"
	"strings"
	"time"
)

// Status is the bus as the operator sees it: the connection, the
// publisher's lag and the consumer's, and each remote box. /status, the
// status page and /api/status render it; nothing in it is secret (the
// URL and errors are redacted).
type Status struct {
	URL       string // redacted
	Box       string
	Stream    string
	Connected bool
	Since     time.Time // when the connection last went up or down
	LastError string    // redacted
	Publish   *PublishStatus
	Consume   *ConsumeStatus
}

// StatusOf gathers the state of the connection and of the publisher and
// consumer (either may be nil) at now.
func StatusOf(c *Conn, p *Publisher, k *Consumer, now time.Time) Status {
	st := Status{URL: c.red.URL(), Box: c.cfg.BoxName, Stream: c.cfg.Stream, Connected: c.Connected(),
		Since: c.Since(), LastError: c.LastError()}
	if p != nil {
		ps := p.Status(now)
		st.Publish = &ps
	}
	if k != nil {
		ks := k.Status(now)
		st.Consume = &ks
	}
	return st
}

// Problems are what the status page's banner and /status warn about: the
// bus lost, a publisher more than a minute behind, a consumer blind or
// more than a minute behind.
func (s Status) Problems() []string {
	var out []string
	if !s.Connected {
		out = append(out, "bus: disconnected from "+s.URL+" since "+s.Since.UTC().Format(time.RFC3339))
	}
	if p := s.Publish; p != nil && p.Lag > time.Minute {
		out = append(out, fmt.Sprintf("bus: publishing is %s behind (%d events not yet stored in the stream)", p.Lag.Round(time.Second), p.LagEvents))
	}
	if k := s.Consume; k != nil {
		if !k.Up && !k.DownSince.IsZero() {
			out = append(out, "bus: remote streams blind since "+k.DownSince.UTC().Format(time.RFC3339))
		}
		if k.Lag > time.Minute {
			out = append(out, fmt.Sprintf("bus: consuming is %s behind (%d messages waiting)", k.Lag.Round(time.Second), k.Pending))
		}
	}
	return out
}

// busWords is Text's vocabulary in one language.
type busWords struct {
	connected, disconnected, publish, lag, inflight, consume, blind string
	lastEvent, noEvent, bad, lost, lastError                        string
}

var busText = map[string]*busWords{
	"en": {connected: "Bus: connected to %s as %s", disconnected: "Bus: ⚠️ disconnected from %s (as %s) for %s",
		publish: "publishing: stored up to #%d", lag: ", behind by %d events (%s)", inflight: ", %d in flight",
		consume: "consuming (%s): %d waiting, %d unacknowledged, lag %s, %d events, %d backlog",
		blind:   " ⚠️ blind", lastEvent: "%s: last event %s ago", noEvent: "%s: no event yet",
		bad: ", %d bad messages", lost: ", %d dropped by the stream before read", lastError: "last error: "},
	"vi": {connected: "Bus: đã kết nối %s với tên %s", disconnected: "Bus: ⚠️ mất kết nối %s (tên %s) đã %s",
		publish: "phát: đã lưu đến #%d", lag: ", chậm %d sự kiện (%s)", inflight: ", %d đang gửi",
		consume: "nhận (%s): %d đang chờ, %d chưa xác nhận, trễ %s, %d sự kiện, %d tồn đọng",
		blind:   " ⚠️ mù", lastEvent: "%s: sự kiện cuối %s trước", noEvent: "%s: chưa có sự kiện",
		bad: ", %d tin hỏng", lost: ", %d tin bị luồng xoá trước khi đọc", lastError: "lỗi gần nhất: "},
}

// Text renders the status for Telegram's /status in lang ("en", "vi";
// English otherwise), one line per part.
func (s Status) Text(lang string) string {
	w := busText[lang]
	if w == nil {
		w = busText["en"]
	}
	now := time.Now()
	var b strings.Builder
	if s.Connected {
		fmt.Fprintf(&b, w.connected, s.URL, s.Box)
	} else {
		fmt.Fprintf(&b, w.disconnected, s.URL, s.Box, now.Sub(s.Since).Round(time.Second))
	}
	if p := s.Publish; p != nil {
		b.WriteString("\n" + fmt.Sprintf(w.publish, p.Checkpoint))
		if p.LagEvents > 0 {
			fmt.Fprintf(&b, w.lag, p.LagEvents, p.Lag.Round(time.Millisecond))
		}
		if p.InFlight > 0 {
			fmt.Fprintf(&b, w.inflight, p.InFlight)
		}
	}
	if k := s.Consume; k != nil {
		b.WriteString("\n" + fmt.Sprintf(w.consume, k.Consumer, k.Pending, k.AckPending, k.Lag.Round(time.Millisecond), k.Events, k.Backlog))
		if k.Bad > 0 {
			fmt.Fprintf(&b, w.bad, k.Bad)
		}
		if k.Lost > 0 {
			fmt.Fprintf(&b, w.lost, k.Lost)
		}
		for _, r := range k.Boxes {
			b.WriteString("\n")
			if r.LastAge < 0 {
				fmt.Fprintf(&b, w.noEvent, r.Box)
			} else {
				fmt.Fprintf(&b, w.lastEvent, r.Box, r.LastAge.Round(100*time.Millisecond))
			}
			if r.Blind {
				b.WriteString(w.blind)
			}
		}
	}
	if s.LastError != "" && !s.Connected {
		b.WriteString("\n" + w.lastError + s.LastError)
	}
	return b.String()
}
