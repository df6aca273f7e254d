package loadtest

// The loopback Telegram Bot API of the bench and the tests, and the
// loopback HTTP server under it and the fake LLM. telegram/telegramtest
// carries the project's one fake Bot API (with an arrival recorder for the
// bench): once that lands, this file goes and its callers use telegramtest.

import (
	"context"
	"encoding/json"
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

// Fault is how a loopback API server misbehaves; `liqbox bench` runs it
// healthy, the fault suite switches it while alerts flow.
type Fault int32

const (
	FaultNone      Fault = iota
	FaultRateLimit       // 429 with retry_after 1 (Telegram) / Retry-After (LLM)
	FaultServer          // 500
	FaultForbidden       // 403: the bot was blocked in the chat
	FaultAuth            // 401: bad token or key
	FaultHang            // accept the request, answer nothing until the client gives up
	FaultGarbage         // 200 with a body that is not the API's JSON
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

// URL is the server's base URL (http://127.0.0.1:PORT).
func (s *loopServer) URL() string { return "http://" + s.ln.Addr().String() }

// Close stops the server and every hung handler.
func (s *loopServer) Close() {
	s.once.Do(func() { close(s.quit) })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s.srv.Shutdown(ctx)
}

// BotMessage is one request the loopback Bot API received.
type BotMessage struct {
	Method string
	Chat   int64
	MsgID  int
	Text   string
	At     time.Time
}

// BotAPI speaks enough of the Telegram Bot API for liqbox's bot: it
// records every sendMessage and editMessageText with its arrival time,
// answers like Telegram, and can be told to fail.
type BotAPI struct {
	*loopServer
	fault atomic.Int32
	next  atomic.Int64 // last message id handed out

	mu    sync.Mutex // guards msgs and calls
	msgs  []BotMessage
	calls []BotMessage // every request, whatever its method (Text unset)
}

// NewBotAPI starts a loopback Bot API on a free port.
func NewBotAPI() (*BotAPI, error) {
	b := &BotAPI{}
	ls, err := newLoopServer(http.HandlerFunc(b.serve))
	if err != nil {
		return nil, err
	}
	b.loopServer = ls
	return b, nil
}

// SetFault makes the server misbehave from now on (FaultNone heals it).
func (b *BotAPI) SetFault(f Fault) { b.fault.Store(int32(f)) }

// Messages returns a copy of the sendMessage and editMessageText requests
// that arrived so far (not those a fault refused).
func (b *BotAPI) Messages() []BotMessage {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]BotMessage(nil), b.msgs...)
}

// Calls returns every request that arrived so far, whatever its method
// (getUpdates and getMe included), with its chat where it names one.
func (b *BotAPI) Calls() []BotMessage {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]BotMessage(nil), b.calls...)
}

func (b *BotAPI) serve(w http.ResponseWriter, r *http.Request) {
	// Path: /bot<token>/<method>.
	method := r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	b.mu.Lock()
	b.calls = append(b.calls, BotMessage{Method: method, Chat: gjson.GetBytes(body, "chat_id").Int(), At: time.Now()})
	b.mu.Unlock()
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
	switch Fault(b.fault.Load()) {
	case FaultRateLimit:
		w.WriteHeader(http.StatusTooManyRequests)
		io.WriteString(w, `{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 1","parameters":{"retry_after":1}}`)
		return
	case FaultServer:
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, `{"ok":false,"error_code":500,"description":"Internal Server Error"}`)
		return
	case FaultForbidden:
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, `{"ok":false,"error_code":403,"description":"Forbidden: bot was blocked by the user"}`)
		return
	case FaultAuth:
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"ok":false,"error_code":401,"description":"Unauthorized"}`)
		return
	case FaultHang:
		if !hang(r.Context(), b.quit, &b.fault) {
			w.WriteHeader(http.StatusBadGateway)
			io.WriteString(w, `{"ok":false,"error_code":502,"description":"Bad Gateway"}`)
		}
		return
	case FaultGarbage:
		io.WriteString(w, `<html>bad gateway</html>`)
		return
	}
	now := time.Now()
	m := BotMessage{Method: method, At: now, Text: gjson.GetBytes(body, "text").String()}
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
			if Fault(fault.Load()) != FaultHang {
				return false
			}
		}
	}
}
