package service

import (
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/liqbox/liqbox/embed"
)

// FuzzParseConfig feeds config files, seeded from the embedded default and
// the files of the config tests, to the parser over the default: no input
// may panic, an error names the file, and a file that is accepted passes
// validation again and holds only finite, non-negative numbers, each in
// its key's range.
func FuzzParseConfig(f *testing.F) {
	f.Add(embed.DefaultConfig)
	for _, s := range []string{
		"[store]\nretention_age = NaNd\nretention_bytes = 1e30GB\n",
		"[store]\nretention_bytes = 2 GB\n[venue.okx]\nenabled = yes\nconns = 0\n",
		"[general]\nlog_level = info\n[general]\nlog_format = json\n",
		"[telegram]\nenabled = false\nshadow = true\n[venue.bitmex]\nconns = 2\n",
		"[telegram.limits]\nburst = 2\nreserve = 1\nper_chat = 1ms\nglobal = 1ms\n",
		"[http]\nlisten = 0.0.0.0:9464\nallow_remote = true\nallowed_hosts = liqbox.lan, [fd00::1]:9464\n",
		"[enrich.prices]\nm = 0.1/0.2\n[enrich]\nmodel = m\ntemperature = 1e-3\nmonthly_usd_cap = 1e6\n",
		"[alerts]\nmin_usd = $1.5M   # comment\n[telegram]\nchats = -1001234567890, 42\ntoken = x\n",
		"[venue.okx]\nstream_url = \"ws://127.0.0.1:9/ws\"\nstale_after = 1h\nrefresh_every = 7d\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := parseConfig("fuzz.conf", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.conf") && !strings.HasPrefix(err.Error(), "cannot read fuzz.conf") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("accepted, then invalid: %v", err)
		}
		checkNumbers(t, "config", reflect.ValueOf(c).Elem())
		for _, k := range keys {
			if k.get == nil {
				continue
			}
			section, _, _ := cutLast(k.name, ".")
			for _, vs := range c.venueSections(section) {
				if v := k.get(c, vs.settings); !k.r.in(v) || math.IsNaN(v) {
					t.Fatalf("%s (%s) = %v is outside %v", k.name, vs.name, v, k.r)
				}
			}
		}
	})
}

// checkNumbers fails for a NaN, an infinity or a negative number anywhere
// in v, but for chat ids (negative for groups).
func checkNumbers(t *testing.T, path string, v reflect.Value) {
	t.Helper()
	switch v.Kind() {
	case reflect.Float64:
		if f := v.Float(); math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
			t.Fatalf("%s = %v", path, f)
		}
	case reflect.Int, reflect.Int64:
		if v.Int() < 0 && !strings.Contains(path, "Chat") {
			t.Fatalf("%s = %d", path, v.Int())
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				checkNumbers(t, path+"."+v.Type().Field(i).Name, v.Field(i))
			}
		}
	case reflect.Pointer:
		if !v.IsNil() {
			checkNumbers(t, path, v.Elem())
		}
	case reflect.Map:
		for it := v.MapRange(); it.Next(); {
			checkNumbers(t, path+"["+it.Key().String()+"]", it.Value())
		}
	}
}
