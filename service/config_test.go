package service

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/ingest"
)

func writeConf(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "liqbox.conf")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaultConfigParses(t *testing.T) {
	c, err := LoadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTP.Listen != "127.0.0.1:9464" {
		t.Errorf("http.listen = %q: the default must be loopback", c.HTTP.Listen)
	}
	enabled := map[event.Venue]bool{}
	for _, v := range c.EnabledVenues() {
		enabled[v] = true
	}
	for _, v := range []event.Venue{event.BinanceUSDM, event.BinanceCOINM, event.Bybit, event.OKX, event.BitMEX,
		event.Deribit, event.KrakenFutures, event.HTX, event.Bitfinex, event.Gate, event.Bitget, event.Aster} {
		if !enabled[v] {
			t.Errorf("%s not enabled by default (enabled: %v)", v, c.EnabledVenues())
		}
	}
	if c.Store.RedeliverMaxAge != 2*time.Minute {
		t.Errorf("redeliver_max_age = %v, want 2m", c.Store.RedeliverMaxAge)
	}
	if c.Venues[event.BinanceUSDM].Conns != 2 {
		t.Errorf("binance-usdm conns = %d, want 2", c.Venues[event.BinanceUSDM].Conns)
	}
	if c.Enrich.Model != "deepseek-v3.2" {
		t.Errorf("model = %q", c.Enrich.Model)
	}
	// The file `config init` writes must itself pass `config check`.
	if _, err := LoadConfig(writeConf(t, string(DefaultConfigFile()))); err != nil {
		t.Fatalf("the default file written out does not load: %v", err)
	}
}

func TestConfigOverridesAndForms(t *testing.T) {
	c, err := LoadConfig(writeConf(t, `
# comment
[alerts]
min_usd = $1.5M   # trailing comment
[store]
retention_age = 30d
retention_bytes = 512MB
batch_delay = 2ms
[telegram]
chats = -1001234567890, 42
allow_users = 7
lang = vi
[venue.okx]
enabled = false
stream_url = "ws://127.0.0.1:9/ws"
[enrich.prices]
my-model = 0.1/0.2
[enrich]
model = my-model
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Alerts.MinUSD != 1.5e6 {
		t.Errorf("min_usd = %v", c.Alerts.MinUSD)
	}
	if c.Store.RetentionAge != 30*24*time.Hour || c.Store.RetentionBytes != 512<<20 || c.Store.BatchDelay != 2*time.Millisecond {
		t.Errorf("store = %+v", c.Store)
	}
	if len(c.Telegram.Chats) != 2 || c.Telegram.Chats[0] != -1001234567890 || c.Telegram.Lang != "vi" {
		t.Errorf("telegram = %+v", c.Telegram)
	}
	if c.Venues[event.OKX].Enabled || c.Venues[event.OKX].StreamURL != "ws://127.0.0.1:9/ws" {
		t.Errorf("okx = %+v", c.Venues[event.OKX])
	}
	if p := c.Enrich.Prices["my-model"]; p.InputPerM != 0.1 || p.OutputPerM != 0.2 {
		t.Errorf("price = %+v", p)
	}
}

// allVenuesOff is a config file that disables every venue liqbox knows.
func allVenuesOff() string {
	var b strings.Builder
	for _, v := range event.Venues() {
		b.WriteString("[venue." + v.String() + "]\nenabled = false\n")
	}
	return b.String()
}

func TestConfigErrorsNameLineKeyAndValue(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       []string // substrings of the error
	}{
		{"unknown key", "[store]\nbatch_size = 5\n", []string{":2:", "store.batch_size", "unknown key"}},
		{"unknown section", "\n[stor]\n", []string{":2:", "unknown section [stor]"}},
		{"unknown venue", "[venue.kraken]\n", []string{"unknown section [venue.kraken]"}},
		{"bad duration", "[store]\nbatch_delay = 5 ms\n", []string{":2:", "store.batch_delay", `"5 ms"`}},
		{"bad bool", "[alerts]\nterminal = maybe\n", []string{"alerts.terminal", `"maybe"`}},
		{"bad usd", "[telegram]\nmin_usd = lots\n", []string{"telegram.min_usd", `"lots"`}},
		{"negative usd", "[telegram]\nmin_usd = -5\n", []string{"telegram.min_usd"}},
		{"bad chat id", "[telegram]\nchats = 12, abc\n", []string{"telegram.chats", `"abc"`}},
		{"int out of range", "[venue.bybit]\nconns = 99\n", []string{"venue.bybit.conns", "99"}},
		{"bad listen", "[http]\nlisten = 9464\n", []string{"http.listen", `"9464"`}},
		{"bad url", "[enrich]\nbase_url = api.holysheep.ai\n", []string{"enrich.base_url"}},
		{"bad ws url", "[venue.okx]\nstream_url = http://x\n", []string{"venue.okx.stream_url"}},
		{"bad lang", "[telegram]\nlang = fr\n", []string{"telegram.lang", `"fr"`}},
		{"twice", "[store]\nqueue = 100\nqueue = 200\n", []string{":3:", "set twice (first on line 2)"}},
		{"no equals", "[store]\nqueue\n", []string{":2:", "expected key = value"}},
		{"key before section", "queue = 1\n", []string{":1:", "outside any [section]"}},
		{"bad price", "[enrich.prices]\nx = 1\n", []string{"enrich.prices.x", "input/output"}},
		{"unpriced model", "[enrich]\nmodel = mystery\n", []string{`"mystery"`, "[enrich.prices]"}},
		{"redundant bitmex", "[venue.bitmex]\nconns = 2\n", []string{":2:", "venue.bitmex.conns: 2 connections", "no timestamp"}},
		{"no venue", allVenuesOff(), []string{"no venue enabled"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadConfig(writeConf(t, tc.body))
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestConfigErrorTypeCarriesTheLine(t *testing.T) {
	_, err := LoadConfig(writeConf(t, "[store]\n\nqueue = x\n"))
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Line != 3 || ce.Key != "store.queue" {
		t.Fatalf("got %#v", err)
	}
}

func TestReadSecret(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "token")
	os.WriteFile(f, []byte("s3cret\n"), 0o600)
	t.Setenv("LIQBOX_TEST_SECRET", "")
	if v, err := ReadSecret("LIQBOX_TEST_SECRET", f); err != nil || v != "s3cret" {
		t.Fatalf("0600 file: %q %v", v, err)
	}
	os.Chmod(f, 0o644)
	_, err := ReadSecret("LIQBOX_TEST_SECRET", f)
	if err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("world-readable secret file accepted: %v", err)
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Fatal("the secret leaked into the error")
	}
	t.Setenv("LIQBOX_TEST_SECRET", "from-env")
	if v, _ := ReadSecret("LIQBOX_TEST_SECRET", f); v != "from-env" {
		t.Fatalf("environment must win: %q", v)
	}
}

// TestKeyTable checks the one list of keys against the embedded default
// file (every key of the table is there with its default, every key there
// is in the table) and against the README's config table (every key named
// in its section's row, nothing named that is not a key).
func TestKeyTable(t *testing.T) {
	inFile := map[string]bool{}
	section := ""
	for _, l := range strings.Split(string(DefaultConfigFile()), "\n") {
		l = strings.TrimSpace(l)
		switch {
		case l == "" || l[0] == '#':
		case l[0] == '[':
			section = strings.Trim(l, "[]")
			if strings.HasPrefix(section, "venue.") {
				section = "venue.*"
			}
		default:
			k, _, _ := strings.Cut(l, "=")
			inFile[section+"."+strings.TrimSpace(k)] = true
		}
	}
	for _, k := range keys {
		if !inFile[k.name] {
			t.Errorf("%s is not in embed/liqbox.conf", k.name)
		}
		if k.doc == "" || !(k.r.lo <= k.r.hi) || (k.get != nil) != (k.r != none) {
			t.Errorf("%s: doc %q, range %v, a number: %v", k.name, k.doc, k.r, k.get != nil)
		}
	}
	for k := range inFile {
		if keyIndex[k] == nil {
			t.Errorf("embed/liqbox.conf sets %s, which the table does not know", k)
		}
	}

	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	inREADME := map[string]bool{}
	row := regexp.MustCompile("^\\| `\\[([a-z.A-Z]+)\\]` \\| (.*) \\|$")
	tick := regexp.MustCompile("`([a-z_]+)`")
	for _, l := range strings.Split(string(readme), "\n") {
		m := row.FindStringSubmatch(l)
		if m == nil || m[1] == "enrich.prices" {
			continue
		}
		sec := strings.Replace(m[1], "venue.NAME", "venue.*", 1)
		for _, k := range tick.FindAllStringSubmatch(m[2], -1) {
			inREADME[sec+"."+k[1]] = true
		}
	}
	if len(inREADME) == 0 {
		t.Fatal("no config table found in README.md")
	}
	for _, k := range keys {
		if !inREADME[k.name] {
			t.Errorf("README's config table lacks %s", k.name)
		}
	}
	for k := range inREADME {
		if keyIndex[k] == nil {
			t.Errorf("README's config table names %s, which is not a key", k)
		}
	}
}

// TestREADMENamesOnlyKeys checks every `section.key` README names in
// backticks anywhere in its text (`telegram.shadow = true` too) against the
// key table: a renamed or misremembered key in the prose fails here, as
// one in the config table fails TestKeyTable. A section (`relay.holysheep`)
// and a secret's refused name (`telegram.token`, explained where README
// says secrets never live in the file) are names, not keys.
func TestREADMENamesOnlyKeys(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	named := regexp.MustCompile("`((?:alerts|bus|enrich|general|http|pipeline|relay|store|telegram|venue)(?:\\.[a-z0-9_*-]+)+)(?: = [^`]*)?`")
	venue := regexp.MustCompile(`^venue\.[a-z0-9*-]+\.`)
	isSection := func(name string) bool {
		for i := range keys {
			if strings.HasPrefix(keys[i].name, name+".") {
				return true
			}
		}
		return false
	}
	n := 0
	for _, m := range named.FindAllStringSubmatch(string(readme), -1) {
		n++
		name := venue.ReplaceAllString(m[1]+".", "venue.*.")
		name = name[:len(name)-1]
		if keyIndex[name] != nil || secretKeys[name] != "" || isSection(name) {
			continue
		}
		i := strings.LastIndexByte(name, '.')
		t.Errorf("README names %s: %s", m[0], unknownKeyMsg(name[:i], name[i+1:]))
	}
	if n == 0 {
		t.Fatal("README names no section.key at all: the pattern is wrong")
	}
}

func TestSetGoesThroughTheSetters(t *testing.T) {
	c, err := LoadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Set("http.listen", "127.0.0.1:1"); err != nil || c.HTTP.Listen != "127.0.0.1:1" {
		t.Errorf("Set http.listen: %v, %q", err, c.HTTP.Listen)
	}
	if err := c.Set("venue.okx.conns", "3"); err != nil || c.Venues[event.OKX].Conns != 3 {
		t.Errorf("Set venue.okx.conns: %v", err)
	}
	for _, tc := range []struct{ key, v, want string }{
		{"http.listen", "9464", `http.listen: "9464" is not host:port`},
		{"pipeline.ring_size", "1", `pipeline.ring_size: "1" is outside 16..4194304`},
		{"store.nope", "1", "store.nope: unknown key"},
		{"nope", "1", "nope: unknown key"},
	} {
		if err := c.Set(tc.key, tc.v); err == nil || err.Error() != tc.want {
			t.Errorf("Set(%s, %s) = %v, want %q", tc.key, tc.v, err, tc.want)
		}
	}
}

// TestCanaryKeys: venue.*.canary, inverse_canary and canary_after reach
// the venue's settings, and a bad value stops the start naming the line.
func TestCanaryKeys(t *testing.T) {
	c, err := LoadConfig(writeConf(t, "[venue.bybit]\ncanary = none\ninverse_canary = BTCUSD, ETHUSD\ncanary_after = 12s\n[venue.okx]\ncanary = BTC-USDT-SWAP\n"))
	if err != nil {
		t.Fatal(err)
	}
	if b := c.Venues[event.Bybit]; b.Canary != "none" || b.InverseCanary != "BTCUSD, ETHUSD" || b.CanaryAfter != 12*time.Second {
		t.Errorf("bybit = %+v", b)
	}
	if o := c.Venues[event.OKX]; o.Canary != "BTC-USDT-SWAP" || o.CanaryAfter != 0 {
		t.Errorf("okx = %+v", o)
	}
	for body, want := range map[string][]string{
		"[venue.okx]\ncanary = BTC USDT\n":       {":2:", "venue.okx.canary", `"BTC USDT"`},
		"[venue.okx]\ncanary = BTC-USDT-SWAP,\n": {":2:", "venue.okx.canary"},
		"[venue.bybit]\ninverse_canary = <x>\n":  {":2:", "venue.bybit.inverse_canary"},
		"[venue.bybit]\ncanary_after = 500ms\n":  {":2:", "venue.bybit.canary_after", "500ms"},
		"[venue.bitmex]\ncanary_after = 2h\n":    {":2:", "venue.bitmex.canary_after", "2h"},
		"[venue.bitmex]\ncanary_after = soon\n":  {":2:", "venue.bitmex.canary_after", `"soon"`},
	} {
		_, err := LoadConfig(writeConf(t, body))
		for _, w := range want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%q: error %v, want it to name %q", body, err, w)
			}
		}
	}
}

// TestConfigRefusesWhatSilentlyDisables: every value the audit found
// accepted although it turns something off or means nothing is refused,
// with the file, line, key and value.
func TestConfigRefusesWhatSilentlyDisables(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       []string
	}{
		{"NaN days", "[store]\nretention_age = NaNd\n", []string{":2:", "store.retention_age", `"NaNd"`}},
		{"Inf days", "[store]\nretention_age = Infd\n", []string{":2:", "store.retention_age", `"Infd"`}},
		{"1e30GB", "[store]\nretention_bytes = 1e30GB\n", []string{":2:", "store.retention_bytes", `"1e30GB"`}},
		{"huge GB", "[store]\nretention_bytes = 100000000000000000000GB\n", []string{"store.retention_bytes", "outside 1MB..64TB (or 0)"}},
		{"space before unit", "[store]\nretention_bytes = 2 GB\n", []string{":2:", "store.retention_bytes", `"2 GB"`, "no space"}},
		{"space in duration", "[store]\nretention_age = 30 d\n", []string{"store.retention_age", `"30 d"`}},
		{"tiny retention", "[store]\nretention_age = 1s\n", []string{"store.retention_age", `"1s" is outside 1h..3650d (or 0)`}},
		{"yes", "[venue.okx]\nenabled = yes\n", []string{":2:", "venue.okx.enabled", `"yes" is not true or false`}},
		{"on", "[alerts]\nterminal = on\n", []string{"alerts.terminal", `"on"`}},
		{"1", "[telegram]\nshadow = 1\n", []string{"telegram.shadow", `"1"`}},
		{"True", "[telegram]\nshadow = True\n", []string{"telegram.shadow", `"True"`}},
		{"second section", "[general]\nlog_level = info\n[store]\nqueue = 100\n[general]\nlog_format = json\n", []string{":5:", "[general] appears twice (first on line 1)"}},
		{"NaN temperature", "[enrich]\ntemperature = NaN\n", []string{"enrich.temperature", `"NaN"`}},
		{"hex temperature", "[enrich]\ntemperature = 0x1p-2\n", []string{"enrich.temperature", `"0x1p-2"`}},
		{"Inf cap", "[enrich]\nmonthly_usd_cap = Inf\n", []string{"enrich.monthly_usd_cap", `"Inf"`}},
		{"NaN price", "[enrich.prices]\nm = NaN/1\n", []string{"enrich.prices.m", `"NaN"`}},
		{"huge usd", "[telegram]\nmin_usd = 1e30\n", []string{"telegram.min_usd", `"1e30"`}},
		{"huge count", "[store]\nqueue = 99999999999999999999\n", []string{"store.queue", `"99999999999999999999"`}},
		{"conns 9", "[venue.okx]\nconns = 9\n", []string{"venue.okx.conns", `"9" is outside 1..8 (or 0)`}},
		{"negative stale", "[venue.okx]\nstale_after = -5s\n", []string{"venue.okx.stale_after", `"-5s"`}},
		{"zero dedup", "[pipeline]\ndedup_window = 0\n", []string{"pipeline.dedup_window", `"0" is outside 1s..1d`}},
		{"bad port", "[http]\nlisten = 127.0.0.1:99999\n", []string{"http.listen", `"127.0.0.1:99999"`}},
		{"bad allowed host", "[http]\nallowed_hosts = http://liqbox.lan/\n", []string{"http.allowed_hosts", `"http://liqbox.lan/"`}},
		// Rules across keys name the line of the key that is wrong.
		{"bitmex conns", "[general]\nlog_level = info\n\n[venue.bitmex]\nconns = 3\n", []string{":5:", "venue.bitmex.conns: 3 connections"}},
		{"reserve", "[telegram.limits]\nreserve = 3\n", []string{":2:", "telegram.limits.reserve", "must be below burst = 3"}},
		{"burst set last", "[telegram.limits]\nreserve = 2\nburst = 2\n", []string{":3:", "telegram.limits.burst"}},
		{"unpriced model", "[enrich]\n\nmodel = mystery\n", []string{":3:", "enrich.model", `"mystery"`}},
		// Every venue off; the last line names the last venue.
		{"no venue", allVenuesOff(), []string{":" + strconv.Itoa(2*len(event.Venues())) + ":",
			"venue." + event.Venues()[len(event.Venues())-1].String() + ".enabled", "no venue enabled"}},
		// The rules hold in shadow mode too (an early return skipped them).
		{"shadow skips nothing", "[telegram]\nenabled = false\nshadow = true\n[venue.bitmex]\nconns = 2\n", []string{":5:", "venue.bitmex.conns"}},
		{"shadow reserve", "[telegram]\nenabled = false\nshadow = true\n[telegram.limits]\nreserve = 5\n", []string{":5:", "telegram.limits.reserve"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeConf(t, tc.body)
			_, err := LoadConfig(path)
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.HasPrefix(err.Error(), path+":") {
				t.Errorf("error %q does not start with the file", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// TestEveryNumericKeyRefusesNonFinite tries values no key may take on
// every numeric key of the table.
func TestEveryNumericKeyRefusesNonFinite(t *testing.T) {
	for _, k := range keys {
		if k.r == none {
			continue
		}
		section, name, _ := cutLast(strings.Replace(k.name, "venue.*", "venue.okx", 1), ".")
		for _, v := range []string{"NaN", "nan", "Inf", "+Inf", "-Inf", "infinity", "1e400", "1e30", "-1", "0x10", "1 0", "NaNd", "1e30GB", "9223372036854775808"} {
			body := "[" + section + "]\n" + name + " = " + v + "\n"
			_, err := LoadConfig(writeConf(t, body))
			if err == nil {
				t.Errorf("%s = %s accepted", k.name, v)
				continue
			}
			if !strings.Contains(err.Error(), ":2: ") || !strings.Contains(err.Error(), strconv.Quote(v)) {
				t.Errorf("%s = %s: error %q does not name the line and value", k.name, v, err)
			}
		}
		// The highest value allowed is accepted, and a tenfold one is not.
		c := defaultConfig()
		if err := c.Set(section+"."+name, boundValue(k, k.r.hi)); err != nil {
			t.Errorf("%s at its upper bound: %v", k.name, err)
		}
		if err := c.Set(section+"."+name, boundValue(k, k.r.hi*10+10)); err == nil {
			t.Errorf("%s above its upper bound accepted", k.name)
		}
	}
}

// boundValue writes f in the unit k reads.
func boundValue(k key, f float64) string {
	switch {
	case strings.Contains(k.name, "retention_bytes"):
		return strconv.FormatFloat(f, 'f', -1, 64) + "B"
	case strings.HasSuffix(k.name, "min_usd"):
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	for _, d := range []string{"clock_warn", "dedup_window", "batch_delay", "retention_age", "redeliver_max_age",
		"heartbeat", "stale_after", "canary_after", "refresh_every", "per_chat", "group_window", "global", "timeout", "window", "max_age", "duplicates"} {
		if strings.HasSuffix(k.name, d) {
			return time.Duration(f * 1e9).String()
		}
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

func TestConfigZeroConnsIsTheVenueDefault(t *testing.T) {
	c, err := LoadConfig(writeConf(t, "[venue.okx]\nconns = 0\n[store]\nretention_age = 0\nretention_bytes = 0\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Venues[event.OKX].Conns != 0 || c.Store.RetentionAge != 0 || c.Store.RetentionBytes != 0 {
		t.Errorf("zero values: conns %d, retention %v %d", c.Venues[event.OKX].Conns, c.Store.RetentionAge, c.Store.RetentionBytes)
	}
}

func TestUnknownKeySuggestsTheNearest(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{"[general]\nloglevel = info\n", "general.loglevel: unknown key; did you mean log_level?"},
		{"[general]\nlog_levl = info\n", "did you mean log_level?"},
		{"[store]\nretention = 1d\n", "did you mean retention_age?"},
		{"[venue.okx]\nconn = 2\n", "venue.okx.conn: unknown key; did you mean conns?"},
		{"[http]\nlog_level = info\n", "unknown key in [http]; log_level is a key of [general]"},
		{"[telegram]\nstale_after = 1s\n", "stale_after is a key of [venue.NAME]"},
		{"[genral]\n", "unknown section [genral]; did you mean [general]?"},
		{"[store]\nxyzzy = 1\n", "store.xyzzy: unknown key"},
	} {
		_, err := LoadConfig(writeConf(t, tc.body))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.body, err, tc.want)
		}
	}
}

func TestSecretKeysGetAHintAndNeverTheirValue(t *testing.T) {
	const secret = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1"
	for _, body := range []string{
		"[telegram]\ntoken = " + secret + "\n",
		"[telegram]\ntoken = \"" + secret + "\n", // unterminated quote
		"[telegram]\nbot_token = " + secret + "\n",
		"[enrich]\napi_key = " + secret + "\n",
	} {
		_, err := LoadConfig(writeConf(t, body))
		if err == nil {
			t.Fatalf("%q accepted", body)
		}
		if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "AAHdq") {
			t.Errorf("the secret is in the error: %v", err)
		}
		if !strings.Contains(err.Error(), ":2:") || !strings.Contains(err.Error(), "secrets never live in the config file") ||
			!(strings.Contains(err.Error(), "TELEGRAM_BOT_TOKEN") || strings.Contains(err.Error(), "HOLYSHEEP_API_KEY")) {
			t.Errorf("no hint: %v", err)
		}
	}
}

func TestListenBeyondLoopbackNeedsAllowRemote(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:9464", "[::]:9464", ":9464", "192.168.1.5:9464", "box.lan:9464"} {
		_, err := LoadConfig(writeConf(t, "[http]\nlisten = "+addr+"\n"))
		if err == nil || !strings.Contains(err.Error(), ":2: http.listen: "+strconv.Quote(addr)+" is not a loopback address") ||
			!strings.Contains(err.Error(), "http.allow_remote = true") {
			t.Errorf("listen %s: %v", addr, err)
		}
		c, err := LoadConfig(writeConf(t, "[http]\nlisten = "+addr+"\nallow_remote = true\n"))
		if err != nil || c.HTTP.Listen != addr || !c.HTTP.AllowRemote {
			t.Errorf("listen %s with allow_remote: %v", addr, err)
		}
	}
	for _, addr := range []string{"127.0.0.1:9464", "127.0.0.2:1", "localhost:9464", "[::1]:9464", ""} {
		if _, err := LoadConfig(writeConf(t, "[http]\nlisten = "+addr+"\n")); err != nil {
			t.Errorf("loopback %q refused: %v", addr, err)
		}
	}
	// A flag goes through the same rule, and the error names the flag.
	c := defaultConfig()
	if err := c.SetFrom("--listen", "http.listen", "0.0.0.0:9464"); err != nil {
		t.Fatal(err)
	}
	err := c.Validate()
	if err == nil || !strings.HasPrefix(err.Error(), `--listen: http.listen: "0.0.0.0:9464" is not a loopback address`) {
		t.Errorf("--listen 0.0.0.0:9464: %v", err)
	}
}

// TestValidateHoldsCodeToTheRanges: a value put in the Config by code,
// not by a setter, is held to its key's range too.
func TestValidateHoldsCodeToTheRanges(t *testing.T) {
	c := defaultConfig()
	c.Venues[event.OKX].Conns = 20
	err := c.Validate()
	if err == nil || !strings.HasPrefix(err.Error(), "(embedded default):") || !strings.Contains(err.Error(), ": venue.okx.conns: 20 is outside 1..8 (or 0)") {
		t.Errorf("conns 20: %v", err)
	}
	c = defaultConfig()
	c.Store.RetentionBytes = -1
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "store.retention_bytes: -1B is outside 1MB..64TB (or 0)") {
		t.Errorf("retention_bytes -1: %v", err)
	}
}

// TestRESTURLOff: rest_url takes an http(s) URL or off (never fetch),
// nothing else.
func TestRESTURLOff(t *testing.T) {
	c, err := LoadConfig(writeConf(t, "[venue.okx]\nrest_url = off\n[venue.bitmex]\nrest_url = OFF\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Venues[event.OKX].RESTURL != ingest.RESTOff || c.Venues[event.BitMEX].RESTURL != ingest.RESTOff {
		t.Errorf("rest_url off read as %q, %q", c.Venues[event.OKX].RESTURL, c.Venues[event.BitMEX].RESTURL)
	}
	for _, v := range []string{"offf", "ftp://example.com", "no"} {
		if _, err := LoadConfig(writeConf(t, "[venue.okx]\nrest_url = "+v+"\n")); err == nil || !strings.Contains(err.Error(), "venue.okx.rest_url") {
			t.Errorf("rest_url = %s: %v, want refused naming the key", v, err)
		}
	}
}
