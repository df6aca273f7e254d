package telegram

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/mymmrac/telego"

	"github.com/liqbox/liqbox/retry"
)

// poll fetches updates until ctx ends. The offset is persisted after each
// handled update through AsyncKV (or, without it, once per batch of
// updates), so a restart skips none and replays at most the updates of the
// last store batch (or of the last batch of updates). Calls are
// spaced by PollInterval because some servers (telegram-test-api) answer
// at once whatever the timeout.
func (b *Bot) poll(ctx context.Context) {
	offset := 0
	if v, err := b.o.KV.Get(bucketState, keyOffset); err != nil {
		b.log.Error("cannot read update offset: starting from the server's", "err", err)
	} else if o, err := decodeOffset(v); err != nil {
		b.badRecord(recOffset, keyOffset, fmt.Errorf("%w: starting from the server's", err))
	} else {
		offset = o
	}
	var backoff time.Duration
	for ctx.Err() == nil {
		start := time.Now()
		rctx, cancel := context.WithTimeout(ctx, b.o.PollTimeout+b.o.RequestTimeout)
		ups, err := b.api.GetUpdates(rctx, &telego.GetUpdatesParams{
			Offset:         offset,
			Timeout:        int(b.o.PollTimeout / time.Second),
			AllowedUpdates: []string{"message", "callback_query"},
		})
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			backoff = retry.Backoff(backoff, baseBackoff, maxBackoff)
			b.log.Warn("cannot get telegram updates", "err", scrub(err, b.o.Token), "backoff", backoff)
			retry.Sleep(ctx, backoff)
			continue
		}
		backoff = 0
		for i := range ups {
			u := &ups[i]
			if u.UpdateID < offset {
				continue // a server that ignores offset sends old ones again
			}
			b.handleUpdate(ctx, u)
			offset = u.UpdateID + 1
			if b.o.AsyncKV != nil {
				// Queued for the store's next batch: a flood of updates
				// costs no fsync each.
				if err := b.o.AsyncKV.PutAsync(bucketState, keyOffset, binary.BigEndian.AppendUint64(nil, uint64(offset))); err != nil {
					b.logPersistError(err)
				}
			}
		}
		if b.o.AsyncKV == nil && len(ups) > 0 {
			if err := b.o.KV.Put(bucketState, keyOffset, binary.BigEndian.AppendUint64(nil, uint64(offset))); err != nil {
				b.log.Error("cannot save update offset", "err", err)
			}
		}
		retry.Sleep(ctx, time.Until(start.Add(b.o.PollInterval)))
	}
}
