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
	"sort"
	"strconv"
	"strings"
	"time"

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
	Prices        map[string]enrich.Price
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
	case "general", "http", "pipeline", "alerts", "store", "telegram", "telegram.limits", "enrich", "enrich.prices":
		return true
	}
	if name, ok := strings.CutPrefix(s, "venue."); ok {
		_, known := event.ParseVenue(name)
		return known
	}
	return false
}

func (c *Config) set(section, k, v string) error {
	if name, ok := strings.CutPrefix(section, "venue."); ok {
		vn, _ := event.ParseVenue(name)
		return c.Venues[vn].set(k, v)
	}
	switch section + "." + k {
	case "general.data_dir":
		c.General.DataDir = v
	case "general.log_level":
		switch v {
		case "debug", "info", "warn", "error":
			c.General.LogLevel = v
		default:
			return fmt.Errorf("%q is not one of debug, info, warn, error", v)
		}
	case "general.log_format":
		if v != "text" && v != "json" {
			return fmt.Errorf("%q is not text or json", v)
		}
		c.General.LogFormat = v
	case "http.listen":
		if v != "" {
			if _, _, err := net.SplitHostPort(v); err != nil {
				return fmt.Errorf("%q is not host:port", v)
			}
		}
		c.HTTP.Listen = v
	case "http.clock_warn":
		return setDuration(&c.HTTP.ClockWarn, v)
	case "pipeline.ring_size":
		return setInt(&c.Pipeline.RingSize, v, 16, 1<<22)
	case "pipeline.dedup_window":
		return setDuration(&c.Pipeline.DedupWindow, v)
	case "alerts.min_usd":
		return setUSD(&c.Alerts.MinUSD, v)
	case "alerts.terminal":
		return setBool(&c.Alerts.Terminal, v)
	case "store.path":
		c.Store.Path = v
	case "store.batch_max":
		return setInt(&c.Store.BatchMax, v, 1, 100000)
	case "store.batch_delay":
		return setDuration(&c.Store.BatchDelay, v)
	case "store.queue":
		return setInt(&c.Store.Queue, v, 16, 1<<24)
	case "store.retention_age":
		return setDuration(&c.Store.RetentionAge, v)
	case "store.retention_bytes":
		return setBytes(&c.Store.RetentionBytes, v)
	case "store.redeliver_max_age":
		return setDuration(&c.Store.RedeliverMaxAge, v)
	case "telegram.enabled":
		return setBool(&c.Telegram.Enabled, v)
	case "telegram.api_url":
		return setURL(&c.Telegram.APIURL, v)
	case "telegram.token_file":
		c.Telegram.TokenFile = v
	case "telegram.chats":
		return setIDs(&c.Telegram.Chats, v)
	case "telegram.allow_users":
		return setIDs(&c.Telegram.AllowUsers, v)
	case "telegram.min_usd":
		return setUSD(&c.Telegram.MinUSD, v)
	case "telegram.lang":
		return setLang(&c.Telegram.Lang, v)
	case "telegram.shadow":
		return setBool(&c.Telegram.Shadow, v)
	case "telegram.shadow_chat":
		if v == "" || v == "0" {
			c.Telegram.ShadowChat = 0
			return nil
		}
		var ids []int64
		if err := setIDs(&ids, v); err != nil || len(ids) != 1 {
			return fmt.Errorf("%q is not one chat id", v)
		}
		c.Telegram.ShadowChat = ids[0]
	case "telegram.metrics_chat_labels":
		return setBool(&c.Telegram.MetricsChatLabels, v)
	case "telegram.queue":
		return setInt(&c.Telegram.QueueSize, v, 1, 1<<20)
	case "telegram.limits.per_chat":
		return setDuration(&c.Telegram.Limits.PerChat, v)
	case "telegram.limits.group_window":
		return setDuration(&c.Telegram.Limits.GroupWindow, v)
	case "telegram.limits.group_max":
		return setInt(&c.Telegram.Limits.GroupMax, v, 1, 1000)
	case "telegram.limits.global":
		return setDuration(&c.Telegram.Limits.Global, v)
	case "enrich.enabled":
		return setBool(&c.Enrich.Enabled, v)
	case "enrich.base_url":
		return setURL(&c.Enrich.BaseURL, v)
	case "enrich.api_key_file":
		c.Enrich.APIKeyFile = v
	case "enrich.model":
		if v == "" {
			return errors.New("must not be empty")
		}
		c.Enrich.Model = v
	case "enrich.timeout":
		return setDuration(&c.Enrich.Timeout, v)
	case "enrich.max_tokens":
		return setInt(&c.Enrich.MaxTokens, v, 16, 1<<20)
	case "enrich.temperature":
		return setFloat(&c.Enrich.Temperature, v, 0, 2)
	case "enrich.window":
		return setDuration(&c.Enrich.Window, v)
	case "enrich.max_batch":
		return setInt(&c.Enrich.MaxBatch, v, 1, 100)
	case "enrich.queue":
		return setInt(&c.Enrich.Queue, v, 1, 1<<20)
	case "enrich.min_usd":
		return setUSD(&c.Enrich.MinUSD, v)
	case "enrich.lang":
		return setLang(&c.Enrich.Lang, v)
	case "enrich.daily_token_cap":
		var n int
		if err := setInt(&n, v, 0, math.MaxInt32); err != nil {
			return err
		}
		c.Enrich.DailyTokenCap = int64(n)
	case "enrich.monthly_usd_cap":
		return setFloat(&c.Enrich.MonthlyUSDCap, v, 0, 1e6)
	default:
		if section == "enrich.prices" {
			return c.setPrice(k, v)
		}
		return errors.New("unknown key")
	}
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

func (vs *VenueSettings) set(k, v string) error {
	switch k {
	case "enabled":
		return setBool(&vs.Enabled, v)
	case "stream_url":
		return setWSURL(&vs.StreamURL, v)
	case "inverse_stream_url":
		return setWSURL(&vs.InverseStreamURL, v)
	case "rest_url":
		return setURL(&vs.RESTURL, v)
	case "conns":
		return setInt(&vs.Conns, v, 0, 8)
	case "stale_after":
		return setDuration(&vs.StaleAfter, v)
	case "refresh_every":
		return setDuration(&vs.RefreshEvery, v)
	}
	return errors.New("unknown key")
}

func (c *Config) validate() error {
	if c.Telegram.Shadow && c.Telegram.ShadowChat == 0 && !c.Telegram.Enabled {
		return nil
	}
	any := false
	for _, vs := range c.Venues {
		any = any || vs.Enabled
	}
	if !any {
		return errors.New("config: no venue enabled: set enabled = true in at least one [venue.NAME] section")
	}
	if bm := c.Venues[event.BitMEX]; bm.Enabled && bm.Conns > 1 {
		// Its rows carry no time, so the copies a second connection brings
		// differ in receive time and would each be alerted.
		return fmt.Errorf("config: venue.bitmex.conns = %d: BitMEX liquidation rows carry no timestamp, so copies from redundant connections cannot be told apart; use 1", bm.Conns)
	}
	if _, ok := c.Enrich.Prices[c.Enrich.Model]; !ok {
		if _, ok := enrich.DefaultPrices()[c.Enrich.Model]; !ok {
			return fmt.Errorf("config: enrich.model %q has no price: add it under [enrich.prices] as input/output USD per million tokens", c.Enrich.Model)
		}
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
