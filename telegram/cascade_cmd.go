package telegram

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/liqbox/liqbox/cascade"
)

// cascadeCmd is /cascade ASSET USD WINDOW [SIDE] (add a rule) and
// /cascade off N (remove the N-th of /cascades). Every rule accepted is
// echoed back in words, so a misread (10m taken as minutes) shows at once.
func (b *Bot) cascadeCmd(c *chat, user int64, args []string, t *texts, s *settings) string {
	usage := escape(fmt.Sprintf(t.CascadeUsage, cascade.MaxRules))
	current := b.ownRules(s)
	if len(args) > 0 && strings.EqualFold(args[0], "off") {
		n := 0
		if len(args) == 2 {
			n, _ = strconv.Atoi(args[1])
		}
		if n < 1 || n > len(current) {
			return escape(fmt.Sprintf(t.CascadeOffUsage, max(len(current), 1)))
		}
		gone := current[n-1]
		rules := append(append([]cascade.Rule(nil), current[:n-1]...), current[n:]...)
		if !b.change(c, user, "cascade off "+gone.String(), func(s *settings) { setRules(s, rules) }) {
			return escape(t.Failed)
		}
		return escape(fmt.Sprintf(t.CascadeOff, n, ruleWords(gone, t)))
	}
	r, err := cascade.ParseArgs(args)
	if err != nil {
		if !errors.Is(err, cascade.ErrBadRule) {
			b.log.Error("cannot parse a cascade rule", "err", err)
		}
		return usage
	}
	for i, x := range current {
		if x == r {
			return escape(fmt.Sprintf(t.CascadeDup, i+1))
		}
	}
	if len(current) >= cascade.MaxRules {
		return escape(fmt.Sprintf(t.CascadeTooMany, cascade.MaxRules))
	}
	rules := append(append([]cascade.Rule(nil), current...), r)
	if !b.change(c, user, "cascade "+r.String(), func(s *settings) { setRules(s, rules) }) {
		return escape(t.Failed)
	}
	out := fmt.Sprintf(t.CascadeSet, len(rules), ruleWords(r, t))
	if !s.Subscribed {
		out += "\n" + t.CascadeStopped
	}
	return escape(out)
}

func setRules(s *settings, rules []cascade.Rule) {
	s.CascadesSet = true
	s.Cascades = s.Cascades[:0]
	for _, r := range rules {
		s.Cascades = append(s.Cascades, storeRule(r))
	}
}

// cascadesCmd is /cascades: the chat's rules, numbered for /cascade off N.
func (b *Bot) cascadesCmd(s *settings, t *texts) string {
	rules, head := b.ownRules(s), t.CascadeList
	if !s.CascadesSet {
		head = t.CascadeListConfig
	}
	if len(rules) == 0 {
		return escape(t.CascadeNone)
	}
	var sb strings.Builder
	sb.WriteString(head)
	for i, r := range rules {
		fmt.Fprintf(&sb, "\n%d. %s", i+1, ruleWords(r, t))
	}
	if !s.Subscribed {
		sb.WriteString("\n" + t.CascadeStopped)
	}
	return escape(sb.String())
}
