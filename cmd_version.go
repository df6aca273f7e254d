package main

import (
	"context"
	"fmt"
	"runtime"

	"github.com/liqbox/liqbox/buildinfo"
	"github.com/liqbox/liqbox/store"
)

func cmdVersion(_ context.Context, a *app, args []string) error {
	fs := a.flags()
	if err := fs.Parse(args); err != nil {
		return err
	}
	// "schema N" is the log layout this binary writes; build/install.sh
	// compares it across an upgrade to know whether a rollback must restore
	// the pre-upgrade backup.
	commit, built := buildinfo.Commit(), buildinfo.Date()
	if buildinfo.Modified() {
		commit += " (with uncommitted changes)"
	}
	if built == "" {
		built = "unknown"
	}
	fmt.Fprintf(a.stdout, "liqbox %s\ncommit %s\nbuilt %s\n%s %s/%s\nschema %d\n", buildinfo.Version(), commit, built,
		runtime.Version(), runtime.GOOS, runtime.GOARCH, store.SchemaVersion)
	return nil
}
