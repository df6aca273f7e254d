// Package telegramtest is a loopback Telegram Bot API for tests, the demo
// and the load test: it speaks enough of the API for liqbox's bot (updates
// by long polling, sendMessage, editMessageText, sendPhoto,
// answerCallbackQuery, getMe), answers as Telegram does, records every
// request with its arrival time, reports each one to a hook as it arrives,
// and misbehaves on request (429, 5xx, 403, 401, a hung request, garbage).
//
// Ownership: NewServer starts an HTTP server on 127.0.0.1 with a free port;
// Close stops it and releases every request it holds (long polls, hangs).
// Every method may be called from any goroutine.
package telegramtest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Token has the shape telego insists on (^\d+:[\w-]{35}$), for tests.
const Token = "123456:ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghi"

// Username is the bot's username getMe answers with.
const Username = "liqbox_test_bot"

// Fault is how the server answers message requests (sendMessage,
// editMessageText, sendPhoto) until it is switched back to None. Polling,
// getMe and callback answers are never affected.
type Fault int32

// Faults.
const (
	None         Fault = iota
	RateLimit          // 429 with retry_after 1
	ServerError        // 500
	Forbidden          // 403: the bot was blocked in the chat
	Unauthorized       // 401: bad token
	Hang               // hold the request until the client gives up or the fault changes (then 502)
	Garbage            // 200 with a body that is not the API's JSON
)

// Request is one request the server received. For sendMessage and
// sendPhoto MsgID is the id the server answered with; for editMessageText
// it is the id edited.
type Request struct {
	Method  string
	Chat    int64
	MsgID   int
	ReplyTo int    // reply_parameters.message_id, 0 if none
	Text    string // text, or a photo's caption
	// Params are the request's parameters as decoded JSON (multipart
	// values as strings, files as "<file>").
	Params map[string]any
	At     time.Time // when the request arrived, before its body was read
	Status int       // the HTTP status answered
}

// Options configure a Server. The zero value is usable.
type Options struct {
	// Token, when set, is the only token accepted (others get 401).
	Token string
	// MaxHold bounds how long getUpdates is held when no update waits
	// (default 1 s; the request's own timeout applies when shorter).
	MaxHold time.Duration
	// OnRequest, when set, is called with each request as it is answered,
	// in arrival order per connection. It runs on the server's handler
	// goroutine: keep it short.
	OnRequest func(Request)
}

// Server is a loopback Bot API.
type Server struct {
	o     Options
	ln    net.Listener
	srv   *http.Server
	quit  chan struct{}
	once  sync.Once
	fault atomic.Int32

	mu      sync.Mutex // guards everything below
	reqs    []Request
	updates []map[string]any
	nextUpd int
	nextMsg int
	answer  func(Request) (status int, body string, ok bool)
	pushed  chan struct{} // closed and replaced when an update is pushed
}

// NewServer starts a Server on 127.0.0.1 with a free port.
func NewServer(o Options) (*Server, error) {
	if o.MaxHold <= 0 {
		o.MaxHold = time.Second
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("cannot listen for the loopback Bot API: %w", err)
	}
	s := &Server{o: o, ln: ln, quit: make(chan struct{}), nextUpd: 100, nextMsg: 1000, pushed: make(chan struct{})}
	s.srv = &http.Server{Handler: http.HandlerFunc(s.serve), ReadHeaderTimeout: 5 * time.Second}
	go s.srv.Serve(ln)
	return s, nil
}

// URL is the server's base URL, for telegram.Options.APIURL.
func (s *Server) URL() string { return "http://" + s.ln.Addr().String() }

// Close stops the server and every request it holds. Requests in flight
// get a closed connection, as from a server that went away.
func (s *Server) Close() {
	s.once.Do(func() { close(s.quit) })
	s.srv.Close()
}

// SetFault switches how message requests are answered.
func (s *Server) SetFault(f Fault) { s.fault.Store(int32(f)) }

// Answer installs fn, which may answer a request itself (status and JSON
// body, ok true) before the fault and the default answer apply. nil
// removes it.
func (s *Server) Answer(fn func(Request) (status int, body string, ok bool)) {
	s.mu.Lock()
	s.answer = fn
	s.mu.Unlock()
}

// Requests returns a copy of the requests received for method ("" for all),
// in arrival order.
func (s *Server) Requests(method string) []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Request
	for _, r := range s.reqs {
		if method == "" || r.Method == method {
			out = append(out, r)
		}
	}
	return out
}

// Delivered returns the message requests (sendMessage, editMessageText)
// answered with success, in arrival order: what a chat shows.
func (s *Server) Delivered() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Request
	for _, r := range s.reqs {
		if (r.Method == "sendMessage" || r.Method == "editMessageText") && r.Status == http.StatusOK {
			out = append(out, r)
		}
	}
	return out
}

// WaitN waits until at least n requests for method have arrived, or d has
// passed, and returns them.
func (s *Server) WaitN(method string, n int, d time.Duration) ([]Request, error) {
	deadline := time.Now().Add(d)
	for {
		rs := s.Requests(method)
		if len(rs) >= n {
			return rs, nil
		}
		if time.Now().After(deadline) {
			return rs, fmt.Errorf("timed out after %v waiting for %d %s requests, have %d", d, n, method, len(rs))
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// Push queues an update (update_id is filled in) for the next getUpdates.
func (s *Server) Push(u map[string]any) {
	s.mu.Lock()
	s.nextUpd++
	u["update_id"] = s.nextUpd
	s.updates = append(s.updates, u)
	close(s.pushed)
	s.pushed = make(chan struct{})
	s.mu.Unlock()
}

// ChatJSON is a chat object: private for positive ids, a group for negative.
func ChatJSON(id int64) map[string]any {
	typ := "private"
	if id < 0 {
		typ = "group"
	}
	return map[string]any{"id": id, "type": typ}
}

func userJSON(id int64) map[string]any {
	return map[string]any{"id": id, "is_bot": false, "first_name": "u" + strconv.FormatInt(id, 10)}
}

// Say pushes a text message from user in chat.
func (s *Server) Say(user, chat int64, text string) {
	s.Push(map[string]any{"message": map[string]any{
		"message_id": 1, "date": time.Now().Unix(), "text": text,
		"from": userJSON(user), "chat": ChatJSON(chat),
	}})
}

// Press pushes a callback query: user pressed an inline button with data
// under message msgID in chat.
func (s *Server) Press(user, chat int64, msgID int, data string) {
	s.Push(map[string]any{"callback_query": map[string]any{
		"id": "cb" + strconv.Itoa(msgID), "chat_instance": "x", "data": data,
		"from":    userJSON(user),
		"message": map[string]any{"message_id": msgID, "date": time.Now().Unix(), "chat": ChatJSON(chat)},
	}})
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	at := time.Now()
	// Path: /bot<token>/<method>.
	path := strings.TrimPrefix(r.URL.Path, "/bot")
	slash := strings.IndexByte(path, '/')
	w.Header().Set("Content-Type", "application/json")
	if slash < 0 || (s.o.Token != "" && path[:slash] != s.o.Token) {
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"ok":false,"error_code":401,"description":"Unauthorized"}`)
		return
	}
	req := Request{Method: path[slash+1:], At: at, Params: params(r)}
	req.Chat = int64Param(req.Params["chat_id"])
	req.Text, _ = req.Params["text"].(string)
	if c, ok := req.Params["caption"].(string); ok && req.Text == "" {
		req.Text = c
	}
	if rp, ok := req.Params["reply_parameters"].(map[string]any); ok {
		req.ReplyTo = int(int64Param(rp["message_id"]))
	}
	if req.Method == "getUpdates" {
		s.getUpdates(w, r, req)
		return
	}
	status, body := s.respond(r.Context(), &req)
	req.Status = status
	s.record(req)
	w.WriteHeader(status)
	io.WriteString(w, body)
}

// respond decides the answer to a non-polling request and fills in its
// message id.
func (s *Server) respond(ctx context.Context, req *Request) (int, string) {
	s.mu.Lock()
	answer := s.answer
	s.mu.Unlock()
	if answer != nil {
		if status, body, ok := answer(*req); ok {
			return status, body
		}
	}
	switch req.Method {
	case "sendMessage", "editMessageText", "sendPhoto":
	case "getMe":
		return http.StatusOK, `{"ok":true,"result":{"id":123456,"is_bot":true,"first_name":"liqbox","username":"` + Username + `"}}`
	default:
		return http.StatusOK, `{"ok":true,"result":true}`
	}
	switch Fault(s.fault.Load()) {
	case RateLimit:
		return http.StatusTooManyRequests, `{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 1","parameters":{"retry_after":1}}`
	case ServerError:
		return http.StatusInternalServerError, `{"ok":false,"error_code":500,"description":"Internal Server Error"}`
	case Forbidden:
		return http.StatusForbidden, `{"ok":false,"error_code":403,"description":"Forbidden: bot was blocked by the user"}`
	case Unauthorized:
		return http.StatusUnauthorized, `{"ok":false,"error_code":401,"description":"Unauthorized"}`
	case Hang:
		if s.hang(ctx) {
			return http.StatusGatewayTimeout, `{"ok":false,"error_code":504,"description":"Gateway Timeout"}`
		}
		return http.StatusBadGateway, `{"ok":false,"error_code":502,"description":"Bad Gateway"}`
	case Garbage:
		return http.StatusOK, `<html>bad gateway</html>`
	}
	if req.Method == "editMessageText" {
		req.MsgID = int(int64Param(req.Params["message_id"]))
		return http.StatusOK, `{"ok":true,"result":true}`
	}
	s.mu.Lock()
	s.nextMsg++
	req.MsgID = s.nextMsg
	s.mu.Unlock()
	text, _ := json.Marshal(req.Text)
	return http.StatusOK, `{"ok":true,"result":{"message_id":` + strconv.Itoa(req.MsgID) + `,"date":` +
		strconv.FormatInt(req.At.Unix(), 10) + `,"chat":{"id":` + strconv.FormatInt(req.Chat, 10) +
		`,"type":"private"},"text":` + string(text) + `}}`
}

func (s *Server) record(req Request) {
	s.mu.Lock()
	s.reqs = append(s.reqs, req)
	s.mu.Unlock()
	if s.o.OnRequest != nil {
		s.o.OnRequest(req)
	}
}

// hang holds a request until the client gives up or the server closes
// (true), or until the fault is switched off (false: answered 502, as a
// proxy in front of a stuck server would).
func (s *Server) hang(ctx context.Context) bool {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return true
		case <-s.quit:
			return true
		case <-t.C:
			if Fault(s.fault.Load()) != Hang {
				return false
			}
		}
	}
}

// getUpdates answers with the updates not yet confirmed, or holds the
// request, as Telegram's long polling does, until one is pushed, the
// request's timeout (capped by MaxHold) passes, or the server closes. As
// Telegram does, it forgets an update only once a request's offset is
// past its update_id: an answer the client never read (its request was
// cancelled as the answer was written) is given again to the next poll.
func (s *Server) getUpdates(w http.ResponseWriter, r *http.Request, req Request) {
	hold := s.o.MaxHold
	if t := time.Duration(int64Param(req.Params["timeout"])) * time.Second; t < hold {
		hold = t
	}
	offset := int64Param(req.Params["offset"])
	limit := int(int64Param(req.Params["limit"]))
	if limit <= 0 || limit > 100 {
		limit = 100
	}
	timer := time.NewTimer(hold)
	defer timer.Stop()
	for {
		s.mu.Lock()
		n := 0
		for n < len(s.updates) && int64(s.updates[n]["update_id"].(int)) < offset {
			n++
		}
		s.updates = s.updates[n:]
		ups := append([]map[string]any{}, s.updates[:min(limit, len(s.updates))]...)
		pushed := s.pushed
		s.mu.Unlock()
		if len(ups) > 0 || hold <= 0 {
			req.Status = http.StatusOK
			s.record(req)
			data, _ := json.Marshal(map[string]any{"ok": true, "result": ups})
			w.Write(data)
			return
		}
		select {
		case <-pushed:
		case <-timer.C:
			hold = 0
		case <-r.Context().Done():
			return
		case <-s.quit:
			hold = 0
		}
	}
}

// params reads a request's parameters in any of the four ways the Bot
// API takes them: the URL's query string, a urlencoded form, JSON, or
// multipart/form-data.
func params(r *http.Request) map[string]any {
	out := map[string]any{}
	// ParseForm reads the query string and a urlencoded body, nothing
	// else; a JSON body is read below, and a urlencoded one leaves it empty.
	if err := r.ParseForm(); err == nil {
		for k, v := range r.Form {
			out[k] = v[0]
		}
	}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/") {
		if err := r.ParseMultipartForm(10 << 20); err == nil {
			for k, v := range r.MultipartForm.Value {
				out[k] = v[0]
			}
			for k := range r.MultipartForm.File {
				out[k] = "<file>"
			}
		}
		return out
	}
	data, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	_ = json.Unmarshal(data, &out)
	return out
}

// int64Param reads a JSON number or a decimal string.
func int64Param(v any) int64 {
	switch x := v.(type) {
	case float64:
		return int64(x)
	case string:
		n, _ := strconv.ParseInt(x, 10, 64)
		return n
	}
	return 0
}
