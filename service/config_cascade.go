package service

import (
	"fmt"
	"strings"

	"github.com/liqbox/liqbox/cascade"
)

// cascadesKey reads telegram.cascades: comma-separated rules as `liqbox
// backtest --cascade` takes them (BTC:10M:5m, all:50M:15m:long), at most
// cascade.MaxRules, each once.
var cascadesKey = field{set: setCascades}

func setCascades(c *Config, _ *VenueSettings, v string, _ rng) error {
	var rules []cascade.Rule
	for _, spec := range strings.Split(v, ",") {
		if spec = strings.TrimSpace(spec); spec == "" {
			continue
		}
		r, err := cascade.ParseSpec(spec)
		if err != nil {
			return err
		}
		for _, x := range rules {
			if x == r {
				return fmt.Errorf("%s is there twice", spec)
			}
		}
		rules = append(rules, r)
	}
	if len(rules) > cascade.MaxRules {
		return fmt.Errorf("%d rules, a chat may have at most %d", len(rules), cascade.MaxRules)
	}
	c.Telegram.Cascades = rules
	return nil
}
