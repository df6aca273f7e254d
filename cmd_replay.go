package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/history"
	"github.com/liqbox/liqbox/store"
)

// openQuery checks the log-selection flags (a usage error names the flag)
// and opens the log read-only.
func openQuery(q *history.Query) (*store.Store, error) {
	if err := q.Parse(time.Now()); err != nil {
		return nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	return q.Open()
}

func cmdReplay(ctx context.Context, a *app, args []string) error {
	fs := a.flags()
	var q history.Query
	q.Register(fs, "-1h")
	speedS := fs.String("speed", "max", "pace, a `SPEED`: 1x (as it happened), 10x, or max")
	format := fs.String("format", "table", "output `FORMAT`: table (the live alert line), jsonl or csv")
	toTG := fs.Bool("telegram", false, "send to the configured Telegram chats (needs TELEGRAM_BOT_TOKEN) instead of stdout")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	speed, err := history.ParseSpeed(*speedS)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if err := q.Parse(time.Now()); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	var emit func(*event.Event) error
	var finish func() error
	var ew *history.Writer
	if *toTG {
		emit, finish, err = history.TelegramReplay(ctx, &q, a.stderr)
		if errors.Is(err, history.ErrNeedsConfig) {
			return fmt.Errorf("%w: %v", errUsage, err)
		}
		if err != nil {
			return err
		}
	} else {
		ew, err = history.NewWriter(a.stdout, *format, *format == "table" && isTerminal(a.stdout))
		if err != nil {
			return fmt.Errorf("%w: %v", errUsage, err)
		}
		emit, finish = ew.Write, ew.Flush
	}
	st, err := q.Open()
	if err != nil {
		return err
	}
	defer st.Close()
	if ew != nil {
		ew.KV = st // stored analyses are replayed with their alerts
	}
	var progress io.Writer
	if isTerminal(a.stderr) {
		progress = a.stderr
	}
	err = history.Replay(ctx, st, &q, speed, emit, progress)
	if ferr := finish(); err == nil {
		err = ferr
	}
	if errors.Is(err, context.Canceled) {
		return nil // Ctrl-C ends a replay; not an error
	}
	if err != nil {
		return fmt.Errorf("cannot replay: %w", err)
	}
	return nil
}
