package service

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/liqbox/liqbox/event"
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
	if len(c.EnabledVenues()) != 7 {
		t.Errorf("enabled venues = %v", c.EnabledVenues())
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
		{"redundant bitmex", "[venue.bitmex]\nconns = 2\n", []string{"venue.bitmex.conns = 2", "no timestamp"}},
		{"no venue", "[venue.binance-usdm]\nenabled = false\n[venue.binance-coinm]\nenabled = false\n[venue.bybit]\nenabled = false\n[venue.okx]\nenabled = false\n[venue.bitmex]\nenabled = false\n[venue.htx]\nenabled = false\n[venue.gate]\nenabled = false\n", []string{"no venue enabled"}},
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
		if k.doc == "" || !(k.lo <= k.hi) {
			t.Errorf("%s: doc %q, range %v..%v", k.name, k.doc, k.lo, k.hi)
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
		{"pipeline.ring_size", "1", "pipeline.ring_size: 1 is outside 16..4194304"},
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
