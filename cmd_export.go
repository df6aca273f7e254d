package main

import (
	"context"
	"fmt"
	"os"

	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/history"
)

// cmdExport writes the log's events as CSV or JSON lines, for spreadsheets
// and notebooks.
func cmdExport(_ context.Context, a *app, args []string) error {
	fs := a.flags()
	var q history.Query
	q.Register(fs, "")
	format := fs.String("format", "csv", "`FORMAT`: csv or jsonl")
	out := fs.String("out", "", "output `FILE` (default: stdout)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	if *format != "csv" && *format != "jsonl" {
		return fmt.Errorf("%w: --format %q: want csv or jsonl", errUsage, *format)
	}
	st, err := openQuery(&q)
	if err != nil {
		return err
	}
	defer st.Close()
	w := a.stdout
	var f *os.File
	if *out != "" {
		if f, err = os.Create(*out); err != nil {
			return fmt.Errorf("cannot create %s: %w", *out, err)
		}
		defer f.Close()
		w = f
	}
	ew, err := history.NewWriter(w, *format, false)
	if err != nil {
		return err
	}
	ew.KV = st // each event's stored risk analysis goes with it
	n := 0
	err = q.Scan(st, func(ev *event.Event) error { n++; return ew.Write(ev) })
	if ferr := ew.Flush(); err == nil {
		err = ferr
	}
	if err == nil && f != nil {
		err = f.Sync()
	}
	if err != nil {
		return fmt.Errorf("cannot export: %w", err)
	}
	if f != nil {
		fmt.Fprintf(a.stderr, "exported %d events to %s\n", n, *out)
	}
	return nil
}
