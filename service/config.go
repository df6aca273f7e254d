package service

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/liqbox/liqbox/bus"
	"github.com/liqbox/liqbox/embed"
	"github.com/liqbox/liqbox/enrich"
	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/money"
	"github.com/liqbox/liqbox/telegram"
)

// Config is the whole configuration: the embedded default file, then the
// operator's file over it, then flags. Secrets never live here in plain
// text: they come from the environment or from 0600 files named here.
type Config struct {
	General  GeneralConfig
	HTTP     HTTPConfig
	Pipeline PipelineConfig
	Alerts   AlertsConfig
	Store    StoreConfig
	Telegram TelegramConfig
	Enrich   EnrichConfig
	Bus      bus.Config
	Venues   map[event.Venue]*VenueSettings
}

// GeneralConfig is the [general] section.
type GeneralConfig struct {
	DataDir   string
	LogLevel  string
	LogFormat string
}

// HTTPConfig is the [http] section.
type HTTPConfig struct {
	Listen string
	// ClockWarn is the clock-offset estimate above which /status warns.
	ClockWarn time.Duration
}

// PipelineConfig is the [pipeline] section.
type PipelineConfig struct {
	RingSize    int
	DedupWindow time.Duration
}

// AlertsConfig is the [alerts] section.
type AlertsConfig struct {
	MinUSD   float64
	Terminal bool
}

// StoreConfig is the [store] section.
type StoreConfig struct {
	Path            string
	BatchMax        int
	BatchDelay      time.Duration
	Queue           int
	RetentionAge    time.Duration
	RetentionBytes  int64
	RedeliverMaxAge time.Duration
	// Heartbeat is how often an idle service records that it is alive.
	Heartbeat time.Duration
}

// TelegramConfig is the [telegram] section.
type TelegramConfig struct {
	Enabled    bool
	APIURL     string
	TokenFile  string
	Chats      []int64
	AllowUsers []int64
	MinUSD     float64
	Lang       string
	ShadowChat int64
	Shadow     bool
	Limits     telegram.Limits
	QueueSize  int
	// MetricsChatLabels labels the per-chat queue gauge with chat ids.
	MetricsChatLabels bool
}

// EnrichConfig is the [enrich] section.
type EnrichConfig struct {
	Enabled       bool
	BaseURL       string
	APIKeyFile    string
	Model         string
	Timeout       time.Duration
	MaxTokens     int
	Temperature   float64
	Window        time.Duration
	MaxBatch      int
	Queue         int
	MinUSD        float64
	Lang          string
	DailyTokenCap int64
	MonthlyUSDCap float64
	// AnalysisMaxAge is the oldest (since the liquidation was received) an
	// alert may be and still be edited with its analysis; the enricher and
	// the bot both use it.
	AnalysisMaxAge time.Duration
	MaxInFlight    int
	Prices         map[string]enrich.Price
}

// VenueSettings is one [venue.NAME] section.
type VenueSettings struct {
	Enabled          bool
	StreamURL        string
	InverseStreamURL string
	RESTURL          string
	Conns            int
	StaleAfter       time.Duration
	RefreshEvery     time.Duration
}

// ConfigError names the line, key and value that are wrong.
type ConfigError struct {
	File string
	Line int
	Key  string
	Msg  string
}

func (e *ConfigError) Error() string {
	if e.Key == "" {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s:%d: %s: %s", e.File, e.Line, e.Key, e.Msg)
}

// DefaultConfigFile is the commented default configuration, as embedded.
func DefaultConfigFile() []byte { return embed.DefaultConfig }

// LoadConfig parses the embedded default and then, if path is not empty,
// the operator's file over it, and validates the result.
func LoadConfig(path string) (*Config, error) {
	c := &Config{Venues: map[event.Venue]*VenueSettings{}}
	for _, v := range event.Venues() {
		c.Venues[v] = &VenueSettings{}
	}
	c.Enrich.Prices = map[string]enrich.Price{}
	if err := c.parse("(embedded default)", embed.DefaultConfig); err != nil {
		return nil, fmt.Errorf("BUG: embedded default config: %w", err)
	}
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("cannot read config: %w", err)
		}
		if err := c.parse(path, data); err != nil {
			return nil, err
		}
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// parse applies one file's settings over c.
func (c *Config) parse(file string, data []byte) error {
	sc := bufio.NewScanner(bytes.NewReader(data))
	section := ""
	line := 0
	seen := map[string]int{}
	for sc.Scan() {
		line++
		raw := strings.TrimSpace(sc.Text())
		if raw == "" || raw[0] == '#' || raw[0] == ';' {
			continue
		}
		if raw[0] == '[' {
			if !strings.HasSuffix(raw, "]") {
				return &ConfigError{file, line, "", fmt.Sprintf("malformed section header %q", raw)}
			}
			section = strings.TrimSpace(raw[1 : len(raw)-1])
			if !c.knownSection(section) {
				return &ConfigError{file, line, "", fmt.Sprintf("unknown section [%s]", section)}
			}
			continue
		}
		k, v, ok := strings.Cut(raw, "=")
		if !ok {
			return &ConfigError{file, line, "", fmt.Sprintf("expected key = value, got %q", raw)}
		}
		k = strings.TrimSpace(k)
		v = stripComment(strings.TrimSpace(v))
		if unq, err := unquote(v); err != nil {
			return &ConfigError{file, line, section + "." + k, err.Error()}
		} else {
			v = unq
		}
		full := section + "." + k
		if section == "" {
			return &ConfigError{file, line, k, "key outside any [section]"}
		}
		if prev, dup := seen[full]; dup {
			return &ConfigError{file, line, full, fmt.Sprintf("set twice (first on line %d)", prev)}
		}
		seen[full] = line
		if err := c.set(section, k, v); err != nil {
			return &ConfigError{file, line, full, err.Error()}
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("cannot read %s: %w", file, err)
	}
	return nil
}

// stripComment removes a trailing " # comment" (a # preceded by space, so
// that URLs with fragments and quoted values survive).
func stripComment(v string) string {
	if strings.HasPrefix(v, `"`) {
		if end := strings.Index(v[1:], `"`); end >= 0 {
			rest := strings.TrimSpace(v[end+2:])
			if rest == "" || rest[0] == '#' {
				return v[:end+2]
			}
		}
		return v
	}
	if i := strings.Index(v, " #"); i >= 0 {
		return strings.TrimSpace(v[:i])
	}
	return v
}

func unquote(v string) (string, error) {
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		s, err := strconv.Unquote(v)
		if err != nil {
			return "", fmt.Errorf("bad quoted string %s", v)
		}
		return s, nil
	}
	if strings.HasPrefix(v, `"`) {
		return "", fmt.Errorf("unterminated quoted string %s", v)
	}
	return v, nil
}

func (c *Config) knownSection(s string) bool {
	switch s {
	case "general", "http", "pipeline", "alerts", "store", "telegram", "telegram.limits", "enrich", "enrich.prices", "bus":
		return true
	}
	if name, ok := strings.CutPrefix(s, "venue."); ok {
		_, known := event.ParseVenue(name)
		return known
	}
	return false
}

func (c *Config) set(section, k, v string) error {
	var vs *VenueSettings
	name := section + "." + k
	if vn, ok := strings.CutPrefix(section, "venue."); ok {
		v, _ := event.ParseVenue(vn)
		vs = c.Venues[v]
		name = "venue.*." + k
	}
	if section == "enrich.prices" {
		return c.setPrice(k, v)
	}
	ky, ok := keyIndex[name]
	if !ok {
		return errors.New("unknown key")
	}
	return ky.set(c, vs, v, ky.lo, ky.hi)
}

// Set sets one key ("section.key"; a venue's as "venue.NAME.key") from a
// flag, through the same setter and range as the file.
func (c *Config) Set(name, v string) error {
	section, k, ok := cutLast(name, ".")
	if !ok || !c.knownSection(section) {
		return fmt.Errorf("%s: unknown key", name)
	}
	if err := c.set(section, k, v); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

func cutLast(s, sep string) (before, after string, ok bool) {
	if i := strings.LastIndex(s, sep); i >= 0 {
		return s[:i], s[i+len(sep):], true
	}
	return s, "", false
}

// key is one configuration key: the setter that reads a value into the
// Config, the range the value must lie in, and what it means. The parser,
// the flags (Config.Set), the test against the embedded default file and
// the README's table all work from this one list. Ranges are in the key's
// unit: a count, seconds for durations, bytes for sizes, USD for amounts;
// 0..inf is "any value the form allows".
type key struct {
	name   string // "section.key"; a venue's is "venue.*.key"
	set    setFunc
	lo, hi float64
	doc    string
}

// setFunc reads v into c (or vs, for a venue key) within lo..hi.
type setFunc func(c *Config, vs *VenueSettings, v string, lo, hi float64) error

var inf = math.Inf(1)

// keys is every configuration key but the free-form [enrich.prices].
var keys = []key{
	{"general.data_dir", strKey(func(c *Config, _ *VenueSettings) *string { return &c.General.DataDir }), 0, inf, "directory of the log (store.path is relative to it)"},
	{"general.log_level", oneOf(func(c *Config, _ *VenueSettings) *string { return &c.General.LogLevel }, "%q is not one of debug, info, warn, error", "debug", "info", "warn", "error"), 0, inf, "debug, info, warn or error"},
	{"general.log_format", oneOf(func(c *Config, _ *VenueSettings) *string { return &c.General.LogFormat }, "%q is not text or json", "text", "json"), 0, inf, "text or json"},
	{"http.listen", listenKey, 0, inf, "host:port of /metrics, the status page and its API (empty: off); loopback unless you change it"},
	{"http.clock_warn", durKey(func(c *Config, _ *VenueSettings) *time.Duration { return &c.HTTP.ClockWarn }), 0, inf, "clock-offset estimate above which /status and the page warn"},
	{"pipeline.ring_size", intKey(func(c *Config, _ *VenueSettings) *int { return &c.Pipeline.RingSize }), 16, 1 << 22, "events each connection's ring holds"},
	{"pipeline.dedup_window", durKey(func(c *Config, _ *VenueSettings) *time.Duration { return &c.Pipeline.DedupWindow }), 0, inf, "how long an event's identity is remembered against duplicates"},
	{"alerts.min_usd", usdKey(func(c *Config, _ *VenueSettings) *float64 { return &c.Alerts.MinUSD }), 0, inf, "terminal sink threshold"},
	{"alerts.terminal", boolKey(func(c *Config, _ *VenueSettings) *bool { return &c.Alerts.Terminal }), 0, inf, "print alerts on the terminal"},
	{"store.path", strKey(func(c *Config, _ *VenueSettings) *string { return &c.Store.Path }), 0, inf, "the log file, relative to data_dir"},
	{"store.batch_max", intKey(func(c *Config, _ *VenueSettings) *int { return &c.Store.BatchMax }), 1, 100000, "most events in one log transaction"},
	{"store.batch_delay", durKey(func(c *Config, _ *VenueSettings) *time.Duration { return &c.Store.BatchDelay }), 0, inf, "longest wait to fill a log transaction"},
	{"store.queue", intKey(func(c *Config, _ *VenueSettings) *int { return &c.Store.Queue }), 16, 1 << 24, "events waiting for the log before they are dropped (counted)"},
	{"store.retention_age", durKey(func(c *Config, _ *VenueSettings) *time.Duration { return &c.Store.RetentionAge }), 0, inf, "delete events older than this (0: keep)"},
	{"store.retention_bytes", bytesKey(func(c *Config, _ *VenueSettings) *int64 { return &c.Store.RetentionBytes }), 0, inf, "delete the oldest events above this size (0: no limit)"},
	{"store.redeliver_max_age", durKey(func(c *Config, _ *VenueSettings) *time.Duration { return &c.Store.RedeliverMaxAge }), 0, inf, "after a restart, deliver undelivered events younger than this"},
	{"store.heartbeat", durKey(func(c *Config, _ *VenueSettings) *time.Duration { return &c.Store.Heartbeat }), 0.1, 60, "how often an idle service records that it is alive (bounds a crash gap's start)"},
	{"venue.*.enabled", boolKey(func(_ *Config, vs *VenueSettings) *bool { return &vs.Enabled }), 0, inf, "watch this venue"},
	{"venue.*.stream_url", wsKey(func(_ *Config, vs *VenueSettings) *string { return &vs.StreamURL }), 0, inf, "WebSocket endpoint (empty: the venue's own)"},
	{"venue.*.inverse_stream_url", wsKey(func(_ *Config, vs *VenueSettings) *string { return &vs.InverseStreamURL }), 0, inf, "Bybit's inverse endpoint (empty: Bybit's own)"},
	{"venue.*.rest_url", urlKey(func(_ *Config, vs *VenueSettings) *string { return &vs.RESTURL }), 0, inf, "REST endpoint for instrument metadata (empty: the venue's own)"},
	{"venue.*.conns", intKey(func(_ *Config, vs *VenueSettings) *int { return &vs.Conns }), 0, 8, "redundant connections (0: the venue's default)"},
	{"venue.*.stale_after", durKey(func(_ *Config, vs *VenueSettings) *time.Duration { return &vs.StaleAfter }), 0, inf, "a connection silent this long is dead (0: the venue's default)"},
	{"venue.*.refresh_every", durKey(func(_ *Config, vs *VenueSettings) *time.Duration { return &vs.RefreshEvery }), 0, inf, "instrument metadata refresh period"},
	{"telegram.enabled", boolKey(func(c *Config, _ *VenueSettings) *bool { return &c.Telegram.Enabled }), 0, inf, "send alerts to Telegram (needs TELEGRAM_BOT_TOKEN)"},
	{"telegram.api_url", urlKey(func(c *Config, _ *VenueSettings) *string { return &c.Telegram.APIURL }), 0, inf, "Bot API server"},
	{"telegram.token_file", strKey(func(c *Config, _ *VenueSettings) *string { return &c.Telegram.TokenFile }), 0, inf, "0600 file with the bot token, when not in the environment"},
	{"telegram.chats", idsKey(func(c *Config, _ *VenueSettings) *[]int64 { return &c.Telegram.Chats }), 0, inf, "chats subscribed by configuration"},
	{"telegram.allow_users", idsKey(func(c *Config, _ *VenueSettings) *[]int64 { return &c.Telegram.AllowUsers }), 0, inf, "user ids allowed to command the bot"},
	{"telegram.min_usd", usdKey(func(c *Config, _ *VenueSettings) *float64 { return &c.Telegram.MinUSD }), 0, inf, "default alert threshold of a chat"},
	{"telegram.lang", langKey(func(c *Config, _ *VenueSettings) *string { return &c.Telegram.Lang }), 0, inf, "default language, en or vi"},
	{"telegram.shadow", boolKey(func(c *Config, _ *VenueSettings) *bool { return &c.Telegram.Shadow }), 0, inf, "shadow mode (as --shadow)"},
	{"telegram.shadow_chat", shadowChatKey, 0, inf, "the one chat a shadow box sends to (0: nowhere)"},
	{"telegram.queue", intKey(func(c *Config, _ *VenueSettings) *int { return &c.Telegram.QueueSize }), 1, 1 << 20, "alerts waiting per chat"},
	{"telegram.metrics_chat_labels", boolKey(func(c *Config, _ *VenueSettings) *bool { return &c.Telegram.MetricsChatLabels }), 0, inf, "label the per-chat queue gauge with chat ids"},
	{"telegram.limits.per_chat", durKey(func(c *Config, _ *VenueSettings) *time.Duration { return &c.Telegram.Limits.PerChat }), 0, inf, "least spacing of messages to one chat"},
	{"telegram.limits.group_window", durKey(func(c *Config, _ *VenueSettings) *time.Duration { return &c.Telegram.Limits.GroupWindow }), 0, inf, "window of the group limit"},
	{"telegram.limits.group_max", intKey(func(c *Config, _ *VenueSettings) *int { return &c.Telegram.Limits.GroupMax }), 1, 1000, "messages per window to one group"},
	{"telegram.limits.global", durKey(func(c *Config, _ *VenueSettings) *time.Duration { return &c.Telegram.Limits.Global }), 0, inf, "least spacing of all messages"},
	{"telegram.limits.burst", intKey(func(c *Config, _ *VenueSettings) *int { return &c.Telegram.Limits.Burst }), 2, 30, "messages a chat may get back to back before per_chat spacing applies"},
	{"telegram.limits.reserve", intKey(func(c *Config, _ *VenueSettings) *int { return &c.Telegram.Limits.Reserve }), 1, 29, "of the burst, kept for raw alerts: analyses and edits never spend it"},
	{"enrich.enabled", boolKey(func(c *Config, _ *VenueSettings) *bool { return &c.Enrich.Enabled }), 0, inf, "ask the LLM (needs HOLYSHEEP_API_KEY; else the rule-based read)"},
	{"enrich.base_url", urlKey(func(c *Config, _ *VenueSettings) *string { return &c.Enrich.BaseURL }), 0, inf, "OpenAI-compatible API"},
	{"enrich.api_key_file", strKey(func(c *Config, _ *VenueSettings) *string { return &c.Enrich.APIKeyFile }), 0, inf, "0600 file with the API key, when not in the environment"},
	{"enrich.model", modelKey, 0, inf, "model name; it needs a price"},
	{"enrich.timeout", durKey(func(c *Config, _ *VenueSettings) *time.Duration { return &c.Enrich.Timeout }), 0, inf, "bound on one request"},
	{"enrich.max_tokens", intKey(func(c *Config, _ *VenueSettings) *int { return &c.Enrich.MaxTokens }), 16, 1 << 20, "completion cap"},
	{"enrich.temperature", floatKey(func(c *Config, _ *VenueSettings) *float64 { return &c.Enrich.Temperature }), 0, 2, "sampling temperature"},
	{"enrich.window", durKey(func(c *Config, _ *VenueSettings) *time.Duration { return &c.Enrich.Window }), 0, inf, "how long alerts are collected into one request"},
	{"enrich.max_batch", intKey(func(c *Config, _ *VenueSettings) *int { return &c.Enrich.MaxBatch }), 1, 100, "most alerts in one request"},
	{"enrich.queue", intKey(func(c *Config, _ *VenueSettings) *int { return &c.Enrich.Queue }), 1, 1 << 20, "alerts waiting for analysis"},
	{"enrich.min_usd", usdKey(func(c *Config, _ *VenueSettings) *float64 { return &c.Enrich.MinUSD }), 0, inf, "only alerts of at least this are analysed"},
	{"enrich.lang", langKey(func(c *Config, _ *VenueSettings) *string { return &c.Enrich.Lang }), 0, inf, "language of the analysis, en or vi"},
	{"enrich.daily_token_cap", int64Key(func(c *Config, _ *VenueSettings) *int64 { return &c.Enrich.DailyTokenCap }), 0, math.MaxInt32, "tokens a UTC day (0: no cap)"},
	{"enrich.analysis_max_age", durKey(func(c *Config, _ *VenueSettings) *time.Duration { return &c.Enrich.AnalysisMaxAge }), 1, 3600, "an alert older than this gets no analysis edit (the analysis stays in the log)"},
	{"enrich.max_inflight", intKey(func(c *Config, _ *VenueSettings) *int { return &c.Enrich.MaxInFlight }), 1, 8, "LLM requests out at once"},
	{"enrich.monthly_usd_cap", floatKey(func(c *Config, _ *VenueSettings) *float64 { return &c.Enrich.MonthlyUSDCap }), 0, 1e6, "USD a UTC month (0: no cap)"},
	{"bus.url", busURLKey, 0, inf, "NATS server URLs, comma-separated (empty: no bus); a password in them is never shown"},
	{"bus.box_name", boxNameKey, 0, inf, "this box's name on the bus (empty: the host name)"},
	{"bus.publish", boolKey(func(c *Config, _ *VenueSettings) *bool { return &c.Bus.Publish }), 0, inf, "publish every event and gap the log commits"},
	{"bus.consume", boolKey(func(c *Config, _ *VenueSettings) *bool { return &c.Bus.Consume }), 0, inf, "read the stream as one more source of the pipeline"},
	{"bus.stream", strKey(func(c *Config, _ *VenueSettings) *string { return &c.Bus.Stream }), 0, inf, "JetStream stream name"},
	{"bus.subject", strKey(func(c *Config, _ *VenueSettings) *string { return &c.Bus.Subject }), 0, inf, "subject prefix: <subject>.events.<venue>, <subject>.gaps.<venue>"},
	{"bus.consumer", strKey(func(c *Config, _ *VenueSettings) *string { return &c.Bus.Consumer }), 0, inf, "durable consumer name (empty: liqbox-<box name>)"},
	{"bus.creds", strKey(func(c *Config, _ *VenueSettings) *string { return &c.Bus.Creds }), 0, inf, "NATS credentials file, mode 0600"},
	{"bus.tls", boolKey(func(c *Config, _ *VenueSettings) *bool { return &c.Bus.TLS }), 0, inf, "require TLS and verify the server's certificate"},
	{"bus.tls_ca", strKey(func(c *Config, _ *VenueSettings) *string { return &c.Bus.TLSCA }), 0, inf, "PEM file of the CA that signed the server's certificate (implies tls)"},
	{"bus.create_stream", boolKey(func(c *Config, _ *VenueSettings) *bool { return &c.Bus.CreateStream }), 0, inf, "create the stream with the limits below when it does not exist"},
	{"bus.replicas", intKey(func(c *Config, _ *VenueSettings) *int { return &c.Bus.Replicas }), 1, 5, "copies of a created stream in a NATS cluster"},
	{"bus.max_age", durKey(func(c *Config, _ *VenueSettings) *time.Duration { return &c.Bus.MaxAge }), 60, inf, "a created stream drops messages older than this"},
	{"bus.max_bytes", bytesKey(func(c *Config, _ *VenueSettings) *int64 { return &c.Bus.MaxBytes }), 1 << 20, inf, "and its oldest messages beyond this size"},
	{"bus.duplicates", durKey(func(c *Config, _ *VenueSettings) *time.Duration { return &c.Bus.Duplicates }), 1, 86400, "a created stream's de-duplication window by message id"},
	{"bus.max_inflight", intKey(func(c *Config, _ *VenueSettings) *int { return &c.Bus.MaxInFlight }), 1, 1 << 16, "publishes awaiting JetStream's acknowledgement at once"},
	{"bus.alert_max_age", durKey(func(c *Config, _ *VenueSettings) *time.Duration { return &c.Bus.AlertMaxAge }), 0.1, bus.MaxAlertAge.Seconds(), "an event that reaches this box later than this after its edge box received it is backlog (never alerted)"},
}

// keyIndex finds a key of the table by name.
var keyIndex = func() map[string]*key {
	m := make(map[string]*key, len(keys))
	for i := range keys {
		m[keys[i].name] = &keys[i]
	}
	return m
}()

func strKey(f func(*Config, *VenueSettings) *string) setFunc {
	return func(c *Config, vs *VenueSettings, v string, _, _ float64) error { *f(c, vs) = v; return nil }
}

func oneOf(f func(*Config, *VenueSettings) *string, msg string, allowed ...string) setFunc {
	return func(c *Config, vs *VenueSettings, v string, _, _ float64) error {
		if !slices.Contains(allowed, v) {
			return fmt.Errorf(msg, v)
		}
		*f(c, vs) = v
		return nil
	}
}

func boolKey(f func(*Config, *VenueSettings) *bool) setFunc {
	return func(c *Config, vs *VenueSettings, v string, _, _ float64) error { return setBool(f(c, vs), v) }
}

func intKey(f func(*Config, *VenueSettings) *int) setFunc {
	return func(c *Config, vs *VenueSettings, v string, lo, hi float64) error {
		return setInt(f(c, vs), v, int(lo), int(hi))
	}
}

func int64Key(f func(*Config, *VenueSettings) *int64) setFunc {
	return func(c *Config, vs *VenueSettings, v string, lo, hi float64) error {
		var n int
		if err := setInt(&n, v, int(lo), int(hi)); err != nil {
			return err
		}
		*f(c, vs) = int64(n)
		return nil
	}
}

func floatKey(f func(*Config, *VenueSettings) *float64) setFunc {
	return func(c *Config, vs *VenueSettings, v string, lo, hi float64) error {
		return setFloat(f(c, vs), v, lo, hi)
	}
}

func durKey(f func(*Config, *VenueSettings) *time.Duration) setFunc {
	return func(c *Config, vs *VenueSettings, v string, lo, hi float64) error {
		var d time.Duration
		if err := setDuration(&d, v); err != nil {
			return err
		}
		if s := d.Seconds(); s < lo || s > hi {
			return fmt.Errorf("%v is outside %v..%v", d, time.Duration(lo*1e9), time.Duration(hi*1e9))
		}
		*f(c, vs) = d
		return nil
	}
}

func bytesKey(f func(*Config, *VenueSettings) *int64) setFunc {
	return func(c *Config, vs *VenueSettings, v string, lo, hi float64) error {
		var n int64
		if err := setBytes(&n, v); err != nil {
			return err
		}
		if float64(n) < lo || float64(n) > hi {
			return fmt.Errorf("%d bytes is outside %v..%v", n, lo, hi)
		}
		*f(c, vs) = n
		return nil
	}
}

func usdKey(f func(*Config, *VenueSettings) *float64) setFunc {
	return func(c *Config, vs *VenueSettings, v string, lo, hi float64) error {
		u, err := USDSetting(v)
		if err != nil {
			return err
		}
		if u < lo || u > hi {
			return fmt.Errorf("$%v is outside %v..%v", u, lo, hi)
		}
		*f(c, vs) = u
		return nil
	}
}

func urlKey(f func(*Config, *VenueSettings) *string) setFunc {
	return func(c *Config, vs *VenueSettings, v string, _, _ float64) error { return setURL(f(c, vs), v) }
}

func wsKey(f func(*Config, *VenueSettings) *string) setFunc {
	return func(c *Config, vs *VenueSettings, v string, _, _ float64) error { return setWSURL(f(c, vs), v) }
}

func idsKey(f func(*Config, *VenueSettings) *[]int64) setFunc {
	return func(c *Config, vs *VenueSettings, v string, _, _ float64) error { return setIDs(f(c, vs), v) }
}

func langKey(f func(*Config, *VenueSettings) *string) setFunc {
	return func(c *Config, vs *VenueSettings, v string, _, _ float64) error { return setLang(f(c, vs), v) }
}

func listenKey(c *Config, _ *VenueSettings, v string, _, _ float64) error {
	if v != "" {
		if _, _, err := net.SplitHostPort(v); err != nil {
			return fmt.Errorf("%q is not host:port", v)
		}
	}
	c.HTTP.Listen = v
	return nil
}

func shadowChatKey(c *Config, _ *VenueSettings, v string, _, _ float64) error {
	if v == "" || v == "0" {
		c.Telegram.ShadowChat = 0
		return nil
	}
	var ids []int64
	if err := setIDs(&ids, v); err != nil || len(ids) != 1 {
		return fmt.Errorf("%q is not one chat id", v)
	}
	c.Telegram.ShadowChat = ids[0]
	return nil
}

func busURLKey(c *Config, _ *VenueSettings, v string, _, _ float64) error {
	if v != "" {
		if _, err := bus.NewRedactor(v); err != nil {
			return err // never repeats the URL: it may hold a password
		}
	}
	c.Bus.URL = v
	return nil
}

func boxNameKey(c *Config, _ *VenueSettings, v string, _, _ float64) error {
	if v != "" {
		if err := bus.CheckBoxName(v); err != nil {
			return err
		}
	}
	c.Bus.BoxName = v
	return nil
}

func modelKey(c *Config, _ *VenueSettings, v string, _, _ float64) error {
	if v == "" {
		return errors.New("must not be empty")
	}
	c.Enrich.Model = v
	return nil
}

// setPrice parses "input/output" USD per million tokens, e.g. "0.28/0.42".
func (c *Config) setPrice(model, v string) error {
	in, out, ok := strings.Cut(v, "/")
	if !ok {
		return fmt.Errorf("%q is not input/output USD per million tokens (e.g. 0.28/0.42)", v)
	}
	var p enrich.Price
	if err := setFloat(&p.InputPerM, strings.TrimSpace(in), 0, 10000); err != nil {
		return fmt.Errorf("input price: %w", err)
	}
	if err := setFloat(&p.OutputPerM, strings.TrimSpace(out), 0, 10000); err != nil {
		return fmt.Errorf("output price: %w", err)
	}
	c.Enrich.Prices[model] = p
	return nil
}

func (c *Config) validate() error {
	if c.Telegram.Shadow && c.Telegram.ShadowChat == 0 && !c.Telegram.Enabled {
		return nil
	}
	any := false
	for _, vs := range c.Venues {
		any = any || vs.Enabled
	}
	if !any && !(c.Bus.URL != "" && c.Bus.Consume) {
		return errors.New("config: no venue enabled: set enabled = true in at least one [venue.NAME] section (or consume the bus: bus.url and bus.consume)")
	}
	if err := c.validateBus(); err != nil {
		return err
	}
	if bm := c.Venues[event.BitMEX]; bm.Enabled && bm.Conns > 1 {
		// Its rows carry no time, so the copies a second connection brings
		// differ in receive time and would each be alerted.
		return fmt.Errorf("config: venue.bitmex.conns = %d: BitMEX liquidation rows carry no timestamp, so copies from redundant connections cannot be told apart; use 1", bm.Conns)
	}
	if l := c.Telegram.Limits; l.Reserve >= l.Burst {
		return fmt.Errorf("config: telegram.limits.reserve = %d must be below telegram.limits.burst = %d", l.Reserve, l.Burst)
	}
	if _, ok := c.Enrich.Prices[c.Enrich.Model]; !ok {
		if _, ok := enrich.DefaultPrices()[c.Enrich.Model]; !ok {
			return fmt.Errorf("config: enrich.model %q has no price: add it under [enrich.prices] as input/output USD per million tokens", c.Enrich.Model)
		}
	}
	return nil
}

// validateBus checks the [bus] names as the box will use them (defaults
// filled, the host name as box name when none is set).
func (c *Config) validateBus() error {
	b := c.Bus
	if b.URL == "" {
		return nil
	}
	if !b.Publish && !b.Consume {
		return nil
	}
	if b.BoxName == "" {
		b.BoxName = HostBoxName()
	}
	b.Defaults()
	if err := b.Validate(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return nil
}

// EnabledVenues lists the enabled venues in a stable order.
func (c *Config) EnabledVenues() []event.Venue {
	var out []event.Venue
	for v, vs := range c.Venues {
		if vs.Enabled {
			out = append(out, v)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// StorePath is the log file's path: store.path, relative to data_dir.
func (c *Config) StorePath() string {
	if filepath.IsAbs(c.Store.Path) {
		return c.Store.Path
	}
	return filepath.Join(c.General.DataDir, c.Store.Path)
}

func setBool(dst *bool, v string) error {
	switch strings.ToLower(v) {
	case "true", "yes", "on", "1":
		*dst = true
	case "false", "no", "off", "0":
		*dst = false
	default:
		return fmt.Errorf("%q is not true or false", v)
	}
	return nil
}

func setInt(dst *int, v string, lo, hi int) error {
	n, err := strconv.Atoi(strings.ReplaceAll(v, "_", ""))
	if err != nil {
		return fmt.Errorf("%q is not a whole number", v)
	}
	if n < lo || n > hi {
		return fmt.Errorf("%d is outside %d..%d", n, lo, hi)
	}
	*dst = n
	return nil
}

func setFloat(dst *float64, v string, lo, hi float64) error {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return fmt.Errorf("%q is not a number", v)
	}
	if f < lo || f > hi {
		return fmt.Errorf("%v is outside %v..%v", f, lo, hi)
	}
	*dst = f
	return nil
}

// setDuration accepts Go durations plus a "d" suffix for days ("30d").
func setDuration(dst *time.Duration, v string) error {
	if v == "0" {
		*dst = 0
		return nil
	}
	if days, ok := strings.CutSuffix(v, "d"); ok {
		n, err := strconv.ParseFloat(days, 64)
		if err != nil || n < 0 || n > 3650 {
			return fmt.Errorf("%q is not a duration such as 90s, 5m, 2h or 30d", v)
		}
		*dst = time.Duration(n * float64(24*time.Hour))
		return nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return fmt.Errorf("%q is not a duration such as 90s, 5m, 2h or 30d", v)
	}
	*dst = d
	return nil
}

// setBytes accepts a number with an optional KB/MB/GB suffix (powers of 1024).
func setBytes(dst *int64, v string) error {
	s := strings.ToUpper(strings.TrimSpace(v))
	mult := int64(1)
	for _, u := range []struct {
		suf string
		m   int64
	}{{"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10}, {"B", 1}} {
		if rest, ok := strings.CutSuffix(s, u.suf); ok {
			s, mult = strings.TrimSpace(rest), u.m
			break
		}
	}
	n, err := strconv.ParseFloat(s, 64)
	if err != nil || n < 0 || math.IsInf(n, 0) || math.IsNaN(n) {
		return fmt.Errorf("%q is not a size such as 512MB or 2GB", v)
	}
	*dst = int64(n * float64(mult))
	return nil
}

// setUSD accepts the same forms as /setthreshold: 250k, 250000, 1.5m, $2M.
func setUSD(dst *float64, v string) error {
	f, err := USDSetting(v)
	if err != nil {
		return err
	}
	*dst = f
	return nil
}

// USDSetting reads a USD amount as every config key and flag does: the
// forms of /setthreshold (250k, 250000, 1.5m, $2M), or 0.
func USDSetting(v string) (float64, error) {
	f, ok := money.ParseUSD(v)
	if !ok && v != "0" {
		return 0, fmt.Errorf("%q is not a USD amount such as 100k, 250000 or 1.5m", v)
	}
	return f, nil
}

func setURL(dst *string, v string) error {
	if v != "" && !strings.HasPrefix(v, "http://") && !strings.HasPrefix(v, "https://") {
		return fmt.Errorf("%q is not an http(s) URL", v)
	}
	*dst = strings.TrimRight(v, "/")
	return nil
}

func setWSURL(dst *string, v string) error {
	if v != "" && !strings.HasPrefix(v, "ws://") && !strings.HasPrefix(v, "wss://") {
		return fmt.Errorf("%q is not a ws(s) URL", v)
	}
	*dst = v
	return nil
}

func setIDs(dst *[]int64, v string) error {
	*dst = nil
	for _, f := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' }) {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil || n == 0 {
			return fmt.Errorf("%q is not a Telegram id (a whole number such as 123456789 or -1001234567890)", f)
		}
		*dst = append(*dst, n)
	}
	return nil
}

func setLang(dst *string, v string) error {
	if v != "en" && v != "vi" {
		return fmt.Errorf("%q is not a supported language (en, vi)", v)
	}
	*dst = v
	return nil
}

// ReadSecret returns the secret from the environment variable env, or else
// from file, which must not be readable by group or others.
func ReadSecret(env, file string) (string, error) {
	if v := strings.TrimSpace(os.Getenv(env)); v != "" {
		return v, nil
	}
	if file == "" {
		return "", nil
	}
	fi, err := os.Stat(file)
	if err != nil {
		return "", fmt.Errorf("cannot read secret file for %s: %w", env, err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("secret file %s for %s is readable by others (mode %#o): chmod 600 it", file, env, fi.Mode().Perm())
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("cannot read secret file for %s: %w", env, err)
	}
	return strings.TrimSpace(string(b)), nil
}
