package loadtest

import (
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/telegram"
	"github.com/liqbox/liqbox/telegram/telegramtest"
)

// atBotAPI measures where the user is: it records every message request
// the loopback Bot API accepted, with its arrival time (telegramtest's
// OnRequest), and what the bot says each of its requests carried
// (service.Observer.Telegram), and joins the two by message id. No text is
// read: the alert's receive stamp comes with the event the bot hands over.
type atBotAPI struct {
	probe chan<- time.Time // gets the arrival of each floor probe, if set
	// budgetSpan is how far back a chat's messages can have spent the
	// budget an alert waited for: Limits.Burst × Limits.PerChat.
	budgetSpan time.Duration

	mu       sync.Mutex // guards everything below
	reqs     []botReq
	alerts   []sentAlert
	digests  []sentDigest
	analyses []sentAnalyses
	late     int                  // analyses made after the edit age (Analysed with Late)
	made     map[uint64]time.Time // when the enrichment stage delivered each analysis
}

// botReq is one message request the Bot API answered with success.
type botReq struct {
	method string
	chat   int64
	msgID  int
	at     time.Time
}

type sentAlert struct {
	chat      int64
	msgID     int
	seq       uint64
	recvNs    int64
	built     time.Time     // request handed to the HTTP client
	limitWait time.Duration // waited for Telegram's limits, spent by earlier messages
	replay    bool
}

type sentDigest struct {
	chat   int64
	msgID  int
	edit   bool
	count  int // the digest's total after this request
	folded int // alerts this request added, overflow not counted
}

type sentAnalyses struct {
	chat  int64
	msgID int
	edit  bool
	seqs  []uint64
}

func newAtBotAPI() *atBotAPI {
	return &atBotAPI{reqs: make([]botReq, 0, 1<<12), alerts: make([]sentAlert, 0, 1<<10), made: map[uint64]time.Time{}}
}

// request is the Bot API's OnRequest hook.
func (w *atBotAPI) request(r telegramtest.Request) {
	if r.Method == probeMethod && w.probe != nil {
		select {
		case w.probe <- r.At:
		default:
		}
		return
	}
	if r.Status != http.StatusOK || (r.Method != "sendMessage" && r.Method != "editMessageText" && r.Method != "sendPhoto") {
		return
	}
	w.mu.Lock()
	w.reqs = append(w.reqs, botReq{method: r.Method, chat: r.Chat, msgID: r.MsgID, at: r.At})
	w.mu.Unlock()
}

// observer is the service's telegram.Observer.
func (w *atBotAPI) observer() telegram.Observer {
	return telegram.Observer{
		Alert: func(a telegram.AlertSent) {
			w.mu.Lock()
			w.alerts = append(w.alerts, sentAlert{chat: a.Chat, msgID: a.MsgID, seq: a.Event.Seq, recvNs: a.Event.RecvNs,
				built: a.Built, limitWait: a.LimitWait, replay: a.Event.Flags&event.FlagReplay != 0})
			w.mu.Unlock()
		},
		Digest: func(chat int64, msgID int, edit bool, count int, evs []event.Event) {
			w.mu.Lock()
			w.digests = append(w.digests, sentDigest{chat: chat, msgID: msgID, edit: edit, count: count, folded: len(evs)})
			w.mu.Unlock()
		},
		Analyses: func(chat int64, msgID int, edit bool, seqs []uint64) {
			w.mu.Lock()
			w.analyses = append(w.analyses, sentAnalyses{chat: chat, msgID: msgID, edit: edit, seqs: slices.Clone(seqs)})
			w.mu.Unlock()
		},
	}
}

// analysed is the service's Observer.Analysed hook.
func (w *atBotAPI) analysed(a event.Analysis) {
	now := time.Now()
	w.mu.Lock()
	if a.Late {
		w.late++
	}
	if _, ok := w.made[a.Seq]; !ok {
		w.made[a.Seq] = now
	}
	w.mu.Unlock()
}

// requests is how many message requests have arrived so far.
func (w *atBotAPI) requests() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.reqs)
}

// reqKind is what a request to the chat was, as the bot's hooks tell.
type reqKind uint8

const (
	kindOther    reqKind = iota // a command's reply, a digest's closing edit
	kindAlert                   // a raw alert on its own
	kindDigest                  // a cascade digest sent or updated with new alerts
	kindAnalysis                // an analysis edit or reply
)

// atBotReport is what atBotAPI measured, per alert.
type atBotReport struct {
	alerts   int             // raw alerts sent on their own (live, not replayed)
	seen     int             // of those, seen arriving at the Bot API
	toBot    []time.Duration // receive → sendMessage arriving, every alert seen
	toClient []time.Duration // of those, receive → request handed to the HTTP client: the box's own part
	atOnce   []time.Duration // the same, alerts that waited behind no other message
	analysed int             // alerts whose analysis arrived
	toAnn    []time.Duration // receive → the analysis's request arriving
	toMade   []time.Duration // receive → the enrichment stage delivering the analysis (the rest is the chat's budget)
	edits    int             // analysis edits
	replies  int             // analysis replies (one or several analyses)
	combined int             // of those, replies that carried several
	late     int             // analyses made too late for the chat
	// Alerts that waited behind another message of their chat: one
	// reached the Bot API after the alert was received and before the
	// alert's request left the box (was handed to the HTTP client), or
	// the alert waited for Telegram's limits, which the chat's messages of
	// the budget window before it spent. By what they waited behind (an
	// alert may count under several).
	waited                                                 int
	limited                                                int // of those, alerts that waited for Telegram's limits
	waitedAlert, waitedDigest, waitedAnalysis, waitedOther int

	digestMsgs  int       // digest requests carrying new alerts
	digestCount int       // the largest count a digest reached
	digestAt    time.Time // arrival of the first request that carried that count
}

// report joins the requests with the hooks.
func (w *atBotAPI) report() atBotReport {
	w.mu.Lock()
	defer w.mu.Unlock()
	// Handlers record concurrently: order by arrival, so that what came
	// before an alert's request is what precedes it here.
	slices.SortStableFunc(w.reqs, func(a, b botReq) int { return a.at.Compare(b.at) })
	type key struct {
		chat  int64
		msgID int
	}
	// The n-th request for a message id with a method is the n-th the bot
	// made (it makes them one after another per chat).
	type mkey struct {
		key
		method string
	}
	byMsg := map[mkey][]int{} // → indexes into w.reqs, in arrival order
	for i, r := range w.reqs {
		k := mkey{key{r.chat, r.msgID}, r.method}
		byMsg[k] = append(byMsg[k], i)
	}
	kind := make([]reqKind, len(w.reqs))
	mark := func(k mkey, n int, kd reqKind) (int, bool) {
		is := byMsg[k]
		if n >= len(is) {
			return 0, false
		}
		kind[is[n]] = kd
		return is[n], true
	}
	var rep atBotReport
	rep.late = w.late
	alertReq := map[key]int{} // alert message → its request
	recv := map[uint64]int64{}
	for _, a := range w.alerts {
		if a.replay {
			continue
		}
		rep.alerts++
		recv[a.seq] = a.recvNs
		if i, ok := mark(mkey{key{a.chat, a.msgID}, "sendMessage"}, 0, kindAlert); ok {
			alertReq[key{a.chat, a.msgID}] = i
		}
	}
	sends := map[mkey]int{}
	for _, d := range w.digests {
		m := "sendMessage"
		if d.edit {
			m = "editMessageText"
		}
		k := mkey{key{d.chat, d.msgID}, m}
		i, ok := mark(k, sends[k], kindDigest)
		sends[k]++
		if !ok {
			continue
		}
		rep.digestMsgs++
		if d.count > rep.digestCount {
			rep.digestCount, rep.digestAt = d.count, w.reqs[i].at
		}
	}
	for _, a := range w.analyses {
		m := "sendMessage"
		if a.edit {
			m = "editMessageText"
			rep.edits++
		} else {
			rep.replies++
			if len(a.seqs) > 1 {
				rep.combined++
			}
		}
		k := mkey{key{a.chat, a.msgID}, m}
		i, ok := mark(k, sends[k], kindAnalysis)
		sends[k]++
		if !ok {
			continue
		}
		for _, s := range a.seqs {
			if r, ok := recv[s]; ok {
				rep.analysed++
				rep.toAnn = append(rep.toAnn, w.reqs[i].at.Sub(time.Unix(0, r)))
				if m, ok := w.made[s]; ok {
					rep.toMade = append(rep.toMade, m.Sub(time.Unix(0, r)))
				}
			}
		}
	}
	for _, a := range w.alerts {
		i, ok := alertReq[key{a.chat, a.msgID}]
		if !ok || a.replay {
			continue
		}
		rep.seen++
		at := w.reqs[i].at
		from := time.Unix(0, a.recvNs)
		d := at.Sub(from)
		rep.toBot = append(rep.toBot, d)
		rep.toClient = append(rep.toClient, a.built.Sub(from))
		// Look back from the alert's own request: what reached the Bot
		// API while the alert was still on the box (received, not yet
		// handed to the HTTP client) went before it; what arrived while
		// both were in flight did not hold it up. An alert that waited for
		// Telegram's limits waited for the budget the chat's messages of
		// the last budget window spent, even before it arrived.
		var behind [kindAnalysis + 1]bool
		since := from
		if a.limitWait > 0 {
			since = a.built.Add(-w.budgetSpan)
		}
		for j := i - 1; j >= 0 && w.reqs[j].at.After(since); j-- {
			if w.reqs[j].chat == a.chat && !w.reqs[j].at.After(a.built) {
				behind[kind[j]] = true
			}
		}
		if a.limitWait > 0 {
			rep.limited++
		}
		if a.limitWait > 0 && behind == [len(behind)]bool{} {
			behind[kindOther] = true // spent by what the bench cannot see
		}
		if behind != [len(behind)]bool{} {
			rep.waited++
		} else {
			rep.atOnce = append(rep.atOnce, d)
		}
		count := func(b bool, n *int) {
			if b {
				*n++
			}
		}
		count(behind[kindAlert], &rep.waitedAlert)
		count(behind[kindDigest], &rep.waitedDigest)
		count(behind[kindAnalysis], &rep.waitedAnalysis)
		count(behind[kindOther], &rep.waitedOther)
	}
	return rep
}
