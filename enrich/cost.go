package enrich

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/liqbox/liqbox/money"
)

// Price is what a model costs, in USD per million tokens. Input (prompt)
// and output (completion) are priced separately because providers charge
// them very differently.
type Price struct {
	InputPerM  float64
	OutputPerM float64
	// InputAssumed marks an input price that the provider's own tables do
	// not state, so the cost report can say so.
	InputAssumed bool
}

// DefaultPrices returns the built-in price table.
//
// Output prices are HolySheep's published ones where it published them:
// deepseek-v3.2 $0.42, gpt-4.1 $8.00, claude-sonnet-4.5 $15.00,
// gemini-2.5-flash $2.50 per million tokens. Each of those equals the model
// vendor's own list price, so where HolySheep states no figure (every input
// price, and gpt-4.1-mini and gemini-2.5-pro entirely) we assume the
// vendor's list price: deepseek-v3.2 input $0.28 (cache miss), gpt-4.1 input
// $2.00, gpt-4.1-mini $0.40/$1.60, claude-sonnet-4.5 input $3.00,
// gemini-2.5-flash input $0.30, gemini-2.5-pro $1.25/$10.00 (prompts under
// 200k tokens). Those entries are marked InputAssumed; override them in the
// config when the real figures are known.
func DefaultPrices() map[string]Price {
	return map[string]Price{
		"deepseek-v3.2":     {InputPerM: 0.28, OutputPerM: 0.42, InputAssumed: true},
		"gpt-4.1":           {InputPerM: 2.00, OutputPerM: 8.00, InputAssumed: true},
		"gpt-4.1-mini":      {InputPerM: 0.40, OutputPerM: 1.60, InputAssumed: true},
		"claude-sonnet-4.5": {InputPerM: 3.00, OutputPerM: 15.00, InputAssumed: true},
		"gemini-2.5-flash":  {InputPerM: 0.30, OutputPerM: 2.50, InputAssumed: true},
		"gemini-2.5-pro":    {InputPerM: 1.25, OutputPerM: 10.00, InputAssumed: true},
	}
}

// USD is what promptTokens in and completionTokens out cost at p.
func (p Price) USD(promptTokens, completionTokens int64) float64 {
	return float64(promptTokens)/1e6*p.InputPerM + float64(completionTokens)/1e6*p.OutputPerM
}

// Usage is what enrichment consumed over a period.
type Usage struct {
	Requests         int64   `json:"requests"`
	PromptTokens     int64   `json:"prompt_tokens"`
	CompletionTokens int64   `json:"completion_tokens"`
	USD              float64 `json:"usd"`
}

// Tokens is prompt plus completion tokens.
func (u Usage) Tokens() int64 { return u.PromptTokens + u.CompletionTokens }

func (u *Usage) add(v Usage) {
	u.Requests += v.Requests
	u.PromptTokens += v.PromptTokens
	u.CompletionTokens += v.CompletionTokens
	u.USD += v.USD
}

// ModelCost is what a period's tokens would have cost on one model.
type ModelCost struct {
	Model        string
	USD          float64
	InputAssumed bool
}

// CostReport is what `/cost` and `liqbox cost` show.
type CostReport struct {
	Model        string // the model enrichment uses
	Day          string // UTC day, 2006-01-02
	Month        string // UTC month, 2006-01
	Today        Usage
	ThisMonth    Usage
	ProjectedUSD float64     // this month's spend extrapolated over the whole month at the rate so far
	Others       []ModelCost // this month's tokens priced on every model in the table, cheapest first
	// DailyTokenCap and MonthlyUSDCap are the configured budget (0 = none).
	DailyTokenCap int64
	MonthlyUSDCap float64
	// OverBudget says enrichment is paused by a cap until the period ends.
	OverBudget bool
}

// Usage is persisted under these keys of UsageBucket.
const (
	dayKeyPrefix   = "day/"
	monthKeyPrefix = "month/"
)

// ledger keeps today's and this month's usage, mirrors them to the KV store
// so a restart keeps the month's spend, and answers the budget question.
type ledger struct {
	mu        sync.Mutex // guards everything below
	kv        KV
	day       string
	month     string
	today     Usage
	thisMonth Usage
}

func dayOf(t time.Time) string   { return t.UTC().Format("2006-01-02") }
func monthOf(t time.Time) string { return t.UTC().Format("2006-01") }

func (l *ledger) loadLocked(key string) (Usage, error) {
	var u Usage
	if l.kv == nil {
		return u, nil
	}
	v, err := l.kv.Get([]byte(UsageBucket), []byte(key))
	if err != nil {
		return u, fmt.Errorf("cannot read usage %s: %w", key, err)
	}
	if len(v) == 0 {
		return u, nil
	}
	if err := json.Unmarshal(v, &u); err != nil {
		return Usage{}, fmt.Errorf("cannot decode usage %s: %w", key, err)
	}
	return u, nil
}

// rollLocked moves the ledger to now's day and month, loading what an
// earlier run stored for them.
func (l *ledger) rollLocked(now time.Time) error {
	var errs []error
	if d := dayOf(now); d != l.day {
		u, err := l.loadLocked(dayKeyPrefix + d)
		errs = append(errs, err)
		l.day, l.today = d, u
	}
	if m := monthOf(now); m != l.month {
		u, err := l.loadLocked(monthKeyPrefix + m)
		errs = append(errs, err)
		l.month, l.thisMonth = m, u
	}
	return errors.Join(errs...)
}

// record adds one response's usage and persists both periods.
func (l *ledger) record(now time.Time, u Usage) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	err := l.rollLocked(now)
	l.today.add(u)
	l.thisMonth.add(u)
	if l.kv == nil {
		return err
	}
	for _, p := range [...]struct {
		key string
		u   Usage
	}{{dayKeyPrefix + l.day, l.today}, {monthKeyPrefix + l.month, l.thisMonth}} {
		b, _ := json.Marshal(p.u) // a struct of numbers always marshals
		if perr := l.kv.Put([]byte(UsageBucket), []byte(p.key), b); perr != nil {
			err = errors.Join(err, fmt.Errorf("cannot store usage %s: %w", p.key, perr))
		}
	}
	return err
}

// snapshot returns today's and this month's usage as of now.
func (l *ledger) snapshot(now time.Time) (day, month string, today, thisMonth Usage, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	err = l.rollLocked(now)
	return l.day, l.month, l.today, l.thisMonth, err
}

// overBudget reports whether a cap has been reached. A request is sent only
// while usage is below every cap, so the caps are never crossed by more than
// the one request that reached them.
func overBudget(today, thisMonth Usage, dailyTokens int64, monthlyUSD float64) bool {
	return (dailyTokens > 0 && today.Tokens() >= dailyTokens) ||
		(monthlyUSD > 0 && thisMonth.USD >= monthlyUSD)
}

// projectMonth extrapolates spent (so far in now's UTC month) to the whole
// month. Less than an hour into the month the rate is taken over one hour,
// so the first request of the month does not project an absurd figure.
func projectMonth(now time.Time, spent float64) float64 {
	now = now.UTC()
	start := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	end := start.AddDate(0, 1, 0)
	elapsed := max(now.Sub(start), time.Hour)
	return spent * float64(end.Sub(start)) / float64(elapsed)
}

func buildReport(now time.Time, model string, prices map[string]Price, day, month string, today, thisMonth Usage, dailyCap int64, monthlyCap float64) CostReport {
	r := CostReport{
		Model: model, Day: day, Month: month, Today: today, ThisMonth: thisMonth,
		ProjectedUSD:  projectMonth(now, thisMonth.USD),
		DailyTokenCap: dailyCap, MonthlyUSDCap: monthlyCap,
		OverBudget: overBudget(today, thisMonth, dailyCap, monthlyCap),
	}
	r.Others = OnOtherModels(thisMonth, model, prices)
	return r
}

// OnOtherModels prices u's tokens on every model of prices but model,
// cheapest first: what the same usage would have cost elsewhere.
func OnOtherModels(u Usage, model string, prices map[string]Price) []ModelCost {
	var out []ModelCost
	for name, p := range prices {
		if name == model {
			continue
		}
		out = append(out, ModelCost{Model: name, USD: p.USD(u.PromptTokens, u.CompletionTokens), InputAssumed: p.InputAssumed})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].USD != out[j].USD {
			return out[i].USD < out[j].USD
		}
		return out[i].Model < out[j].Model
	})
	return out
}

// UsageBetween sums the usage kv recorded on the UTC days from from's to
// to's, both included: usage is kept per day, so a period is counted in
// whole days.
func UsageBetween(kv KV, from, to time.Time) (Usage, error) {
	l := ledger{kv: kv}
	var sum Usage
	for d := from.UTC().Truncate(24 * time.Hour); !d.After(to.UTC()); d = d.Add(24 * time.Hour) {
		u, err := l.loadLocked(dayKeyPrefix + dayOf(d))
		if err != nil {
			return sum, err
		}
		sum.add(u)
	}
	return sum, nil
}

// Text renders the report as plain text in lang ("en" or "vi"; anything
// else is English). Whoever puts it into HTML or Markdown escapes it.
func (r CostReport) Text(lang string) string {
	t := costWords[langEN]
	if lang == langVI {
		t = costWords[langVI]
	}
	var b strings.Builder
	fmt.Fprintf(&b, t.title+"\n", r.Model)
	line := func(label, period string, u Usage) {
		fmt.Fprintf(&b, t.usage+"\n", label, period, u.Requests, money.Group(u.PromptTokens), money.Group(u.CompletionTokens), money.Spend(u.USD))
	}
	line(t.today, r.Day, r.Today)
	line(t.month, r.Month, r.ThisMonth)
	fmt.Fprintf(&b, t.projected+"\n", money.Spend(r.ProjectedUSD))
	if r.DailyTokenCap > 0 {
		fmt.Fprintf(&b, t.dailyCap+"\n", money.Group(r.Today.Tokens()), money.Group(r.DailyTokenCap))
	}
	if r.MonthlyUSDCap > 0 {
		fmt.Fprintf(&b, t.monthlyCap+"\n", money.Spend(r.ThisMonth.USD), money.Spend(r.MonthlyUSDCap))
	}
	if r.OverBudget {
		b.WriteString(t.over + "\n")
	}
	if len(r.Others) > 0 {
		b.WriteString(t.others + "\n")
		assumed := false
		for _, o := range r.Others {
			mark := ""
			if o.InputAssumed {
				mark, assumed = "*", true
			}
			fmt.Fprintf(&b, "  %s%s: %s\n", o.Model, mark, money.Spend(o.USD))
		}
		if assumed {
			b.WriteString(t.assumed + "\n")
		}
	}
	return strings.TrimRight(b.String(), "\n")
}

var costWords = map[string]struct {
	title, today, month, usage, projected, dailyCap, monthlyCap, over, others, assumed string
}{
	langEN: {
		title:      "LLM cost (model %s)",
		today:      "Today",
		month:      "This month",
		usage:      "%s %s: %d requests, %s in + %s out tokens, %s",
		projected:  "Projected for the month at the current rate: %s",
		dailyCap:   "Daily token cap: %s of %s used",
		monthlyCap: "Monthly cap: %s of %s used",
		over:       "Budget reached: LLM analysis paused, rule-based reads continue.",
		others:     "The same usage this month on other models:",
		assumed:    "* input price assumed (vendor list price)",
	},
	langVI: {
		title:      "Chi phí LLM (mô hình %s)",
		today:      "Hôm nay",
		month:      "Tháng này",
		usage:      "%s %s: %d yêu cầu, %s token vào + %s token ra, %s",
		projected:  "Dự kiến cả tháng theo tốc độ hiện tại: %s",
		dailyCap:   "Giới hạn token mỗi ngày: đã dùng %s / %s",
		monthlyCap: "Giới hạn mỗi tháng: đã dùng %s / %s",
		over:       "Đã chạm ngân sách: tạm dừng phân tích LLM, vẫn có đánh giá theo quy tắc.",
		others:     "Cùng mức sử dụng tháng này trên các mô hình khác:",
		assumed:    "* giá đầu vào là giả định (giá niêm yết của nhà cung cấp)",
	},
}
