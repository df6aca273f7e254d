package main

import (
	"context"
	"fmt"

	"github.com/liqbox/liqbox/history"
	"github.com/liqbox/liqbox/store"
)

// cmdBackup writes a consistent copy of the log while `liqbox run` keeps
// writing it (the running writer hands out a snapshot).
func cmdBackup(_ context.Context, a *app, args []string) error {
	fs := a.flags()
	db := fs.String("db", "", "log `FILE` (default: store.path from the config)")
	config := fs.String("config", "", "config `FILE`, for the default log path")
	out := fs.String("out", "", "backup `FILE` to write (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		return fmt.Errorf("%w: --out FILE is required", errUsage)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	src, err := history.LogPath(*db, *config)
	if err != nil {
		return err
	}
	st, err := store.Open(src, store.Options{ReadOnly: true})
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.BackupFile(*out); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "backed up %s to %s (%d bytes)\n", src, *out, fileBytes(*out))
	return nil
}
