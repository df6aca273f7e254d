package enrich

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Failure causes, as counted in liqbox_enrich_failures_total{cause=...}.
const (
	causeTimeout     = "timeout"      // no complete answer within Timeout (includes a hang and a slow drip)
	causeNetwork     = "network"      // connection refused, reset, DNS
	causeRateLimited = "rate_limited" // 429
	causeServer      = "server"       // 5xx
	causeAuth        = "auth"         // 401, 403: enrichment is disabled
	causeClient      = "client"       // other 4xx: our request is wrong, retrying will not help
	causeTooLarge    = "too_large"    // body over MaxResponseBytes
	causeBadResponse = "bad_response" // not a chat-completions body
	causeBadJSON     = "bad_json"     // the model's text holds no usable JSON
)

var allCauses = [...]string{causeTimeout, causeNetwork, causeRateLimited, causeServer, causeAuth, causeClient, causeTooLarge, causeBadResponse, causeBadJSON}

// callError is a failed chat-completions call. Its text never holds the API
// key: it is built from the status, a scrubbed snippet of the body and the
// transport error with the key removed.
type callError struct {
	cause      string
	status     int
	retryAfter time.Duration // from Retry-After; 0 when absent
	msg        string
}

func (e *callError) Error() string {
	if e.status != 0 {
		return "cannot get chat completion: " + e.cause + " (HTTP " + strconv.Itoa(e.status) + "): " + e.msg
	}
	return "cannot get chat completion: " + e.cause + ": " + e.msg
}

func (e *callError) retryable() bool {
	switch e.cause {
	case causeTimeout, causeNetwork, causeRateLimited, causeServer:
		return true
	}
	return false
}

// client speaks OpenAI-compatible chat completions.
type client struct {
	http      *http.Client
	url       string
	key       string
	model     string
	maxTokens int
	temp      float64
	timeout   time.Duration
	maxBody   int64
	// plain, once set, leaves response_format json_object out: the server
	// rejected it (see Enricher.ask). Requests run concurrently.
	plain atomic.Bool
}

type chatMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

type chatRequest struct {
	Model          string        `json:"model"`
	Messages       []chatMessage `json:"messages"`
	MaxTokens      int           `json:"max_tokens,omitempty"`
	Temperature    float64       `json:"temperature"`
	ResponseFormat *struct {
		Type string `json:"type"`
	} `json:"response_format,omitempty"`
}

// redact removes the API key from s, so nothing a server echoes (some echo
// the Authorization header in error bodies) reaches a log or /status.
func (c *client) redact(s string) string {
	if len(c.key) >= 4 {
		s = strings.ReplaceAll(s, c.key, "[redacted]")
	}
	return s
}

// complete sends one request. It returns within c.timeout whatever the
// server does.
func (c *client) complete(ctx context.Context, system, user string) (completion, error) {
	req := chatRequest{
		Model:       c.model,
		Messages:    []chatMessage{{Role: "system", Content: system}, {Role: "user", Content: user}},
		MaxTokens:   c.maxTokens,
		Temperature: c.temp,
	}
	if !c.plain.Load() {
		req.ResponseFormat = &struct {
			Type string `json:"type"`
		}{Type: "json_object"}
	}
	body, err := json.Marshal(req)
	if err != nil {
		return completion{}, fmt.Errorf("cannot encode chat request: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return completion{}, &callError{cause: causeClient, msg: c.redact(err.Error())}
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Accept", "application/json")
	if c.key != "" {
		hreq.Header.Set("Authorization", "Bearer "+c.key)
	}
	resp, err := c.http.Do(hreq)
	if err != nil {
		return completion{}, c.transportError(ctx, err)
	}
	defer resp.Body.Close()

	if resp.ContentLength > c.maxBody {
		return completion{}, &callError{cause: causeTooLarge, status: resp.StatusCode, msg: "body of " + strconv.FormatInt(resp.ContentLength, 10) + " bytes exceeds the limit of " + strconv.FormatInt(c.maxBody, 10)}
	}
	// The context's deadline bounds the read too, so a slow drip ends at the timeout.
	data, err := io.ReadAll(io.LimitReader(resp.Body, c.maxBody+1))
	if err != nil {
		return completion{}, c.transportError(ctx, err)
	}
	if int64(len(data)) > c.maxBody {
		return completion{}, &callError{cause: causeTooLarge, status: resp.StatusCode, msg: "body exceeds the limit of " + strconv.FormatInt(c.maxBody, 10) + " bytes"}
	}

	if resp.StatusCode != http.StatusOK {
		ce := &callError{status: resp.StatusCode, msg: snippet(c.redact(string(data)))}
		switch {
		case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
			ce.cause = causeAuth
		case resp.StatusCode == http.StatusTooManyRequests:
			ce.cause = causeRateLimited
		case resp.StatusCode >= 500:
			ce.cause = causeServer
		default:
			ce.cause = causeClient
		}
		ce.retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
		return completion{}, ce
	}
	cmp, ok := parseEnvelope(data)
	if !ok {
		return cmp, &callError{cause: causeBadResponse, status: resp.StatusCode, msg: snippet(c.redact(string(data)))}
	}
	return cmp, nil
}

func (c *client) transportError(ctx context.Context, err error) error {
	var ne net.Error
	if errors.Is(context.Cause(ctx), errEditDeadline) {
		return &callError{cause: causeTimeout, msg: errEditDeadline.Error()}
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return &callError{cause: causeTimeout, msg: "no complete answer within " + c.timeout.String()}
	}
	if errors.Is(ctx.Err(), context.Canceled) {
		return fmt.Errorf("cannot get chat completion: %w", context.Canceled)
	}
	// url.Error's text carries the URL; the key is never in it, but redact anyway.
	return &callError{cause: causeNetwork, msg: c.redact(err.Error())}
}

// snippet is the start of a body for an error or a log line, cleaned as
// model text is (see cleanText). Redact before, not after: a cut could
// split the key.
func snippet(s string) string { return cleanText(s, 200) }

// parseRetryAfter reads Retry-After as seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if !(secs > 0) { // also rejects NaN
			return 0
		}
		// A day is longer than any honest server asks for, and keeps the Duration from overflowing.
		secs = min(secs, 86400)
		return time.Duration(secs * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}
