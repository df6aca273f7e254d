package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/VictoriaMetrics/metrics"

	"github.com/liqbox/liqbox/store"
)

// Stamped by build/release.sh with -ldflags "-X main.version=… -X main.commit=… -X main.buildDate=…".
var (
	version   = "dev"
	commit    = ""
	buildDate = ""
)

// buildCommit returns the stamped commit, or the VCS revision Go recorded.
func buildCommit() string {
	if commit != "" {
		return commit
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				return s.Value
			}
		}
	}
	return "unknown"
}

func registerBuildInfo(set *metrics.Set) {
	set.NewGauge(fmt.Sprintf(`liqbox_build_info{version=%q,commit=%q,goversion=%q,goarch=%q}`,
		version, buildCommit(), runtime.Version(), runtime.GOARCH), func() float64 { return 1 })
}

func cmdVersion(_ context.Context, a *app, args []string) error {
	fs := a.flags()
	if err := fs.Parse(args); err != nil {
		return err
	}
	// "schema N" is the log layout this binary writes; build/install.sh
	// compares it across an upgrade to know whether a rollback must restore
	// the pre-upgrade backup.
	fmt.Fprintf(a.stdout, "liqbox %s\ncommit %s\nbuilt %s\n%s %s/%s\nschema %d\n", version, buildCommit(), buildDate,
		runtime.Version(), runtime.GOOS, runtime.GOARCH, store.SchemaVersion)
	return nil
}
