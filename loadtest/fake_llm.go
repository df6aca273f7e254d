package loadtest

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/tidwall/gjson"
)

// The loopback chat-completions server of the bench and the tests.
// enrich/enrichtest carries the project's one fake LLM (with a configurable
// delay): once that lands, this file goes and its callers use enrichtest.

// LLMAPI speaks chat completions: it answers every alert id in the prompt
// with a strict JSON analysis, or misbehaves on request.
type LLMAPI struct {
	*loopServer
	fault    atomic.Int32
	requests atomic.Int64
	answered atomic.Int64
}

// NewLLMAPI starts a loopback chat-completions server on a free port.
func NewLLMAPI() (*LLMAPI, error) {
	l := &LLMAPI{}
	ls, err := newLoopServer(http.HandlerFunc(l.serve))
	if err != nil {
		return nil, err
	}
	l.loopServer = ls
	return l, nil
}

// SetFault makes the server misbehave from now on (FaultNone heals it).
func (l *LLMAPI) SetFault(f Fault) { l.fault.Store(int32(f)) }

func (l *LLMAPI) serve(w http.ResponseWriter, r *http.Request) {
	l.requests.Add(1)
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	w.Header().Set("Content-Type", "application/json")
	switch Fault(l.fault.Load()) {
	case FaultRateLimit:
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusTooManyRequests)
		io.WriteString(w, `{"error":{"message":"rate limited"}}`)
		return
	case FaultServer:
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, `{"error":{"message":"upstream error"}}`)
		return
	case FaultAuth, FaultForbidden:
		w.WriteHeader(http.StatusUnauthorized)
		// Some servers echo the credential they refused: the client must
		// never pass this on.
		io.WriteString(w, `{"error":{"message":"invalid key `+strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")+`"}}`)
		return
	case FaultHang:
		if !hang(r.Context(), l.quit, &l.fault) {
			w.WriteHeader(http.StatusBadGateway)
		}
		return
	case FaultGarbage:
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
