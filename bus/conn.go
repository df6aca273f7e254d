package bus

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/liqbox/liqbox/logthrottle"
	"github.com/liqbox/liqbox/metricdoc"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Options are what Dial needs beside the Config.
type Options struct {
	Metrics *metrics.Set // [a private set]
	Logger  *slog.Logger // the bus's child logger [discard]
}

// Conn is the box's one connection to NATS, shared by its publisher and
// its consumer. Dial prepares it; Run connects and holds it open,
// reconnecting for as long as its context lasts.
type Conn struct {
	cfg    Config
	log    *slog.Logger
	red    *Redactor
	opts   []nats.Option
	set    *metrics.Set
	logged logthrottle.Throttle // reconnect and async errors, at most one line per period

	mu      sync.Mutex // guards nc, js, changed
	nc      *nats.Conn
	js      jetstream.JetStream
	changed chan struct{} // closed and replaced when the connection goes up or down

	up      atomic.Bool
	since   atomic.Int64 // Unix ns of the last change of up
	lastErr atomic.Pointer[string]

	disconnects *metrics.Counter
}

// Dial checks the credentials and TLS settings and prepares the
// connection; nothing connects until Run.
func Dial(cfg Config, o Options) (*Conn, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if o.Metrics == nil {
		o.Metrics = metrics.NewSet()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	red, err := NewRedactor(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("bus.url: %w", err)
	}
	c := &Conn{cfg: cfg, red: red, set: o.Metrics, changed: make(chan struct{})}
	c.log = o.Logger.With("url", red.URL())
	c.logged.Every = 10 * time.Second
	c.since.Store(time.Now().UnixNano())
	if c.opts, err = c.natsOptions(); err != nil {
		return nil, err
	}
	c.disconnects = metricdoc.Counter(c.set, `liqbox_bus_disconnects_total`, "NATS connections lost.")
	metricdoc.Gauge(c.set, `liqbox_bus_connected`, "1 while the NATS connection is up, else 0.", func() float64 {
		if c.up.Load() {
			return 1
		}
		return 0
	})
	return c, nil
}

func (c *Conn) natsOptions() ([]nats.Option, error) {
	o := []nats.Option{
		nats.Name("liqbox " + c.cfg.BoxName),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.ReconnectJitter(250*time.Millisecond, time.Second),
		// The first connect may fail: the box keeps logging, and
		// connects when the server is back.
		nats.RetryOnFailedConnect(true),
		// No buffering while disconnected: the log is the buffer, and a
		// publish then fails at once instead of waiting in memory.
		nats.ReconnectBufSize(-1),
		// A silent server is noticed within about 6 s, not NATS's 4 min.
		nats.PingInterval(2 * time.Second),
		nats.MaxPingsOutstanding(3),
		nats.Timeout(5 * time.Second),
		nats.ConnectHandler(func(nc *nats.Conn) { c.setUp(true, nil) }),
		nats.ReconnectHandler(func(nc *nats.Conn) { c.setUp(true, nil) }),
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) { c.setUp(false, err) }),
		nats.ClosedHandler(func(nc *nats.Conn) { c.setUp(false, nil) }),
		nats.ReconnectErrHandler(func(nc *nats.Conn, err error) { c.noteErr("cannot reconnect to the bus", err) }),
		nats.ErrorHandler(func(nc *nats.Conn, _ *nats.Subscription, err error) { c.noteErr("bus error", err) }),
	}
	if c.cfg.Creds != "" {
		if err := checkPrivate(c.cfg.Creds); err != nil {
			return nil, err
		}
		o = append(o, nats.UserCredentials(c.cfg.Creds))
	}
	if c.cfg.TLS || c.cfg.TLSCA != "" || strings.Contains(c.cfg.URL, "tls://") {
		o = append(o, nats.Secure(&tls.Config{MinVersion: tls.VersionTLS12}))
	}
	if c.cfg.TLSCA != "" {
		if _, err := os.Stat(c.cfg.TLSCA); err != nil {
			return nil, fmt.Errorf("cannot read bus.tls_ca: %w", err)
		}
		o = append(o, nats.RootCAs(c.cfg.TLSCA))
	}
	return o, nil
}

// checkPrivate refuses a secret file that group or others may read.
func checkPrivate(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("cannot read bus.creds: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("bus.creds %s (mode %#o): %w: chmod 600 it", path, fi.Mode().Perm(), ErrCredsMode)
	}
	return nil
}

// Config is the bus configuration, defaults filled.
func (c *Conn) Config() Config { return c.cfg }

// Redactor is the connection's redactor of secrets in text.
func (c *Conn) Redactor() *Redactor { return c.red }

// Run connects and keeps the connection until ctx ends, then closes it.
func (c *Conn) Run(ctx context.Context) error {
	nc, err := nats.Connect(c.cfg.URL, c.opts...)
	if err != nil {
		return fmt.Errorf("cannot connect to the bus: %s", c.red.Text(err.Error()))
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(c.cfg.MaxInFlight+1),
		jetstream.WithPublishAsyncTimeout(10*time.Second))
	if err != nil {
		nc.Close()
		return fmt.Errorf("cannot use JetStream: %s", c.red.Text(err.Error()))
	}
	c.mu.Lock()
	c.nc, c.js = nc, js
	c.mu.Unlock()
	if nc.IsConnected() {
		c.setUp(true, nil)
	} else {
		c.log.Warn("the bus is unreachable; retrying (the log keeps every event meanwhile)")
	}
	<-ctx.Done()
	nc.Close()
	c.setUp(false, nil)
	return nil
}

func (c *Conn) setUp(up bool, err error) {
	if err != nil {
		c.setErr(err)
	}
	if c.up.Swap(up) == up {
		return
	}
	c.since.Store(time.Now().UnixNano())
	if up {
		c.log.Info("connected to the bus")
	} else {
		c.disconnects.Inc()
		if err != nil {
			c.log.Warn("lost the bus", "err", c.red.Text(err.Error()))
		} else {
			c.log.Info("disconnected from the bus")
		}
	}
	c.mu.Lock()
	close(c.changed)
	c.changed = make(chan struct{})
	c.mu.Unlock()
}

func (c *Conn) setErr(err error) {
	s := c.red.Text(err.Error())
	c.lastErr.Store(&s)
}

// noteErr records err and logs it at most once per 10 s.
func (c *Conn) noteErr(msg string, err error) {
	c.setErr(err)
	if n, ok := c.logged.Allow(time.Now()); ok {
		c.log.Warn(msg, "err", c.red.Text(err.Error()), "repeats", n)
	}
}

// Connected reports whether the connection is up now.
func (c *Conn) Connected() bool { return c.up.Load() }

// Since is when the connection last went up or down.
func (c *Conn) Since() time.Time { return time.Unix(0, c.since.Load()) }

// LastError is the last connection error, redacted ("" if none).
func (c *Conn) LastError() string {
	if p := c.lastErr.Load(); p != nil {
		return *p
	}
	return ""
}

// Changed returns a channel closed at the next change of Connected.
func (c *Conn) Changed() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.changed
}

// WaitUp waits until the connection is up (returning its JetStream
// context) or ctx ends.
func (c *Conn) WaitUp(ctx context.Context) (jetstream.JetStream, error) {
	for {
		ch := c.Changed()
		if c.up.Load() {
			c.mu.Lock()
			js := c.js
			c.mu.Unlock()
			if js != nil {
				return js, nil
			}
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond): // Run may not have stored js yet
		}
	}
}

// EnsureStream returns the stream, creating it when it does not exist and
// the configuration says so.
func (c *Conn) EnsureStream(ctx context.Context, js jetstream.JetStream) (jetstream.Stream, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, c.cfg.Stream)
	if err == nil {
		c.checkStream(st.CachedInfo())
		return st, nil
	}
	if !errors.Is(err, jetstream.ErrStreamNotFound) || !c.cfg.CreateStream {
		return nil, fmt.Errorf("cannot find stream %s: %s", c.cfg.Stream, c.red.Text(err.Error()))
	}
	st, err = js.CreateStream(ctx, c.StreamConfig())
	if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		st, err = js.Stream(ctx, c.cfg.Stream) // another box created it first
	}
	if err != nil {
		return nil, fmt.Errorf("cannot create stream %s: %s", c.cfg.Stream, c.red.Text(err.Error()))
	}
	c.log.Info("created the bus stream", "stream", c.cfg.Stream, "subjects", c.cfg.subjects(),
		"replicas", c.cfg.Replicas, "max_age", c.cfg.MaxAge.String(), "max_bytes", c.cfg.MaxBytes)
	return st, nil
}

// StreamConfig is the stream liqbox creates: its subjects, file storage,
// limits by age and size that drop the oldest messages, and the
// de-duplication window.
func (c *Conn) StreamConfig() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        c.cfg.Stream,
		Description: "liqbox events and gaps (github.com/liqbox/liqbox)",
		Subjects:    c.cfg.subjects(),
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxAge:      c.cfg.MaxAge,
		MaxBytes:    c.cfg.MaxBytes,
		Duplicates:  c.cfg.Duplicates,
		Replicas:    c.cfg.Replicas,
		Storage:     jetstream.FileStorage,
	}
}

// checkStream warns about an existing stream that cannot do its job: one
// that does not carry liqbox's subjects, or de-duplicates over no window.
func (c *Conn) checkStream(in *jetstream.StreamInfo) {
	if in == nil {
		return
	}
	for _, s := range c.cfg.subjects() {
		if !slices.Contains(in.Config.Subjects, s) {
			c.log.Warn("the bus stream does not list a subject liqbox uses; publishes to it fail", "stream", in.Config.Name,
				"subject", s, "subjects", in.Config.Subjects)
		}
	}
	if in.Config.Duplicates <= 0 {
		c.log.Warn("the bus stream de-duplicates nothing: a publish retried is stored twice", "stream", in.Config.Name)
	}
}

// Redactor removes the secrets of the bus URLs (passwords, tokens) from
// text before it reaches a log line, an error or the status page.
type Redactor struct {
	url     string   // the URLs with their user info replaced
	secrets []string // each secret as written in the URL and decoded
}

// NewRedactor reads the comma-separated URLs.
func NewRedactor(urls string) (*Redactor, error) {
	r := &Redactor{}
	var shown []string
	for _, raw := range strings.Split(urls, ",") {
		raw = strings.TrimSpace(raw)
		if raw == "" {
			continue
		}
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" {
			// The error would repeat the URL: say only what is wrong.
			return nil, errors.New("not a list of nats://host:port URLs")
		}
		switch u.Scheme {
		case "nats", "tls":
		default:
			return nil, fmt.Errorf("scheme %q: want nats:// or tls://", u.Scheme)
		}
		if u.User != nil {
			if p, ok := u.User.Password(); ok {
				r.add(p)
				if esc := strings.SplitN(strings.SplitN(raw, "@", 2)[0], ":", 3); len(esc) == 3 {
					r.add(esc[2]) // as written, percent-encoded
				}
				u.User = url.UserPassword(u.User.Username(), "REDACTED")
			} else {
				r.add(u.User.Username()) // a token
				if esc := strings.TrimPrefix(strings.SplitN(raw, "@", 2)[0], u.Scheme+"://"); esc != "" {
					r.add(esc)
				}
				u.User = url.User("REDACTED")
			}
		}
		shown = append(shown, u.String())
	}
	r.url = strings.Join(shown, ",")
	// Longest first, so a secret that contains another is replaced whole.
	slices.SortFunc(r.secrets, func(a, b string) int { return len(b) - len(a) })
	return r, nil
}

func (r *Redactor) add(s string) {
	if s != "" && !slices.Contains(r.secrets, s) {
		r.secrets = append(r.secrets, s)
	}
}

// URL is the configured URLs with any password or token replaced.
func (r *Redactor) URL() string { return r.url }

// Text returns s with every secret of the URLs replaced.
func (r *Redactor) Text(s string) string {
	for _, sec := range r.secrets {
		s = strings.ReplaceAll(s, sec, "REDACTED")
	}
	return s
}
