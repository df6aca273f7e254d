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
	"github.com/liqbox/liqbox/cascade"
	"github.com/liqbox/liqbox/embed"
	"github.com/liqbox/liqbox/enrich"
	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/ingest"
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
	Venues   map[event.Venue]*VenueSettings
	// Relay is [relay.holysheep]: the HolySheep relay as one more source.
	Relay RelaySettings
	// Bus is [bus]: NATS JetStream between boxes.
	Bus bus.Config

	// origins says where each key ("venue.bitmex.conns") was last set,
	// so that a rule across keys names the line of the one that is wrong.
	origins map[string]origin
	nset    int
}

// origin is where a key was set: a file and line, or a flag (line 0).
type origin struct {
	file string
	line int
	n    int // order of setting, across files and flags
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
	// AllowRemote lets Listen be an address beyond loopback.
	AllowRemote bool
	// AllowedHosts are the Host headers answered besides the listen
	// address and loopback names: "host" (any port) or "host:port".
	AllowedHosts []string
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
	// Cascades are the cascade rules of a chat that has set none.
	Cascades []cascade.Rule
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
	// Canary and InverseCanary (the inverse endpoint of Bybit, HTX and
	// Gate) name the canary instruments, "none" to go without; CanaryAfter
	// overrides the canary's silence limit (ingest.VenueConfig).
	Canary        string
	InverseCanary string
	CanaryAfter   time.Duration
}

// RelaySettings is the [relay.holysheep] section (see ingest.RelayConfig
// and pipeline.CrossSource for what each key does).
type RelaySettings struct {
	Enabled   bool
	StreamURL string
	// Model is the X-Model header; empty sends enrich.model.
	Model        string
	Exchanges    []string
	Symbols      []string
	ThresholdUSD float64
	StaleAfter   time.Duration
	// The match rule of a relay copy against the venue's own
	// (event.MatchRule).
	MatchWindow time.Duration
	MatchSize   float64
	MatchAgree  float64
}

// ConfigError names the line, key and value that are wrong.
type ConfigError struct {
	File string
	Line int
	Key  string
	Msg  string
}

func (e *ConfigError) Error() string {
	at := e.File
	if e.Line > 0 {
		at = fmt.Sprintf("%s:%d", e.File, e.Line)
	}
	if e.Key == "" {
		return at + ": " + e.Msg
	}
	return at + ": " + e.Key + ": " + e.Msg
}

// embeddedName is the file name errors give the embedded default.
const embeddedName = "(embedded default)"

// DefaultConfigFile is the commented default configuration, as embedded.
func DefaultConfigFile() []byte { return embed.DefaultConfig }

// LoadConfig parses the embedded default and then, if path is not empty,
// the operator's file over it, and validates the result.
func LoadConfig(path string) (*Config, error) {
	var data []byte
	if path != "" {
		var err error
		if data, err = os.ReadFile(path); err != nil {
			return nil, fmt.Errorf("cannot read config: %w", err)
		}
	}
	return parseConfig(path, data)
}

// parseConfig is LoadConfig of data read from path ("" for none).
func parseConfig(path string, data []byte) (*Config, error) {
	c := defaultConfig()
	if path != "" {
		if err := c.parse(path, data); err != nil {
			return nil, err
		}
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// defaultConfig is the embedded default file, parsed.
func defaultConfig() *Config {
	c := &Config{Venues: map[event.Venue]*VenueSettings{}, origins: map[string]origin{}}
	for _, v := range event.Venues() {
		c.Venues[v] = &VenueSettings{}
	}
	c.Enrich.Prices = map[string]enrich.Price{}
	if err := c.parse(embeddedName, embed.DefaultConfig); err != nil {
		panic("BUG: embedded default config: " + err.Error())
	}
	return c
}

// parse applies one file's settings over c.
func (c *Config) parse(file string, data []byte) error {
	sc := bufio.NewScanner(bytes.NewReader(data))
	section := ""
	line := 0
	seen := map[string]int{}
	sections := map[string]int{}
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
				return &ConfigError{file, line, "", fmt.Sprintf("unknown section [%s]%s", section, suggestSection(section))}
			}
			if prev, dup := sections[section]; dup {
				return &ConfigError{file, line, "", fmt.Sprintf("section [%s] appears twice (first on line %d): keep one", section, prev)}
			}
			sections[section] = line
			continue
		}
		k, v, ok := strings.Cut(raw, "=")
		if !ok {
			return &ConfigError{file, line, "", fmt.Sprintf("expected key = value, got %q", raw)}
		}
		k = strings.TrimSpace(k)
		if section == "" {
			return &ConfigError{file, line, k, "key outside any [section]"}
		}
		full := section + "." + k
		// The key is known before its value is read: an unknown key's
		// value (perhaps a secret in the wrong place) is never echoed.
		if section != "enrich.prices" && lookupKey(section, k) == nil {
			return &ConfigError{file, line, full, unknownKeyMsg(section, k)}
		}
		if prev, dup := seen[full]; dup {
			return &ConfigError{file, line, full, fmt.Sprintf("set twice (first on line %d)", prev)}
		}
		seen[full] = line
		v, err := unquote(stripComment(strings.TrimSpace(v)))
		if err != nil {
			return &ConfigError{file, line, full, err.Error()}
		}
		if err := c.set(section, k, v); err != nil {
			return &ConfigError{file, line, full, err.Error()}
		}
		c.setOrigin(full, file, line)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("cannot read %s: %w", file, err)
	}
	return nil
}

func (c *Config) setOrigin(full, file string, line int) {
	if c.origins == nil {
		c.origins = map[string]origin{}
	}
	c.nset++
	c.origins[full] = origin{file, line, c.nset}
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
	case "general", "http", "pipeline", "alerts", "store", "telegram", "telegram.limits", "enrich", "enrich.prices", "relay.holysheep", "bus":
		return true
	}
	if name, ok := strings.CutPrefix(s, "venue."); ok {
		_, known := event.ParseVenue(name)
		return known
	}
	return false
}

func (c *Config) set(section, k, v string) error {
	if section == "enrich.prices" {
		return c.setPrice(k, v)
	}
	ky := lookupKey(section, k)
	if ky == nil {
		return errors.New(unknownKeyMsg(section, k))
	}
	var vs *VenueSettings
	if vn, ok := strings.CutPrefix(section, "venue."); ok {
		v, _ := event.ParseVenue(vn)
		vs = c.Venues[v]
	}
	return ky.set(c, vs, v, ky.r)
}

// lookupKey finds section.k in the key table (a venue's as venue.*.k).
func lookupKey(section, k string) *key {
	if strings.HasPrefix(section, "venue.") {
		section = "venue.*"
	}
	return keyIndex[section+"."+k]
}

// Set sets one key ("section.key"; a venue's as "venue.NAME.key") from a
// flag, through the same setter and range as the file. Validate checks the
// rules across keys afterwards.
func (c *Config) Set(name, v string) error { return c.SetFrom("flag", name, v) }

// SetFrom is Set from a source a later error names (a flag, "--listen").
func (c *Config) SetFrom(source, name, v string) error {
	section, k, ok := cutLast(name, ".")
	if !ok || !c.knownSection(section) {
		return fmt.Errorf("%s: unknown key", name)
	}
	if err := c.set(section, k, v); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	c.setOrigin(name, source, 0)
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
// a key whose range is "-" takes no number. Every numeric value must be
// finite and within its range; where zero means "off" or "the venue's
// default" the range says so (zero).
type key struct {
	name string // "section.key"; a venue's is "venue.*.key"
	field
	r   rng
	doc string
}

// field is how a key reads its value into the Config and, for a number,
// reads it back (in the range's unit) so that Validate can hold every
// value to its range however it was set.
type field struct {
	set  setFunc
	get  func(c *Config, vs *VenueSettings) float64 // nil: not a number
	unit func(float64) string                       // writes a value of get
}

// rng is the values a numeric key accepts: lo..hi, and 0 as well when
// zero is set.
type rng struct {
	lo, hi float64
	zero   bool
}

// in reports whether f is in r.
func (r rng) in(f float64) bool { return (f >= r.lo && f <= r.hi) || (r.zero && f == 0) }

// say writes r for an error message, each bound formatted by f.
func (r rng) say(f func(float64) string) string {
	s := f(r.lo) + ".." + f(r.hi)
	if r.zero && r.lo > 0 {
		s += " (or 0)"
	}
	return s
}

// setFunc reads v into c (or vs, for a venue key) within r.
type setFunc func(c *Config, vs *VenueSettings, v string, r rng) error

var (
	none = rng{}                                                 // not a number
	off  = func(lo, hi float64) rng { return rng{lo, hi, true} } // 0 or lo..hi
	span = func(lo, hi float64) rng { return rng{lo, hi, false} }
)

const (
	day = 24 * 3600 // seconds
	kib = 1 << 10
	mib = 1 << 20
	gib = 1 << 30
	tib = 1 << 40
)

// The keys whose setters are functions of their own.
var (
	busURLKey     = field{set: setBusURL}
	boxNameKey    = field{set: setBoxName}
	listenKey     = field{set: setListen}
	hostsKey      = field{set: setHosts}
	shadowChatKey = field{set: setShadowChat}
	modelKey      = field{set: setModel}
)

// keys is every configuration key but the free-form [enrich.prices].
var keys = []key{
	{"general.data_dir", strKey(func(c *Config, _ *VenueSettings) *string { return &c.General.DataDir }), none, "directory of the log (store.path is relative to it)"},
	{"general.log_level", oneOf(func(c *Config, _ *VenueSettings) *string { return &c.General.LogLevel }, "%q is not one of debug, info, warn, error", "debug", "info", "warn", "error"), none, "debug, info, warn or error"},
	{"general.log_format", oneOf(func(c *Config, _ *VenueSettings) *string { return &c.General.LogFormat }, "%q is not text or json", "text", "json"), none, "text or json"},
	{"http.listen", listenKey, none, "host:port of /metrics, the status page and its API (empty: off); loopback unless allow_remote"},
	{"http.allow_remote", boolKey(func(c *Config, _ *VenueSettings) *bool { return &c.HTTP.AllowRemote }), none, "let listen be an address beyond loopback (nothing is authenticated; a warning is logged at start)"},
	{"http.allowed_hosts", hostsKey, none, "Host headers answered besides the listen address and loopback names: host or host:port, comma-separated"},
	{"http.clock_warn", durKey(func(c *Config, _ *VenueSettings) *time.Duration { return &c.HTTP.ClockWarn }), span(0.001, 3600), "clock-offset estimate above which /status and the page warn"},
	{"pipeline.ring_size", countKey(func(c *Config, _ *VenueSettings) *int { return &c.Pipeline.RingSize }), span(16, 1<<22), "events each connection's ring holds"},
	{"pipeline.dedup_window", durKey(func(c *Config, _ *VenueSettings) *time.Duration { return &c.Pipeline.DedupWindow }), span(1, day), "how long an event's identity is remembered against duplicates"},
	{"alerts.min_usd", usdKey(func(c *Config, _ *VenueSettings) *float64 { return &c.Alerts.MinUSD }), span(0, 1e10), "terminal sink threshold"},
	{"alerts.terminal", boolKey(func(c *Config, _ *VenueSettings) *bool { return &c.Alerts.Terminal }), none, "print alerts on the terminal"},
	{"store.path", strKey(func(c *Config, _ *VenueSettings) *string { return &c.Store.Path }), none, "the log file, relative to data_dir"},
	{"store.batch_max", countKey(func(c *Config, _ *VenueSettings) *int { return &c.Store.BatchMax }), span(1, 100000), "most events in one log transaction"},
	{"store.batch_delay", durKey(func(c *Config, _ *VenueSettings) *time.Duration { return &c.Store.BatchDelay }), span(0.0001, 1), "longest wait to fill a log transaction"},
	{"store.queue", countKey(func(c *Config, _ *VenueSettings) *int { return &c.Store.Queue }), span(16, 1<<24), "events waiting for the log before they are dropped (counted)"},
	{"store.retention_age", durKey(func(c *Config, _ *VenueSettings) *time.Duration { return &c.Store.RetentionAge }), off(3600, 3650*day), "delete events older than this (0: keep)"},
	{"store.retention_bytes", bytesKey(func(c *Config, _ *VenueSettings) *int64 { return &c.Store.RetentionBytes }), off(mib, 64*tib), "delete the oldest events above this size (0: no limit)"},
	{"store.redeliver_max_age", durKey(func(c *Config, _ *VenueSettings) *time.Duration { return &c.Store.RedeliverMaxAge }), span(0, day), "after a restart, deliver undelivered events younger than this (0: none)"},
	{"store.heartbeat", durKey(func(c *Config, _ *VenueSettings) *time.Duration { return &c.Store.Heartbeat }), span(0.1, 60), "how often an idle service records that it is alive (bounds a crash gap's start)"},
	{"venue.*.enabled", boolKey(func(_ *Config, vs *VenueSettings) *bool { return &vs.Enabled }), none, "watch this venue"},
	{"venue.*.stream_url", wsKey(func(_ *Config, vs *VenueSettings) *string { return &vs.StreamURL }), none, "WebSocket endpoint (empty: the venue's own)"},
	{"venue.*.inverse_stream_url", wsKey(func(_ *Config, vs *VenueSettings) *string { return &vs.InverseStreamURL }), none, "the inverse endpoint of Bybit, HTX (coin-margined) and Gate (BTC-settled) (empty: the venue's own)"},
	{"venue.*.rest_url", field{set: setRESTURL}, none, "REST endpoint for instrument metadata (empty: the venue's own; off: never fetch, the embedded snapshot only)"},
	{"venue.*.conns", countKey(func(_ *Config, vs *VenueSettings) *int { return &vs.Conns }), off(1, 8), "redundant connections (0: the venue's default, 2 for Binance USD-M, 1 elsewhere)"},
	{"venue.*.stale_after", durKey(func(_ *Config, vs *VenueSettings) *time.Duration { return &vs.StaleAfter }), off(1, 3600), "a connection silent this long is dead (0: the venue's default)"},
	{"venue.*.refresh_every", durKey(func(_ *Config, vs *VenueSettings) *time.Duration { return &vs.RefreshEvery }), off(60, 7*day), "instrument metadata refresh period (0: 1h)"},
	{"venue.*.canary", canaryKey(func(vs *VenueSettings) *string { return &vs.Canary }), none, "instruments of the canary stream, comma-separated (empty: the venue's default; none: no canary)"},
	{"venue.*.inverse_canary", canaryKey(func(vs *VenueSettings) *string { return &vs.InverseCanary }), none, "the inverse endpoint's canary instruments (Bybit, HTX, Gate), as canary"},
	{"venue.*.canary_after", durKey(func(_ *Config, vs *VenueSettings) *time.Duration { return &vs.CanaryAfter }), off(1, 3600), "a canary silent this long means a dead subscription: replace the connection (0: the venue's default)"},
	{"telegram.enabled", boolKey(func(c *Config, _ *VenueSettings) *bool { return &c.Telegram.Enabled }), none, "send alerts to Telegram (needs TELEGRAM_BOT_TOKEN)"},
	{"telegram.api_url", urlKey(func(c *Config, _ *VenueSettings) *string { return &c.Telegram.APIURL }), none, "Bot API server"},
	{"telegram.token_file", strKey(func(c *Config, _ *VenueSettings) *string { return &c.Telegram.TokenFile }), none, "0600 file with the bot token, when not in the environment"},
	{"telegram.chats", idsKey(func(c *Config, _ *VenueSettings) *[]int64 { return &c.Telegram.Chats }), none, "chats subscribed by configuration"},
	{"telegram.allow_users", idsKey(func(c *Config, _ *VenueSettings) *[]int64 { return &c.Telegram.AllowUsers }), none, "user ids allowed to command the bot"},
	{"telegram.min_usd", usdKey(func(c *Config, _ *VenueSettings) *float64 { return &c.Telegram.MinUSD }), span(0, 1e10), "default alert threshold of a chat"},
	{"telegram.lang", langKey(func(c *Config, _ *VenueSettings) *string { return &c.Telegram.Lang }), none, "default language, en or vi"},
	{"telegram.shadow", boolKey(func(c *Config, _ *VenueSettings) *bool { return &c.Telegram.Shadow }), none, "shadow mode (as --shadow)"},
	{"telegram.shadow_chat", shadowChatKey, none, "the one chat a shadow box sends to (0: nowhere)"},
	{"telegram.queue", countKey(func(c *Config, _ *VenueSettings) *int { return &c.Telegram.QueueSize }), span(1, 1<<20), "alerts waiting per chat"},
	{"telegram.metrics_chat_labels", boolKey(func(c *Config, _ *VenueSettings) *bool { return &c.Telegram.MetricsChatLabels }), none, "label the per-chat queue gauge with chat ids"},
	{"telegram.cascades", cascadesKey, none, "cascade rules of a chat that has set none, ASSET:USD:WINDOW[:SIDE] comma-separated"},
	{"telegram.limits.per_chat", durKey(func(c *Config, _ *VenueSettings) *time.Duration { return &c.Telegram.Limits.PerChat }), span(0.001, 60), "least spacing of messages to one chat"},
	{"telegram.limits.group_window", durKey(func(c *Config, _ *VenueSettings) *time.Duration { return &c.Telegram.Limits.GroupWindow }), span(1, 3600), "window of the group limit"},
	{"telegram.limits.group_max", countKey(func(c *Config, _ *VenueSettings) *int { return &c.Telegram.Limits.GroupMax }), span(1, 1000), "messages per window to one group"},
	{"telegram.limits.global", durKey(func(c *Config, _ *VenueSettings) *time.Duration { return &c.Telegram.Limits.Global }), span(0.001, 10), "least spacing of all messages"},
	{"telegram.limits.burst", countKey(func(c *Config, _ *VenueSettings) *int { return &c.Telegram.Limits.Burst }), span(2, 30), "messages a chat may get back to back before per_chat spacing applies"},
	{"telegram.limits.reserve", countKey(func(c *Config, _ *VenueSettings) *int { return &c.Telegram.Limits.Reserve }), span(1, 29), "of the burst, kept for raw alerts: analyses and edits never spend it (below burst)"},
	{"enrich.enabled", boolKey(func(c *Config, _ *VenueSettings) *bool { return &c.Enrich.Enabled }), none, "ask the LLM (needs HOLYSHEEP_API_KEY; else the rule-based read)"},
	{"enrich.base_url", urlKey(func(c *Config, _ *VenueSettings) *string { return &c.Enrich.BaseURL }), none, "OpenAI-compatible API"},
	{"enrich.api_key_file", strKey(func(c *Config, _ *VenueSettings) *string { return &c.Enrich.APIKeyFile }), none, "0600 file with the API key, when not in the environment"},
	{"enrich.model", modelKey, none, "model name; it needs a price"},
	{"enrich.timeout", durKey(func(c *Config, _ *VenueSettings) *time.Duration { return &c.Enrich.Timeout }), span(0.1, 300), "bound on one request"},
	{"enrich.max_tokens", countKey(func(c *Config, _ *VenueSettings) *int { return &c.Enrich.MaxTokens }), span(16, 1<<20), "completion cap"},
	{"enrich.temperature", floatKey(func(c *Config, _ *VenueSettings) *float64 { return &c.Enrich.Temperature }), span(0, 2), "sampling temperature"},
	{"enrich.window", durKey(func(c *Config, _ *VenueSettings) *time.Duration { return &c.Enrich.Window }), span(0.01, 60), "how long alerts are collected into one request"},
	{"enrich.max_batch", countKey(func(c *Config, _ *VenueSettings) *int { return &c.Enrich.MaxBatch }), span(1, 100), "most alerts in one request"},
	{"enrich.queue", countKey(func(c *Config, _ *VenueSettings) *int { return &c.Enrich.Queue }), span(1, 1<<20), "alerts waiting for analysis"},
	{"enrich.min_usd", usdKey(func(c *Config, _ *VenueSettings) *float64 { return &c.Enrich.MinUSD }), span(0, 1e10), "only alerts of at least this are analysed"},
	{"enrich.lang", langKey(func(c *Config, _ *VenueSettings) *string { return &c.Enrich.Lang }), none, "language of the analysis, en or vi"},
	{"enrich.daily_token_cap", countKey(func(c *Config, _ *VenueSettings) *int64 { return &c.Enrich.DailyTokenCap }), span(0, math.MaxInt32), "tokens a UTC day (0: no cap)"},
	{"enrich.analysis_max_age", durKey(func(c *Config, _ *VenueSettings) *time.Duration { return &c.Enrich.AnalysisMaxAge }), span(1, 3600), "an alert older than this gets no analysis edit (the analysis stays in the log)"},
	{"enrich.max_inflight", countKey(func(c *Config, _ *VenueSettings) *int { return &c.Enrich.MaxInFlight }), span(1, 8), "LLM requests out at once"},
	{"enrich.monthly_usd_cap", floatKey(func(c *Config, _ *VenueSettings) *float64 { return &c.Enrich.MonthlyUSDCap }), span(0, 1e6), "USD a UTC month (0: no cap)"},
	{"bus.url", busURLKey, none, "NATS server URLs, comma-separated (empty: no bus); a password in them is never shown"},
	{"bus.box_name", boxNameKey, none, "this box's name on the bus (empty: the host name)"},
	{"bus.publish", boolKey(func(c *Config, _ *VenueSettings) *bool { return &c.Bus.Publish }), none, "publish every event and gap the log commits"},
	{"bus.consume", boolKey(func(c *Config, _ *VenueSettings) *bool { return &c.Bus.Consume }), none, "read the stream as one more source of the pipeline"},
	{"bus.stream", strKey(func(c *Config, _ *VenueSettings) *string { return &c.Bus.Stream }), none, "JetStream stream name"},
	{"bus.subject", strKey(func(c *Config, _ *VenueSettings) *string { return &c.Bus.Subject }), none, "subject prefix: <subject>.events.<venue>, <subject>.gaps.<venue>"},
	{"bus.consumer", strKey(func(c *Config, _ *VenueSettings) *string { return &c.Bus.Consumer }), none, "durable consumer name (empty: liqbox-<box name>)"},
	{"bus.creds", strKey(func(c *Config, _ *VenueSettings) *string { return &c.Bus.Creds }), none, "NATS credentials file, mode 0600"},
	{"bus.tls", boolKey(func(c *Config, _ *VenueSettings) *bool { return &c.Bus.TLS }), none, "require TLS and verify the server's certificate"},
	{"bus.tls_ca", strKey(func(c *Config, _ *VenueSettings) *string { return &c.Bus.TLSCA }), none, "PEM file of the CA that signed the server's certificate (implies tls)"},
	{"bus.create_stream", boolKey(func(c *Config, _ *VenueSettings) *bool { return &c.Bus.CreateStream }), none, "create the stream with the limits below when it does not exist"},
	{"bus.replicas", countKey(func(c *Config, _ *VenueSettings) *int { return &c.Bus.Replicas }), span(1, 5), "copies of a created stream in a NATS cluster"},
	{"bus.max_age", durKey(func(c *Config, _ *VenueSettings) *time.Duration { return &c.Bus.MaxAge }), span(60, 3650*day), "a created stream drops messages older than this"},
	{"bus.max_bytes", bytesKey(func(c *Config, _ *VenueSettings) *int64 { return &c.Bus.MaxBytes }), span(mib, 64*tib), "and its oldest messages beyond this size"},
	{"bus.duplicates", durKey(func(c *Config, _ *VenueSettings) *time.Duration { return &c.Bus.Duplicates }), span(1, day), "a created stream's de-duplication window by message id"},
	{"bus.max_inflight", countKey(func(c *Config, _ *VenueSettings) *int { return &c.Bus.MaxInFlight }), span(1, 1<<16), "publishes awaiting JetStream's acknowledgement at once"},
	{"bus.alert_max_age", durKey(func(c *Config, _ *VenueSettings) *time.Duration { return &c.Bus.AlertMaxAge }), span(0.1, bus.MaxAlertAge.Seconds()), "an event that reaches this box later than this after its edge box received it is backlog (never alerted)"},
	{"relay.holysheep.enabled", boolKey(func(c *Config, _ *VenueSettings) *bool { return &c.Relay.Enabled }), none, "read the HolySheep relay as one more source (needs HOLYSHEEP_API_KEY)"},
	{"relay.holysheep.stream_url", wsKey(func(c *Config, _ *VenueSettings) *string { return &c.Relay.StreamURL }), none, "the relay's WebSocket endpoint"},
	{"relay.holysheep.model", strKey(func(c *Config, _ *VenueSettings) *string { return &c.Relay.Model }), none, "the X-Model header (empty: enrich.model)"},
	{"relay.holysheep.exchanges", relayExchangesKey, none, "the relay's exchanges to subscribe, comma-separated, one connection each (binance, bybit, okx, bitmex, deribit)"},
	{"relay.holysheep.symbols", listKey(func(c *Config) *[]string { return &c.Relay.Symbols }), none, "symbols to subscribe, comma-separated, as the venue writes them (ALL: every one)"},
	{"relay.holysheep.threshold_usd", usdKey(func(c *Config, _ *VenueSettings) *float64 { return &c.Relay.ThresholdUSD }), span(0, 1e10), "the relay sends only liquidations of at least this"},
	{"relay.holysheep.stale_after", durKey(func(c *Config, _ *VenueSettings) *time.Duration { return &c.Relay.StaleAfter }), off(1, 3600), "a relay connection silent this long is dead (0: 60s)"},
	{"relay.holysheep.match_window", durKey(func(c *Config, _ *VenueSettings) *time.Duration { return &c.Relay.MatchWindow }), span(0.001, 60), "a relay copy and the venue's are one liquidation only if their times are this close"},
	{"relay.holysheep.match_size", ratioKey(func(c *Config) *float64 { return &c.Relay.MatchSize }), span(0, 1), "and their USD sizes within this of each other (same side)"},
	{"relay.holysheep.match_agree", ratioKey(func(c *Config) *float64 { return &c.Relay.MatchAgree }), span(0, 1), "copies differing by more in USD or price disagree (counted); a copy of the other side is one liquidation only within this"},
}

// keyIndex finds a key of the table by name.
var keyIndex = func() map[string]*key {
	m := make(map[string]*key, len(keys))
	for i := range keys {
		m[keys[i].name] = &keys[i]
	}
	return m
}()

// secretKeys are names an operator may try for a secret. They are not
// keys: secrets never live in the config file.
var secretKeys = map[string]string{
	"telegram.token":     "the bot token goes in TELEGRAM_BOT_TOKEN, or in a 0600 file named by telegram.token_file",
	"telegram.bot_token": "the bot token goes in TELEGRAM_BOT_TOKEN, or in a 0600 file named by telegram.token_file",
	"enrich.api_key":     "the API key goes in HOLYSHEEP_API_KEY, or in a 0600 file named by enrich.api_key_file",
	"enrich.key":         "the API key goes in HOLYSHEEP_API_KEY, or in a 0600 file named by enrich.api_key_file",
}

// unknownKeyMsg says that section.k is not a key, and what the operator
// probably meant: the nearest key of the section, the same key in another
// section, or where a secret goes instead. It never repeats the value.
func unknownKeyMsg(section, k string) string {
	if hint, ok := secretKeys[section+"."+k]; ok {
		return "not a key: secrets never live in the config file; " + hint
	}
	sec := section
	if strings.HasPrefix(sec, "venue.") {
		sec = "venue.*"
	}
	best, bestD := "", len(k)/3+2 // accept at most about a third of the name wrong
	for i := range keys {
		ks, kk, _ := cutLast(keys[i].name, ".")
		if kk == k && ks != sec {
			return fmt.Sprintf("unknown key in [%s]; %s is a key of [%s]", section, k, strings.Replace(ks, "venue.*", "venue.NAME", 1))
		}
		if ks != sec {
			continue
		}
		if d := editDistance(k, kk); d < bestD {
			best, bestD = kk, d
		}
	}
	if best != "" {
		return "unknown key; did you mean " + best + "?"
	}
	return "unknown key"
}

// suggestSection is "; did you mean [general]?" for a section name one or
// two edits from a known one.
func suggestSection(s string) string {
	names := []string{"general", "http", "pipeline", "alerts", "store", "telegram", "telegram.limits", "enrich", "enrich.prices", "relay.holysheep", "bus"}
	for _, v := range event.Venues() {
		names = append(names, "venue."+v.String())
	}
	best, bestD := "", len(s)/3+2
	for _, n := range names {
		if d := editDistance(s, n); d < bestD {
			best, bestD = n, d
		}
	}
	if best == "" {
		return ""
	}
	return "; did you mean [" + best + "]?"
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func strKey(f func(*Config, *VenueSettings) *string) field {
	return field{set: func(c *Config, vs *VenueSettings, v string, _ rng) error { *f(c, vs) = v; return nil }}
}

func oneOf(f func(*Config, *VenueSettings) *string, msg string, allowed ...string) field {
	return field{set: func(c *Config, vs *VenueSettings, v string, _ rng) error {
		if !slices.Contains(allowed, v) {
			return fmt.Errorf(msg, v)
		}
		*f(c, vs) = v
		return nil
	}}
}

func boolKey(f func(*Config, *VenueSettings) *bool) field {
	return field{set: func(c *Config, vs *VenueSettings, v string, _ rng) error { return setBool(f(c, vs), v) }}
}

// countKey reads a whole number into an int or int64 field.
func countKey[T int | int64](f func(*Config, *VenueSettings) *T) field {
	return field{set: func(c *Config, vs *VenueSettings, v string, r rng) error {
		n, err := parseCount(v, r)
		if err != nil {
			return err
		}
		*f(c, vs) = T(n)
		return nil
	}, get: func(c *Config, vs *VenueSettings) float64 { return float64(*f(c, vs)) }, unit: fmtNum}
}

func floatKey(f func(*Config, *VenueSettings) *float64) field {
	return field{set: func(c *Config, vs *VenueSettings, v string, r rng) error {
		x, err := strconv.ParseFloat(v, 64)
		if err != nil || !plainDecimal(v) {
			return fmt.Errorf("%q is not a number such as 0.2", v)
		}
		if !r.in(x) {
			return fmt.Errorf("%q is outside %s", v, r.say(fmtNum))
		}
		*f(c, vs) = x
		return nil
	}, get: func(c *Config, vs *VenueSettings) float64 { return *f(c, vs) }, unit: fmtNum}
}

func durKey(f func(*Config, *VenueSettings) *time.Duration) field {
	return field{set: func(c *Config, vs *VenueSettings, v string, r rng) error {
		d, err := parseDuration(v)
		if err != nil {
			return err
		}
		if !r.in(d.Seconds()) {
			return fmt.Errorf("%q is outside %s", v, r.say(fmtSeconds))
		}
		*f(c, vs) = d
		return nil
	}, get: func(c *Config, vs *VenueSettings) float64 { return f(c, vs).Seconds() }, unit: fmtSeconds}
}

func bytesKey(f func(*Config, *VenueSettings) *int64) field {
	return field{set: func(c *Config, vs *VenueSettings, v string, r rng) error {
		n, err := parseBytes(v)
		if err != nil {
			return err
		}
		if !r.in(n) {
			return fmt.Errorf("%q is outside %s", v, r.say(fmtBytes))
		}
		*f(c, vs) = int64(n)
		return nil
	}, get: func(c *Config, vs *VenueSettings) float64 { return float64(*f(c, vs)) }, unit: fmtBytes}
}

func usdKey(f func(*Config, *VenueSettings) *float64) field {
	return field{set: func(c *Config, vs *VenueSettings, v string, r rng) error {
		u, err := USDSetting(v)
		if err != nil {
			return err
		}
		if !r.in(u) {
			return fmt.Errorf("%q is outside %s", v, r.say(fmtUSD))
		}
		*f(c, vs) = u
		return nil
	}, get: func(c *Config, vs *VenueSettings) float64 { return *f(c, vs) }, unit: fmtUSD}
}

func urlKey(f func(*Config, *VenueSettings) *string) field {
	return field{set: func(c *Config, vs *VenueSettings, v string, _ rng) error { return setURL(f(c, vs), v) }}
}

// setRESTURL takes an http(s) URL, or "off" (ingest.RESTOff).
func setRESTURL(_ *Config, vs *VenueSettings, v string, _ rng) error {
	if strings.EqualFold(strings.TrimSpace(v), ingest.RESTOff) {
		vs.RESTURL = ingest.RESTOff
		return nil
	}
	return setURL(&vs.RESTURL, v)
}

func wsKey(f func(*Config, *VenueSettings) *string) field {
	return field{set: func(c *Config, vs *VenueSettings, v string, _ rng) error { return setWSURL(f(c, vs), v) }}
}

func idsKey(f func(*Config, *VenueSettings) *[]int64) field {
	return field{set: func(c *Config, vs *VenueSettings, v string, _ rng) error { return setIDs(f(c, vs), v) }}
}

func langKey(f func(*Config, *VenueSettings) *string) field {
	return field{set: func(c *Config, vs *VenueSettings, v string, _ rng) error { return setLang(f(c, vs), v) }}
}

func canaryKey(f func(*VenueSettings) *string) field {
	return field{set: func(_ *Config, vs *VenueSettings, v string, _ rng) error {
		if err := ingest.CheckCanary(v); err != nil {
			return err
		}
		*f(vs) = strings.TrimSpace(v)
		return nil
	}}
}

func setListen(c *Config, _ *VenueSettings, v string, _ rng) error {
	if v != "" {
		if _, port, err := net.SplitHostPort(v); err != nil || !validPort(port) {
			return fmt.Errorf("%q is not host:port", v)
		}
	}
	c.HTTP.Listen = v
	return nil
}

// setHosts reads http.allowed_hosts: host names or IPs, each with or
// without a port, as a browser sends them in the Host header.
func setHosts(c *Config, _ *VenueSettings, v string, _ rng) error {
	var hosts []string
	for _, f := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' }) {
		name := f
		if h, port, err := net.SplitHostPort(f); err == nil {
			if !validPort(port) {
				return fmt.Errorf("%q is not a host or host:port", f)
			}
			name = h
		} else if strings.Count(f, ":") > 1 {
			return fmt.Errorf("%q: write an IPv6 address in brackets, as [fd00::1] or [fd00::1]:9464", f)
		}
		if !validHostName(strings.Trim(name, "[]")) {
			return fmt.Errorf("%q is not a host or host:port (no scheme, no path)", f)
		}
		hosts = append(hosts, f)
	}
	c.HTTP.AllowedHosts = hosts
	return nil
}

func validPort(p string) bool {
	n, err := strconv.Atoi(p)
	return err == nil && n >= 0 && n <= 65535 && p == strconv.Itoa(n)
}

// validHostName accepts a DNS name or an IP address.
func validHostName(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	if net.ParseIP(h) != nil {
		return true
	}
	for _, c := range h {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// IsLoopbackListen reports whether a listen address ("host:port", "" for
// off) can only be reached from this machine: localhost or a loopback IP.
// An empty host (":9464"), 0.0.0.0, [::] and every other address are not.
func IsLoopbackListen(addr string) bool {
	if addr == "" {
		return true
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func setShadowChat(c *Config, _ *VenueSettings, v string, _ rng) error {
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

func setBusURL(c *Config, _ *VenueSettings, v string, _ rng) error {
	if v != "" {
		if _, err := bus.NewRedactor(v); err != nil {
			return err // never repeats the URL: it may hold a password
		}
	}
	c.Bus.URL = v
	return nil
}

func setBoxName(c *Config, _ *VenueSettings, v string, _ rng) error {
	if v != "" {
		if err := bus.CheckBoxName(v); err != nil {
			return err
		}
	}
	c.Bus.BoxName = v
	return nil
}

func setModel(c *Config, _ *VenueSettings, v string, _ rng) error {
	if v == "" {
		return errors.New("must not be empty")
	}
	c.Enrich.Model = v
	return nil
}

// priceRange bounds a price per million tokens.
var priceRange = span(0, 10000)

// setPrice parses "input/output" USD per million tokens, e.g. "0.28/0.42".
func (c *Config) setPrice(model, v string) error {
	in, out, ok := strings.Cut(v, "/")
	if !ok {
		return fmt.Errorf("%q is not input/output USD per million tokens (e.g. 0.28/0.42)", v)
	}
	var p enrich.Price
	set := floatKey(func(*Config, *VenueSettings) *float64 { return &p.InputPerM }).set
	if err := set(c, nil, strings.TrimSpace(in), priceRange); err != nil {
		return fmt.Errorf("input price: %w", err)
	}
	set = floatKey(func(*Config, *VenueSettings) *float64 { return &p.OutputPerM }).set
	if err := set(c, nil, strings.TrimSpace(out), priceRange); err != nil {
		return fmt.Errorf("output price: %w", err)
	}
	c.Enrich.Prices[model] = p
	return nil
}

// Validate checks the rules across keys, after every file and flag. Its
// errors name the file and line (or the flag) of the key that is wrong.
func (c *Config) Validate() error {
	// Every number in its key's range, however it was set (a setter checks
	// what it reads; this also holds what code or a flag put there).
	for i := range keys {
		k := &keys[i]
		if k.get == nil {
			continue
		}
		section, name, _ := cutLast(k.name, ".")
		for _, vs := range c.venueSections(section) {
			full := section + "." + name
			if vs.name != "" {
				full = "venue." + vs.name + "." + name
			}
			if v := k.get(c, vs.settings); !k.r.in(v) {
				return c.errAt(full, fmt.Sprintf("%s is outside %s", k.unit(v), k.r.say(k.unit)))
			}
		}
	}
	anyOn := c.Relay.Enabled || (c.Bus.URL != "" && c.Bus.Consume)
	var lastOff string
	for _, v := range event.Venues() {
		anyOn = anyOn || c.Venues[v].Enabled
		name := "venue." + v.String() + ".enabled"
		if lastOff == "" || c.origins[name].n > c.origins[lastOff].n {
			lastOff = name
		}
	}
	if !anyOn {
		return c.errAt(lastOff, "no venue enabled: set enabled = true in at least one [venue.NAME] section (or in [relay.holysheep], or consume the bus: bus.url and bus.consume)")
	}
	if c.Relay.Enabled && len(c.Relay.Exchanges) == 0 {
		return c.errAt("relay.holysheep.enabled", "true but relay.holysheep.exchanges is empty: name the relay's exchanges, e.g. binance")
	}
	if err := c.validateBus(); err != nil {
		return err
	}
	if bm := c.Venues[event.BitMEX]; bm.Enabled && bm.Conns > 1 {
		// Its rows carry no time, so the copies a second connection brings
		// differ in receive time and would each be alerted.
		return c.errAt("venue.bitmex.conns", fmt.Sprintf("%d connections: BitMEX liquidation rows carry no timestamp, so copies from redundant connections cannot be told apart; use 1", bm.Conns))
	}
	if l := c.Telegram.Limits; l.Reserve >= l.Burst {
		wrong := "telegram.limits.reserve"
		if c.origins["telegram.limits.burst"].n > c.origins[wrong].n {
			wrong = "telegram.limits.burst"
		}
		return c.errAt(wrong, fmt.Sprintf("reserve = %d must be below burst = %d", l.Reserve, l.Burst))
	}
	if _, ok := c.Enrich.Prices[c.Enrich.Model]; !ok {
		if _, ok := enrich.DefaultPrices()[c.Enrich.Model]; !ok {
			return c.errAt("enrich.model", fmt.Sprintf("%q has no price: add it under [enrich.prices] as input/output USD per million tokens", c.Enrich.Model))
		}
	}
	if !IsLoopbackListen(c.HTTP.Listen) && !c.HTTP.AllowRemote {
		return c.errAt("http.listen", fmt.Sprintf("%q is not a loopback address, and nothing served there is authenticated: use 127.0.0.1:PORT and reach it over an SSH tunnel, or set http.allow_remote = true to serve it beyond this machine anyway", c.HTTP.Listen))
	}
	return nil
}

// venueSection is one [venue.NAME] section's settings, or none (name "")
// for a key outside the venues.
type venueSection struct {
	name     string
	settings *VenueSettings
}

// venueSections lists the settings a key of section applies to: every
// venue's for "venue.*", else one with none.
func (c *Config) venueSections(section string) []venueSection {
	if section != "venue.*" {
		return []venueSection{{}}
	}
	var out []venueSection
	for _, v := range event.Venues() {
		out = append(out, venueSection{v.String(), c.Venues[v]})
	}
	return out
}

// errAt is a ConfigError at the place key was last set.
func (c *Config) errAt(key, msg string) error {
	o := c.origins[key]
	if o.file == "" {
		o.file = embeddedName
	}
	return &ConfigError{File: o.file, Line: o.line, Key: key, Msg: msg}
}

// validateBus checks the [bus] names as the box will use them (defaults
// filled, the host name as box name when none is set).
func (c *Config) validateBus() error {
	b := c.Bus
	if b.URL == "" || (!b.Publish && !b.Consume) {
		return nil
	}
	if b.BoxName == "" {
		b.BoxName = HostBoxName()
	}
	b.Defaults()
	if err := b.Validate(); err != nil {
		return c.errAt("bus.url", err.Error())
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

// setBool accepts exactly true and false: "yes", "on" or "1" may mean
// something else to whoever reads the file next.
func setBool(dst *bool, v string) error {
	switch v {
	case "true":
		*dst = true
	case "false":
		*dst = false
	default:
		return fmt.Errorf("%q is not true or false", v)
	}
	return nil
}

// parseCount reads a whole number (digits, "_" between them allowed) in r.
func parseCount(v string, r rng) (int64, error) {
	n, err := strconv.ParseInt(strings.ReplaceAll(v, "_", ""), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a whole number", v)
	}
	if !r.in(float64(n)) {
		return 0, fmt.Errorf("%q is outside %s", v, r.say(fmtNum))
	}
	return n, nil
}

// plainDecimal reports whether v is written with digits, one point and an
// optional sign or exponent only: ParseFloat also takes "NaN", "Inf" and
// hex floats, which no setting means.
func plainDecimal(v string) bool {
	for _, c := range v {
		if !(c >= '0' && c <= '9' || c == '.' || c == '-' || c == '+' || c == 'e' || c == 'E') {
			return false
		}
	}
	return v != ""
}

// parseDuration accepts Go durations ("500ms", "1h30m") plus whole or
// decimal days ("30d"), with no space between the number and its unit.
func parseDuration(v string) (time.Duration, error) {
	bad := fmt.Errorf("%q is not a duration such as 90s, 5m, 2h or 30d", v)
	if v == "0" {
		return 0, nil
	}
	if days, ok := strings.CutSuffix(v, "d"); ok {
		if !digits(days) {
			return 0, bad
		}
		n, err := strconv.ParseFloat(days, 64)
		if err != nil || n > 3650 {
			return 0, bad
		}
		return time.Duration(n * float64(24*time.Hour)), nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, bad
	}
	return d, nil
}

// digits reports whether s is a plain decimal: digits with at most one
// point, nothing else (no sign, exponent, space, NaN or Inf).
func digits(s string) bool {
	seen, point := false, false
	for _, c := range s {
		switch {
		case c >= '0' && c <= '9':
			seen = true
		case c == '.' && !point:
			point = true
		default:
			return false
		}
	}
	return seen
}

// parseBytes accepts a plain decimal with an optional B, KB, MB, GB or TB
// suffix (powers of 1024, any case) and no space before it: "512MB",
// "2GB", "1.5TB".
func parseBytes(v string) (float64, error) {
	s := strings.ToUpper(v)
	mult := 1.0
	for _, u := range []struct {
		suf string
		m   float64
	}{{"TB", tib}, {"GB", gib}, {"MB", mib}, {"KB", kib}, {"B", 1}} {
		if rest, ok := strings.CutSuffix(s, u.suf); ok {
			s, mult = rest, u.m
			break
		}
	}
	n, err := strconv.ParseFloat(s, 64)
	if !digits(s) || err != nil {
		return 0, fmt.Errorf("%q is not a size such as 512MB or 2GB (no space before the unit)", v)
	}
	return math.Round(n * mult), nil
}

// fmtNum, fmtSeconds, fmtBytes and fmtUSD write a range's bounds.
func fmtNum(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

func fmtSeconds(f float64) string {
	for _, u := range []struct {
		s   float64
		suf string
	}{{day, "d"}, {3600, "h"}, {60, "m"}} {
		if f >= u.s && math.Mod(f, u.s) == 0 {
			return strconv.FormatFloat(f/u.s, 'f', -1, 64) + u.suf
		}
	}
	return time.Duration(f * 1e9).String()
}

func fmtBytes(f float64) string {
	for _, u := range []struct {
		m   float64
		suf string
	}{{tib, "TB"}, {gib, "GB"}, {mib, "MB"}, {kib, "KB"}} {
		if f >= u.m && math.Mod(f, u.m) == 0 {
			return strconv.FormatFloat(f/u.m, 'f', -1, 64) + u.suf
		}
	}
	return strconv.FormatFloat(f, 'f', -1, 64) + "B"
}

func fmtUSD(f float64) string { return string(money.AppendUSD(nil, f, "0")) }

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

func listKey(f func(*Config) *[]string) field {
	return field{set: func(c *Config, _ *VenueSettings, v string, _ rng) error {
		*f(c) = splitList(v)
		return nil
	}}
}

// splitList reads a comma- or space-separated list.
func splitList(v string) []string {
	return strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' })
}

var relayExchangesKey = field{set: func(c *Config, _ *VenueSettings, v string, _ rng) error {
	list := splitList(v)
	for _, ex := range list {
		if _, ok := ingest.RelayVenue(ex); !ok {
			return fmt.Errorf("%q is not an exchange the relay forwards to a venue liqbox has (binance, bybit, okx, bitmex, deribit)", ex)
		}
	}
	c.Relay.Exchanges = list
	return nil
}}

func ratioKey(f func(*Config) *float64) field {
	return field{set: func(c *Config, _ *VenueSettings, v string, r rng) error {
		x, err := RatioSetting(v)
		if err != nil {
			return err
		}
		if !r.in(x) {
			return fmt.Errorf("%q is outside %s", v, r.say(fmtNum))
		}
		*f(c) = x
		return nil
	}, get: func(c *Config, _ *VenueSettings) float64 { return *f(c) }, unit: fmtNum}
}

// RatioSetting reads a share as the config and the flags write it: a
// percentage ("1%", "0.5 %") or a fraction ("0.01").
func RatioSetting(v string) (float64, error) {
	s := strings.TrimSpace(v)
	div := 1.0
	if p, ok := strings.CutSuffix(s, "%"); ok {
		s, div = strings.TrimSpace(p), 100
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
		return 0, fmt.Errorf("%q is not a share such as 1%%, 0.5%% or 0.01", v)
	}
	return f / div, nil
}
