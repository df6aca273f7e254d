package enrich

import (
	"strconv"
	"strings"
	"time"
)

// States reported by Status.State.
const (
	StateOff         = "off"              // Enabled is false
	StateOK          = "ok"               // calls go out and the model answers usably
	StateAuthFailed  = "auth_failed"      // the API rejected the key: disabled until restart
	StateBreakerOpen = "breaker_open"     // repeated failures: waiting for the cool-down
	StateHalfOpen    = "half_open"        // the next batch is a probe
	StateOverBudget  = "over_budget"      // a cap is reached
	StateRateLimited = "rate_limited"     // honouring a long Retry-After
	StateUnusable    = "answers_unusable" // the model answers, but with nothing usable
)

// Answers counts the model's replies by what they were worth, as in
// liqbox_enrich_answers_total{outcome=...}.
type Answers struct {
	OK       uint64 // every alert of the batch got a valid entry
	Partial  uint64 // some did; the others got the rules read
	Empty    uint64 // no text, or JSON with no entries
	Unusable uint64 // text with no JSON, or entries none of which was valid
}

// Status is enrichment's state for /status, in structured form: Text
// renders it in a chat's language.
type Status struct {
	State      string
	Model      string
	Lang       string // the language the model writes in
	QueueDepth int
	InFlight   int    // requests out now
	Dropped    uint64 // alerts dropped from a full queue
	Late       uint64 // analyses ready too late to edit their alert
	Answers    Answers
	LastError  string // most recent failure, scrubbed of the key

	// What Text says about the state:
	AuthStatus int       // StateAuthFailed: the HTTP status of the refusal
	Failures   int       // StateBreakerOpen: consecutive failed batches; StateUnusable: consecutive unusable answers
	Until      time.Time // StateBreakerOpen: the next probe; StateRateLimited: the end of the pause
}

// String renders the status in English (Text("en")).
func (s Status) String() string { return s.Text(langEN) }

// statusWords is Status.Text's vocabulary in one language.
type statusWords struct {
	prefix                                 string
	states                                 map[string]string
	off, budget, halfOpen                  string
	auth, rateLimited, breaker, unusable   string // with %d / %s placeholders filled by Text
	model, lang, queue, inFlight, dropped  string
	late, answers, ok, partial, empty, bad string
	lastError                              string
}

var statusText = map[string]*statusWords{
	langEN: {
		prefix: "enrich: ",
		states: map[string]string{StateOff: "off", StateOK: "ok", StateAuthFailed: "auth_failed", StateBreakerOpen: "breaker_open",
			StateHalfOpen: "half_open", StateOverBudget: "over_budget", StateRateLimited: "rate_limited", StateUnusable: "answers_unusable"},
		off:         "disabled in the config or no API key; rules reads only",
		budget:      "a token or USD cap is reached; rules reads continue",
		halfOpen:    "probing",
		auth:        "the API rejected the key (HTTP %d); LLM analysis is off until restart with a valid HOLYSHEEP_API_KEY",
		rateLimited: "the API asked to wait until %s",
		breaker:     "after %d failed requests; next probe at %s",
		unusable:    "the last %d answers had nothing usable; rules reads used",
		model:       "model ", lang: "lang ", queue: "queue ", inFlight: "in flight ", dropped: "dropped ",
		late: "too late to edit ", answers: "answers ", ok: " ok", partial: " partial", empty: " empty", bad: " unusable",
		lastError: "last error: ",
	},
	langVI: {
		prefix: "phân tích AI: ",
		states: map[string]string{StateOff: "tắt", StateOK: "hoạt động", StateAuthFailed: "khóa API bị từ chối", StateBreakerOpen: "tạm ngừng",
			StateHalfOpen: "đang thử lại", StateOverBudget: "vượt ngân sách", StateRateLimited: "bị giới hạn tốc độ", StateUnusable: "trả lời không dùng được"},
		off:         "đã tắt trong cấu hình hoặc thiếu khóa API; chỉ dùng phân tích theo quy tắc",
		budget:      "đã chạm hạn mức token hoặc USD; phân tích theo quy tắc vẫn tiếp tục",
		halfOpen:    "đang gửi yêu cầu thử",
		auth:        "API từ chối khóa (HTTP %d); phân tích AI tắt cho đến khi khởi động lại với HOLYSHEEP_API_KEY hợp lệ",
		rateLimited: "API yêu cầu chờ đến %s",
		breaker:     "sau %d yêu cầu thất bại; thử lại lúc %s",
		unusable:    "%d câu trả lời gần nhất không có nội dung dùng được; dùng phân tích theo quy tắc",
		model:       "mô hình ", lang: "ngôn ngữ ", queue: "hàng đợi ", inFlight: "đang gửi ", dropped: "bỏ ",
		late: "quá muộn để sửa tin ", answers: "câu trả lời: ", ok: " tốt", partial: " thiếu", empty: " rỗng", bad: " hỏng",
		lastError: "lỗi gần nhất: ",
	},
}

// fillIn replaces the first %d with n and the first %s with t (UTC, RFC 3339).
func fillIn(tmpl string, n int, t time.Time) string {
	tmpl = strings.Replace(tmpl, "%d", strconv.Itoa(n), 1)
	return strings.Replace(tmpl, "%s", t.UTC().Format(time.RFC3339), 1)
}

// Text renders the status as one plain-text line in lang ("en" when lang
// is not one enrichment speaks). The last error is the server's or the
// transport's own words and stays as it came.
func (s Status) Text(lang string) string {
	w := statusText[lang]
	if w == nil {
		w = statusText[langEN]
	}
	var b strings.Builder
	b.WriteString(w.prefix)
	if st, ok := w.states[s.State]; ok {
		b.WriteString(st)
	} else {
		b.WriteString(s.State)
	}
	detail := ""
	switch s.State {
	case StateOff:
		detail = w.off
	case StateAuthFailed:
		detail = fillIn(w.auth, s.AuthStatus, s.Until)
	case StateOverBudget:
		detail = w.budget
	case StateRateLimited:
		detail = fillIn(w.rateLimited, 0, s.Until)
	case StateBreakerOpen:
		detail = fillIn(w.breaker, s.Failures, s.Until)
	case StateHalfOpen:
		detail = w.halfOpen
	case StateUnusable:
		detail = fillIn(w.unusable, s.Failures, s.Until)
	}
	if detail != "" {
		b.WriteString(" (" + detail + ")")
	}
	b.WriteString("; " + w.model + s.Model + ", " + w.lang + s.Lang)
	b.WriteString("; " + w.queue + strconv.Itoa(s.QueueDepth) + ", " + w.inFlight + strconv.Itoa(s.InFlight) +
		", " + w.dropped + strconv.FormatUint(s.Dropped, 10) + ", " + w.late + strconv.FormatUint(s.Late, 10))
	a := s.Answers
	b.WriteString("; " + w.answers + strconv.FormatUint(a.OK, 10) + w.ok + ", " + strconv.FormatUint(a.Partial, 10) + w.partial +
		", " + strconv.FormatUint(a.Empty, 10) + w.empty + ", " + strconv.FormatUint(a.Unusable, 10) + w.bad)
	if s.LastError != "" {
		b.WriteString("; " + w.lastError + s.LastError)
	}
	return b.String()
}

// State reports enrichment's state for /status.
func (e *Enricher) State() Status {
	now := e.now()
	_, _, today, month, _ := e.led.snapshot(now)
	s := Status{Model: e.o.Model, Lang: e.o.Lang, QueueDepth: e.q.len(), InFlight: int(e.inflight.Load()),
		Dropped: e.m.dropped.Get(), Late: e.m.late.Get(),
		Answers: Answers{
			OK: e.m.answers[outcomeOK].Get(), Partial: e.m.answers[outcomePartial].Get(),
			Empty: e.m.answers[outcomeEmpty].Get(), Unusable: e.m.answers[outcomeUnusable].Get(),
		}}
	e.mu.Lock()
	defer e.mu.Unlock()
	s.LastError = e.lastErr
	switch {
	case !e.o.Enabled:
		s.State = StateOff
	case e.authStatus != 0:
		s.State, s.AuthStatus = StateAuthFailed, e.authStatus
	case overBudget(today, month, e.o.DailyTokenCap, e.o.MonthlyUSDCap):
		s.State = StateOverBudget
	case now.Before(e.notBefore):
		s.State, s.Until = StateRateLimited, e.notBefore
	case e.breaker == breakerOpen:
		s.State, s.Failures, s.Until = StateBreakerOpen, e.fails, e.openUntil
	case e.breaker == breakerHalfOpen:
		s.State = StateHalfOpen
	case e.badRun > 0:
		s.State, s.Failures = StateUnusable, e.badRun
	default:
		s.State = StateOK
	}
	return s
}

// Cost reports spend today and this month as of now.
func (e *Enricher) Cost(now time.Time) CostReport {
	day, month, today, thisMonth, err := e.led.snapshot(now)
	if err != nil {
		e.log.Warn("cannot read enrichment usage", "err", err)
	}
	return buildReport(now, e.o.Model, e.prices, day, month, today, thisMonth, e.o.DailyTokenCap, e.o.MonthlyUSDCap)
}
