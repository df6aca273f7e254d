package telegram

import (
	"fmt"
	"time"

	"github.com/liqbox/liqbox/event"
)

// Recovery after a restart uses the log and the chats' checkpoints, the one
// mechanism every sink of the box uses; nothing is written to the disk
// before a send.
//
//   - Alerts: each chat acknowledges "telegram:<chat>" up to the newest
//     event it has delivered (or, when idle, the newest offered). At start
//     the log's events after that checkpoint and younger than
//     RedeliverMaxAge that the chat's filters accept are sent again, marked
//     as replayed. A crash after a send and before the acknowledgement is
//     committed (one store batch) sends that alert twice; an alert whose
//     event was not yet committed is not sent again.
//   - Analyses: the message ids of the alerts awaiting their analysis are
//     persisted per chat (bucketSent) through AsyncKV after each change,
//     and "telegram-analysis:<chat>" is acknowledged up to just below the
//     oldest of them. At start the events after it younger than
//     AnalysisMaxAge that have a persisted message id await their analysis
//     again: from Options.Analyses when it was already made, else from the
//     enrichment stage's own redelivery.

// bucketSent holds, per chat (key: the chat id in decimal), the alerts
// awaiting their analysis: a version byte, then fixed-size entries.
var bucketSent = []byte("telegram_sent")

const (
	sentVersion   = 1
	sentEntrySize = 8 + 8 + 8 + 8 + 8 + 1
)

// persistedAlert is an awaiting alert as stored: enough, with the event
// from the log, to write the same alert text again and edit it.
type persistedAlert struct {
	msgID int
	facts alertFacts
}

// persistLocked queues the chat's awaited alerts for the store's next
// batch. w.mu must be held, so that writes reach the store in state order.
func (w *awaiting) persistLocked(b *Bot) {
	if b.o.AsyncKV == nil {
		return
	}
	v := make([]byte, 1, 1+len(w.m)*sentEntrySize)
	v[0] = sentVersion
	for seq, sa := range w.m {
		v = appendSent(v, seq, persistedAlert{msgID: sa.msgID, facts: sa.facts})
	}
	if err := b.o.AsyncKV.PutAsync(bucketSent, w.key, v); err != nil {
		b.logPersistError(err)
	}
}

// recover reads back, before the chat's first send, what the previous run
// left undone: alerts not acknowledged (into pending, marked replayed) and
// alerts still awaiting their analysis.
func (r *chatRun) recover(now time.Time) {
	b, c := r.b, r.c
	lg := b.o.Log
	if lg == nil {
		return
	}
	var sent map[uint64]persistedAlert
	if v, err := b.o.KV.Get(bucketSent, c.aw.key); err != nil {
		b.log.Error("cannot read the alerts awaiting analysis", "chat", c.id, "err", err)
	} else if m, dropped, err := decodeSent(v); err != nil {
		b.badRecord(recAwaiting, c.aw.key, err)
	} else {
		if dropped > 0 {
			b.badRecord(recAwaiting, c.aw.key, fmt.Errorf("%d of the chat's alerts awaiting analysis have no valid message id or replay kind", dropped))
		}
		sent = m
	}
	cfg := c.cfg.Load()
	// A chat that never acknowledged anything is new: what the log holds
	// was never meant for it.
	if cp := lg.Checkpoint(c.aw.sinkA); cp > 0 {
		c.aw.alertAck = cp
		n, _, err := lg.Redeliver(c.aw.sinkA, b.o.RedeliverMaxAge, now, func(ev *event.Event) {
			if ev.Flags&event.FlagBacklog != 0 || !cfg.accepts(ev, now.UnixNano(), &lazyAsset{}) {
				return
			}
			if _, ok := sent[ev.Seq]; ok {
				return // sent: only its acknowledgement was lost
			}
			if len(r.pending) == cap(r.pending) {
				r.over.fold(ev)
			} else {
				r.pending = append(r.pending, *ev)
				r.meta = append(r.meta, pendingMeta{readBack: time.Now(), restart: true})
			}
			b.m.redelivered.Inc()
		})
		if err != nil {
			b.log.Error("cannot redeliver alerts after restart", "chat", c.id, "err", err)
		} else if len(r.pending) > 0 || r.over.count > 0 {
			b.log.Info("redelivering alerts after restart", "chat", c.id, "alerts", len(r.pending)+r.over.count, "events_read", n)
		}
		c.hold(len(r.pending))
	}
	if len(sent) > 0 {
		t := lang(cfg.Lang)
		c.aw.annAck = lg.Checkpoint(c.aw.sinkN)
		var restored []*sentAlert
		_, _, err := lg.Redeliver(c.aw.sinkN, b.o.AnalysisMaxAge, now, func(ev *event.Event) {
			p, ok := sent[ev.Seq]
			if !ok {
				return
			}
			sa := &sentAlert{msgID: p.msgID, ev: *ev, facts: p.facts}
			sa.ev.Flags &^= event.FlagReplay // the log's flag, not the alert's
			if p.facts.replay != live {
				sa.ev.Flags |= event.FlagReplay
			}
			sa.text = string(appendAlertHTML(nil, &sa.ev, t, &sa.facts))
			restored = append(restored, sa)
		})
		if err != nil {
			b.log.Error("cannot read back the alerts awaiting analysis", "chat", c.id, "err", err)
		}
		c.aw.mu.Lock()
		for _, sa := range restored {
			c.aw.m[sa.ev.Seq] = sa
		}
		c.aw.persistLocked(b)
		c.aw.mu.Unlock()
		for _, sa := range restored {
			if b.o.Analyses == nil {
				break
			}
			a, ok, err := b.o.Analyses.LoadAnalysis(sa.ev.Seq)
			if err != nil {
				b.log.Warn("cannot read a stored analysis", "chat", c.id, "seq", sa.ev.Seq, "err", err)
				continue
			}
			if ok {
				c.pushAnalysis(a)
			}
		}
		if len(restored) > 0 {
			b.log.Info("alerts await their analysis after restart", "chat", c.id, "alerts", len(restored))
		}
	}
}
