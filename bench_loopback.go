package main

import (
	"context"
	"encoding/json"
	"errors"
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

// apiFault is how a loopback API server misbehaves; `liqbox bench` runs it
// healthy, the fault suite switches it while alerts flow.
type apiFault int32

const (
	faultNone      apiFault = iota
	faultRateLimit          // 429 with retry_after 1 (Telegram) / Retry-After (LLM)
	faultServer             // 500
	faultForbidden          // 403: the bot was blocked in the chat
	faultAuth               // 401: bad token or key
	faultHang               // accept the request, answer nothing until the client gives up
	faultGarbage            // 200 with a body that is not the API's JSON
)

// loopServer is an HTTP server on 127.0.0.1 with a free port, owned by its
// creator: close stops it and every hung handler.
type loopServer struct {
	ln   net.Listener
	srv  *http.Server
	quit chan struct{}
	once sync.Once
}

func newLoopServer(h http.Handler) (*loopServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &loopServer{ln: ln, quit: make(chan struct{}), srv: &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}}
	go s.srv.Serve(ln)
	return s, nil
}

func (s *loopServer) url() string { return "http://" + s.ln.Addr().String() }

func (s *loopServer) close() {
	s.once.Do(func() { close(s.quit) })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s.srv.Shutdown(ctx)
}

// botMessage is one request the loopback Bot API received.
type botMessage struct {
	Method string
	Chat   int64
	MsgID  int
	Text   string
	At     time.Time
}

// botAPI speaks enough of the Telegram Bot API for liqbox's bot: it
// records every sendMessage and editMessageText with its arrival time,
// answers like Telegram, and can be told to fail.
type botAPI struct {
	*loopServer
	fault atomic.Int32
	next  atomic.Int64 // last message id handed out

	mu   sync.Mutex // guards msgs
	msgs []botMessage
}

func newBotAPI() (*botAPI, error) {
	b := &botAPI{}
	ls, err := newLoopServer(http.HandlerFunc(b.serve))
	if err != nil {
		return nil, err
	}
	b.loopServer = ls
	return b, nil
}

func (b *botAPI) setFault(f apiFault) { b.fault.Store(int32(f)) }

// messages returns a copy of what arrived so far.
func (b *botAPI) messages() []botMessage {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]botMessage(nil), b.msgs...)
}

func (b *botAPI) serve(w http.ResponseWriter, r *http.Request) {
	// Path: /bot<token>/<method>.
	method := r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	w.Header().Set("Content-Type", "application/json")
	if method == "getUpdates" {
		// Long polling: hold the request a while, as Telegram does when
		// there is nothing new, so the bot does not spin.
		select {
		case <-r.Context().Done():
		case <-b.quit:
		case <-time.After(time.Second):
		}
		io.WriteString(w, `{"ok":true,"result":[]}`)
		return
	}
	if method != "sendMessage" && method != "editMessageText" {
		io.WriteString(w, `{"ok":true,"result":true}`)
		return
	}
	switch apiFault(b.fault.Load()) {
	case faultRateLimit:
		w.WriteHeader(http.StatusTooManyRequests)
		io.WriteString(w, `{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 1","parameters":{"retry_after":1}}`)
		return
	case faultServer:
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, `{"ok":false,"error_code":500,"description":"Internal Server Error"}`)
		return
	case faultForbidden:
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, `{"ok":false,"error_code":403,"description":"Forbidden: bot was blocked by the user"}`)
		return
	case faultAuth:
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"ok":false,"error_code":401,"description":"Unauthorized"}`)
		return
	case faultHang:
		if !hang(r.Context(), b.quit, &b.fault) {
			w.WriteHeader(http.StatusBadGateway)
			io.WriteString(w, `{"ok":false,"error_code":502,"description":"Bad Gateway"}`)
		}
		return
	case faultGarbage:
		io.WriteString(w, `<html>bad gateway</html>`)
		return
	}
	now := time.Now()
	m := botMessage{Method: method, At: now, Text: gjson.GetBytes(body, "text").String()}
	m.Chat = gjson.GetBytes(body, "chat_id").Int()
	if method == "sendMessage" {
		m.MsgID = int(b.next.Add(1))
	} else {
		m.MsgID = int(gjson.GetBytes(body, "message_id").Int())
	}
	b.mu.Lock()
	b.msgs = append(b.msgs, m)
	b.mu.Unlock()
	if method == "editMessageText" {
		io.WriteString(w, `{"ok":true,"result":true}`)
		return
	}
	text, _ := json.Marshal(m.Text)
	io.WriteString(w, `{"ok":true,"result":{"message_id":`+strconv.Itoa(m.MsgID)+`,"date":`+
		strconv.FormatInt(now.Unix(), 10)+`,"chat":{"id":`+strconv.FormatInt(m.Chat, 10)+
		`,"type":"private"},"text":`+string(text)+`}}`)
}

// hang holds a request until the client gives up or the server closes
// (true), or until the fault is switched off (false: the caller answers 502,
// as a proxy in front of a stuck server would).
func hang(ctx context.Context, quit <-chan struct{}, fault *atomic.Int32) bool {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return true
		case <-quit:
			return true
		case <-t.C:
			if apiFault(fault.Load()) != faultHang {
				return false
			}
		}
	}
}

// llmAPI speaks chat completions: it answers every alert id in the prompt
// with a strict JSON analysis, or misbehaves on request.
type llmAPI struct {
	*loopServer
	fault    atomic.Int32
	requests atomic.Int64
	answered atomic.Int64
}

func newLLMAPI() (*llmAPI, error) {
	l := &llmAPI{}
	ls, err := newLoopServer(http.HandlerFunc(l.serve))
	if err != nil {
		return nil, err
	}
	l.loopServer = ls
	return l, nil
}

func (l *llmAPI) setFault(f apiFault) { l.fault.Store(int32(f)) }

func (l *llmAPI) serve(w http.ResponseWriter, r *http.Request) {
	l.requests.Add(1)
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	w.Header().Set("Content-Type", "application/json")
	switch apiFault(l.fault.Load()) {
	case faultRateLimit:
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusTooManyRequests)
		io.WriteString(w, `{"error":{"message":"rate limited"}}`)
		return
	case faultServer:
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, `{"error":{"message":"upstream error"}}`)
		return
	case faultAuth, faultForbidden:
		w.WriteHeader(http.StatusUnauthorized)
		// Some servers echo the credential they refused: the client must
		// never pass this on.
		io.WriteString(w, `{"error":{"message":"invalid key `+strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")+`"}}`)
		return
	case faultHang:
		if !hang(r.Context(), l.quit, &l.fault) {
			w.WriteHeader(http.StatusBadGateway)
		}
		return
	case faultGarbage:
		io.WriteString(w, `{"choices":[{"message":{"content":"I think the market is volatile }}}`)
		return
	}
	var ids []string
	prompt := gjson.GetBytes(body, "messages.1.content").String()
	gjson.Get(prompt, "alerts.#.id").ForEach(func(_, v gjson.Result) bool {
		ids = append(ids, v.String())
		return true
	})
	var sb strings.Builder
	sb.WriteString(`{"alerts":[`)
	for i, id := range ids {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(`{"id":"` + id + `","risk_level":"MEDIUM","summary":"Forced selling into thin books; watch for a follow-through cascade.","recommendation":"Reduce leverage near the liquidation cluster."}`)
	}
	sb.WriteString(`]}`)
	content, _ := json.Marshal(sb.String())
	l.answered.Add(int64(len(ids)))
	io.WriteString(w, `{"id":"cmpl-loop","object":"chat.completion","model":"deepseek-v3.2","choices":[{"index":0,"message":{"role":"assistant","content":`+
		string(content)+`},"finish_reason":"stop"}],"usage":{"prompt_tokens":420,"completion_tokens":90,"total_tokens":510}}`)
}

// errNoSample is returned when the embedded sample has no rows.
var errNoSample = errors.New("the embedded sample has no liquidations")

// frameSource cycles the embedded real Binance liquidations as combined-
// stream frames stamped with the current time. Rows that repeat another
// row's identity are skipped once at load, so two frames sent in the same
// millisecond are never the same liquidation to the pipeline's dedup.
type frameSource struct {
	rows []sampleRow
	i    int
}

func newFrameSource() (*frameSource, error) {
	sessions, err := loadSample()
	if err != nil {
		return nil, err
	}
	seen := map[[5]string]bool{}
	fs := &frameSource{}
	for _, s := range sessions {
		for _, r := range s.Rows {
			k := [5]string{r.Symbol, r.Side, r.Qty, r.Price, r.AvgPrice}
			if seen[k] {
				continue
			}
			seen[k] = true
			fs.rows = append(fs.rows, r)
		}
	}
	if len(fs.rows) == 0 {
		return nil, errNoSample
	}
	return fs, nil
}

// next returns the next frame, freshly allocated (the loopback exchange
// keeps it until every client has been sent it), and its row.
func (f *frameSource) next(nowMs int64) ([]byte, *sampleRow) {
	r := &f.rows[f.i]
	f.i++
	if f.i == len(f.rows) {
		f.i = 0
	}
	return appendFrame(make([]byte, 0, 320), r, nowMs), r
}
