// Package enrichtest is a loopback chat-completions server: the
// OpenAI-compatible API that enrich talks to, for enrich's tests, the demo
// and the load test. By default it answers every alert of a request with a
// strict JSON analysis; a Handler makes it answer after a delay, with a 429
// and Retry-After, a 5xx, a 401, an empty, malformed or non-API answer, or
// not at all. It records every request it receives.
//
// It listens on 127.0.0.1 only and never reaches the network.
package enrichtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tidwall/gjson"
)

// DefaultDelay is how long the model takes to answer in the load test's
// sparse pattern: about what a fast hosted model needs for a short batch.
const DefaultDelay = 300 * time.Millisecond

// MaxRecorded is how many requests the server keeps for Requests; older
// ones are forgotten (Count still counts them), so a long soak does not
// grow without bound.
const MaxRecorded = 4096

// Request is one request the server received.
type Request struct {
	At       time.Time // when it arrived
	Method   string
	Path     string
	Auth     string   // the Authorization header, as sent
	Body     []byte   // the request body (at most 1 MiB)
	Model    string   // "model"
	System   string   // the system message
	Prompt   string   // the user message: enrich puts the alerts' JSON there
	IDs      []string // the alert ids in the prompt, in order
	JSONMode bool     // response_format asked for a JSON object
}

// Reply is what the server answers to one request.
type Reply struct {
	// Status is the HTTP status; 0 means 200.
	Status int
	// RetryAfter, when set, is sent as the Retry-After header.
	RetryAfter string
	// Content is the assistant message's text in a chat-completions
	// envelope (with a 200), or the error message (otherwise).
	Content string
	// Raw, when set, is sent as the body instead of an envelope: a server
	// that does not speak the API.
	Raw string
	// PromptTokens, CompletionTokens and CostUSD (when positive) are
	// reported in the envelope's usage.
	PromptTokens, CompletionTokens int64
	CostUSD                        float64
	// Answers is how many alerts this reply answers (for Answered).
	Answers int
	// Hang holds the request until the client gives up, the server closes
	// or its Handler is replaced (then it answers 502, as a proxy in
	// front of a stuck server does).
	Hang bool
	// Drip sends the body one byte at a time with this pause between
	// bytes: a server that never quite finishes.
	Drip time.Duration
	// Chunked sends the body in two flushed writes without a
	// Content-Length, so the client cannot know its size up front.
	Chunked bool
}

// Handler decides the reply to one request. It runs on the server's
// goroutine for that request and may be called concurrently.
type Handler func(*Request) Reply

// Options configure a Server. The zero value answers every alert at once.
type Options struct {
	// Handler decides each reply; AnswerAll when nil.
	Handler Handler
	// Delay is how long every reply waits before it is written (the
	// model's thinking time); 0 answers at once. See DefaultDelay.
	Delay time.Duration
}

// Server is a chat-completions server on 127.0.0.1 with a free port. It is
// owned by its creator: Close stops it and every request it holds.
type Server struct {
	ln   net.Listener
	srv  *http.Server
	quit chan struct{}
	once sync.Once

	gen      atomic.Int64 // bumped by SetHandler, so a hang can see it
	delay    atomic.Int64 // nanoseconds
	count    atomic.Int64
	answered atomic.Int64

	mu      sync.Mutex // guards handler and reqs
	handler Handler
	reqs    []Request
}

// New starts a server.
func New(o Options) (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("cannot listen for the loopback LLM: %w", err)
	}
	s := &Server{ln: ln, quit: make(chan struct{}), handler: o.Handler}
	if s.handler == nil {
		s.handler = AnswerAll()
	}
	s.delay.Store(int64(o.Delay))
	s.srv = &http.Server{Handler: http.HandlerFunc(s.serve), ReadHeaderTimeout: 5 * time.Second}
	go s.srv.Serve(ln)
	return s, nil
}

// URL is the server's root, e.g. http://127.0.0.1:41234.
func (s *Server) URL() string { return "http://" + s.ln.Addr().String() }

// BaseURL is what enrich.Options.BaseURL (enrich.base_url) takes: URL + "/v1".
func (s *Server) BaseURL() string { return s.URL() + "/v1" }

// Close stops the server, releasing every held request.
func (s *Server) Close() {
	s.once.Do(func() { close(s.quit) })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s.srv.Shutdown(ctx)
}

// SetHandler replaces the handler for the requests that arrive from now
// on; a request held by Hang is released with a 502.
func (s *Server) SetHandler(h Handler) {
	if h == nil {
		h = AnswerAll()
	}
	s.mu.Lock()
	s.handler = h
	s.mu.Unlock()
	s.gen.Add(1)
}

// SetDelay changes the answer delay for the requests that arrive from now on.
func (s *Server) SetDelay(d time.Duration) { s.delay.Store(int64(d)) }

// Count is how many requests arrived.
func (s *Server) Count() int64 { return s.count.Load() }

// Answered is how many alerts were answered with a 200 (Reply.Answers summed).
func (s *Server) Answered() int64 { return s.answered.Load() }

// Requests returns a copy of the requests received (the last MaxRecorded).
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.reqs...)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	req := parseRequest(r, body)
	s.count.Add(1)
	s.mu.Lock()
	if len(s.reqs) == MaxRecorded {
		s.reqs = append(s.reqs[:0], s.reqs[MaxRecorded/2:]...)
	}
	s.reqs = append(s.reqs, req)
	h := s.handler
	s.mu.Unlock()
	gen := s.gen.Load()

	if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/chat/completions") {
		http.NotFound(w, r)
		return
	}
	rep := h(&req)
	if !s.sleep(r.Context(), time.Duration(s.delay.Load())) {
		return
	}
	if rep.Hang {
		if s.hang(r.Context(), gen) {
			w.WriteHeader(http.StatusBadGateway)
		}
		return
	}
	status := rep.Status
	if status == 0 {
		status = http.StatusOK
	}
	var out string
	switch {
	case rep.Raw != "":
		out = rep.Raw
	case status == http.StatusOK:
		out = Envelope(rep.Content, rep.PromptTokens, rep.CompletionTokens, rep.CostUSD)
	default:
		out = errorBody(rep.Content)
	}
	w.Header().Set("Content-Type", "application/json")
	if rep.RetryAfter != "" {
		w.Header().Set("Retry-After", rep.RetryAfter)
	}
	if status == http.StatusOK {
		s.answered.Add(int64(rep.Answers))
	}
	switch {
	case rep.Drip > 0:
		w.WriteHeader(status)
		for i := 0; i < len(out); i++ {
			if !s.sleep(r.Context(), rep.Drip) {
				return
			}
			w.Write([]byte{out[i]})
			w.(http.Flusher).Flush()
		}
	case rep.Chunked:
		w.WriteHeader(status)
		half := len(out) / 2
		io.WriteString(w, out[:half])
		w.(http.Flusher).Flush()
		io.WriteString(w, out[half:])
	default:
		w.Header().Set("Content-Length", strconv.Itoa(len(out)))
		w.WriteHeader(status)
		io.WriteString(w, out)
	}
}

// sleep waits d, or until the client gives up or the server closes (false).
func (s *Server) sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
	case <-s.quit:
	}
	return false
}

// hang holds a request until the client gives up or the server closes
// (false), or until the handler is replaced (true: answer 502).
func (s *Server) hang(ctx context.Context, gen int64) bool {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-s.quit:
			return false
		case <-t.C:
			if s.gen.Load() != gen {
				return true
			}
		}
	}
}

func parseRequest(r *http.Request, body []byte) Request {
	req := Request{At: time.Now(), Method: r.Method, Path: r.URL.Path, Auth: r.Header.Get("Authorization"), Body: body}
	if !gjson.ValidBytes(body) {
		return req
	}
	js := gjson.ParseBytes(body)
	req.Model = js.Get("model").String()
	req.JSONMode = js.Get("response_format.type").String() == "json_object"
	js.Get("messages").ForEach(func(_, m gjson.Result) bool {
		switch m.Get("role").String() {
		case "system":
			req.System = m.Get("content").String()
		case "user":
			req.Prompt = m.Get("content").String()
		}
		return true
	})
	req.IDs = PromptIDs(req.Prompt)
	return req
}

// PromptIDs lists the alert ids in enrich's user message ({"alerts":[{"id":…}]}).
func PromptIDs(prompt string) []string {
	var ids []string
	gjson.Get(prompt, "alerts.#.id").ForEach(func(_, v gjson.Result) bool {
		ids = append(ids, v.String())
		return true
	})
	return ids
}

// Envelope wraps content in a chat-completions response body with usage.
func Envelope(content string, promptTokens, completionTokens int64, costUSD float64) string {
	c, _ := json.Marshal(content)
	var b strings.Builder
	b.WriteString(`{"id":"chatcmpl-loop","object":"chat.completion","model":"deepseek-v3.2","choices":[{"index":0,"message":{"role":"assistant","content":`)
	b.Write(c)
	b.WriteString(`},"finish_reason":"stop"}],"usage":{"prompt_tokens":`)
	b.WriteString(strconv.FormatInt(promptTokens, 10))
	b.WriteString(`,"completion_tokens":`)
	b.WriteString(strconv.FormatInt(completionTokens, 10))
	b.WriteString(`,"total_tokens":`)
	b.WriteString(strconv.FormatInt(promptTokens+completionTokens, 10))
	if costUSD > 0 {
		b.WriteString(`,"cost_usd":`)
		b.WriteString(strconv.FormatFloat(costUSD, 'g', -1, 64))
	}
	b.WriteString(`}}`)
	return b.String()
}

func errorBody(msg string) string {
	if msg == "" {
		msg = "error"
	}
	m, _ := json.Marshal(msg)
	return `{"error":{"message":` + string(m) + `,"type":"server_error"}}`
}

// Entry is one alert's analysis in the model's answer.
type Entry struct {
	ID             string `json:"id"`
	Risk           string `json:"risk_level"`
	Summary        string `json:"summary"`
	Recommendation string `json:"recommendation"`
}

// AnswerJSON is the strict JSON answer enrich asks for: {"alerts":[…]}.
func AnswerJSON(entries []Entry) string {
	if entries == nil {
		entries = []Entry{}
	}
	b, _ := json.Marshal(struct {
		Alerts []Entry `json:"alerts"`
	}{entries})
	return string(b)
}

// Default usage of a reply built here: about what a batch of one or two
// alerts costs on a real model.
const (
	DefaultPromptTokens     = 420
	DefaultCompletionTokens = 90
)

// DefaultEntry is the analysis AnswerAll gives every alert.
func DefaultEntry(id string) Entry {
	return Entry{ID: id, Risk: "MEDIUM",
		Summary:        "Forced selling into thin books; watch for a follow-through cascade.",
		Recommendation: "Reduce leverage near the liquidation cluster."}
}

// AnswerAll answers every alert with DefaultEntry.
func AnswerAll() Handler { return Answer(DefaultEntry) }

// Answer answers every alert id in the request with entry(id).
func Answer(entry func(id string) Entry) Handler {
	return func(r *Request) Reply {
		es := make([]Entry, len(r.IDs))
		for i, id := range r.IDs {
			es[i] = entry(id)
		}
		return Reply{Content: AnswerJSON(es), Answers: len(es),
			PromptTokens: DefaultPromptTokens, CompletionTokens: DefaultCompletionTokens}
	}
}

// Content answers with the model text content(r) (a 200 with default usage).
func Content(content func(r *Request) string) Handler {
	return func(r *Request) Reply {
		return Reply{Content: content(r), PromptTokens: DefaultPromptTokens, CompletionTokens: DefaultCompletionTokens}
	}
}

// WithUsage reports these token counts and cost on h's replies.
func WithUsage(h Handler, promptTokens, completionTokens int64, costUSD float64) Handler {
	return func(r *Request) Reply {
		rep := h(r)
		rep.PromptTokens, rep.CompletionTokens, rep.CostUSD = promptTokens, completionTokens, costUSD
		return rep
	}
}

// Status answers with an HTTP error and an OpenAI-style error body, with
// Retry-After when retryAfter is not empty (e.g. Status(429, "1")).
func Status(code int, retryAfter string) Handler {
	return func(*Request) Reply {
		return Reply{Status: code, RetryAfter: retryAfter, Content: http.StatusText(code)}
	}
}

// Unauthorized answers 401 and, as careless servers do, echoes the key it
// refused in the error body: the client must never pass that on.
func Unauthorized() Handler {
	return func(r *Request) Reply {
		return Reply{Status: http.StatusUnauthorized, Content: "Incorrect API key provided: " + strings.TrimPrefix(r.Auth, "Bearer ")}
	}
}

// Hang never answers (see Reply.Hang).
func Hang() Handler { return func(*Request) Reply { return Reply{Hang: true} } }

// Empty answers 200 with an empty message.
func Empty() Handler {
	return func(*Request) Reply {
		return Reply{PromptTokens: DefaultPromptTokens, CompletionTokens: 1}
	}
}

// Malformed answers 200 with a message whose JSON is cut off mid-way, as a
// model stopped by max_tokens leaves it.
func Malformed() Handler {
	return Content(func(r *Request) string {
		id := "0"
		if len(r.IDs) > 0 {
			id = r.IDs[0]
		}
		return `{"alerts":[{"id":"` + id + `","risk_level":"HIGH","summary":"Cascade`
	})
}

// Garbage answers 200 with a body that is not a chat-completions response.
func Garbage() Handler {
	return func(*Request) Reply {
		return Reply{Raw: `{"choices":[{"message":{"content":"I think the market is volatile }}}`}
	}
}

// Sequence gives the i-th request hs[i]; the last handler answers every
// request after that.
func Sequence(hs ...Handler) Handler {
	if len(hs) == 0 {
		panic(errors.New("enrichtest: Sequence needs a handler"))
	}
	var n atomic.Int64
	return func(r *Request) Reply {
		i := int(n.Add(1) - 1)
		return hs[min(i, len(hs)-1)](r)
	}
}
