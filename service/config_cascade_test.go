package service

import (
	"strings"
	"testing"
)

func TestConfigCascades(t *testing.T) {
	c, err := LoadConfig(writeConf(t, "[telegram]\ncascades = BTC:10M:5m, all:50M:15m:long\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Telegram.Cascades) != 2 || c.Telegram.Cascades[0].String() != "BTC:10M:5m:both" || c.Telegram.Cascades[1].String() != "all:50M:15m:long" {
		t.Errorf("telegram.cascades = %v", c.Telegram.Cascades)
	}
	if d, _ := LoadConfig(""); len(d.Telegram.Cascades) != 0 {
		t.Errorf("default rules: %v", d.Telegram.Cascades)
	}
	for body, want := range map[string]string{
		"[telegram]\ncascades = BTC:10M\n":                                              "liqbox.conf:2: telegram.cascades",
		"[telegram]\ncascades = BTC:10M:5s\n":                                           "not a window from 1m to 24h",
		"[telegram]\ncascades = BTC:10M:5m, btc:10m:5m\n":                               "twice",
		"[telegram]\ncascades = A:1M:1h, B:1M:1h, C:1M:1h, D:1M:1h, E:1M:1h, F:1M:1h\n": "at most 5",
	} {
		_, err := LoadConfig(writeConf(t, body))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want an error with %q", body, err, want)
		}
	}
}
