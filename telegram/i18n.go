package telegram

import (
	"sort"

	"github.com/liqbox/liqbox/event"
)

// texts holds every string the bot writes, for one language. Strings with
// verbs are fmt formats; their arguments are already HTML-escaped where
// they come from outside. Adding a language is adding a file that
// registers one of these.
type texts struct {
	Code string // "en", "vi"
	Name string // the language's own name

	// Alerts and digests.
	Liquidated    [3]string // by event.Side: unknown, long, short
	Sides         [3]string // by event.Side, upper case
	UnknownUSD    string
	At            string // before the price
	TimeLabel     string
	OnBoxLabel    string
	MuteButton    string // %s = symbol
	ChartButton   string
	DigestTitle   string // %d = count
	DigestLongs   string
	DigestShorts  string
	DigestLargest string
	DigestSpan    string
	DigestOpen    string // the cascade is still going
	AnalysisLLM   string // %s = model
	AnalysisRules string
	// Reasons translates event.Analysis.FallbackReason codes: why the
	// rules were used.
	Reasons       map[string]string
	Risk          [4]string // by event.Risk
	Recommend     string
	AnalysesTitle string // %d = count: a reply carrying several analyses
	Replayed      string // the first line of an alert redelivered after a restart
	Late          string // %s = how late it is
	ReplayedLog   string // the first line of an alert replayed from the log on request
	Ago           string // %s = how long ago it happened
	LimitWait     string // before the wait for Telegram's limits
	DigestReplays string // %d = alerts in the digest replayed from the log
	UnitSec       string
	UnitMin       string
	UnitHour      string

	// Commands.
	Help           string
	Started        string // %s = threshold
	Stopped        string
	NotAllowed     string
	UnknownCmd     string
	ThresholdSet   string // %s
	ThresholdUsage string
	SymbolsAll     string
	SymbolsShow    string // %s
	SymbolsUsage   string
	SideSet        string // %s
	SideUsage      string
	VenuesAll      string
	VenuesShow     string // %s
	VenuesUsage    string // %s = known venues
	MuteSet        string // %s symbol, %s until
	MuteUsage      string
	Unmuted        string // %s
	NotMuted       string // %s
	MutesNone      string
	MutesHeader    string
	StatsUsage     string
	StatsTitle     string // %s = window
	StatsNone      string
	StatsLatency   string
	StatsColumns   string // the latency figures' names
	StatsExchBox   string
	StatsBoxTG     string
	StatsLongs     string
	StatsShorts    string
	TopUsage       string
	TopTitle       string // %s
	ChartUsage     string
	ChartCaption   string // %s window, %s symbol or all
	ChartAll       string
	NoHistory      string
	NoStatus       string
	NoCost         string
	LangSet        string
	LangUsage      string // %s = codes
	StatusTitle    string
	StatusVenue    string // %s venue, %d open, %d configured, %s last frame age, %d gaps
	StatusNoFrame  string
	StatusBlind    string // %s venue, %s stream, %s start (UTC), %s so far, %s cause
	StatusDecode   string // %s venue, %s stream, %d failed, %d frames, %.1f percent
	StatusSource   string // %s venue, %d direct first, %s its p50, %s p99, %d relay first, %s p50, %s p99, %d side, %d usd, %d price disagreements
	StatusRing     string // %d depth, %d cap, %d drops
	StatusDisk     string // %s used, %s limit
	StatusEnrich   string // %s: the enrichment line, when only an English summary is known
	StatusClock    string // %s offset, %s bound
	StatusClockBad string // %s offset, %s bound: the warning
	StatusVersion  string // %s version, %s uptime
	CallbackMuted  string // %s symbol
	CallbackBad    string
	Failed         string

	// Cascade rules: the rule in words (RuleEcho: %s amount, %s what,
	// %s window, %s sides), and what /cascade answers.
	RuleEcho          string
	RuleAsset         string // %s asset: what a both-sides rule on an asset adds up
	RuleAssetSide     string // %[1]s asset, %[2]s side
	RuleMarket        string
	RuleMarketSide    string    // %s side
	RuleSide          [3]string // by event.Side
	RuleBoth          string    // appended to a both-sides rule
	CascadeUsage      string    // %d = the most rules
	CascadeSet        string    // %d number, %s the rule in words
	CascadeList       string
	CascadeListConfig string // the chat has the configured defaults
	CascadeNone       string
	CascadeOff        string // %d number, %s the rule in words
	CascadeOffUsage   string // %d = rules the chat has
	CascadeTooMany    string // %d = the most rules
	CascadeDup        string // %d = the rule's number
	CascadeStopped    string // the chat is unsubscribed

	// The cascade message.
	CascadeTitle     string
	CascadeMarket    string
	CascadeSides     [3]string // by event.Side: both, longs, shorts
	CascadeTotal     string    // %s total, %s the rule's amount and window
	CascadeWithin    string    // %s amount, %s window
	CascadeStarted   string    // %s start time, %s so far, %d liquidations
	CascadeByVenue   string
	CascadeSampled   string // after a sampled venue's line
	CascadeLower     string // %s: the sampled venues
	CascadeUnknown   string // %d
	CascadeOpen      string // %s window, %s window total, %s peak, %s updated
	CascadeFading    string // %s since, %s over at
	CascadeClosed    string // %s end, %s lasted, %s peak, %s window
	CascadeRemoved   string
	CascadeDown      string
	CascadeResumed   string
	StatsAssets      string
	StatsAssetColumn string
	StatsLowerBound  string
	StatsVenues      string // heads /stats' by-venue block
}

// languages maps a code to its texts. It is filled once by each language
// file's init and only read afterwards.
var languages = map[string]*texts{}

func register(t *texts) { languages[t.Code] = t }

// lang returns the texts for code, falling back to English.
func lang(code string) *texts {
	if t, ok := languages[code]; ok {
		return t
	}
	return languages["en"]
}

// langCodes lists the registered languages, sorted.
func langCodes() []string {
	out := make([]string, 0, len(languages))
	for c := range languages {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}

// side is the liquidated side's name in upper case.
func (t *texts) side(s event.Side) string {
	if s > event.Short {
		s = event.SideUnknown
	}
	return t.Sides[s]
}
