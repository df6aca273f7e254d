// Package buildinfo says which build of liqbox is running: the version,
// commit and date build/release.sh stamps into the binary, with the VCS
// revision, time and modified flag Go records in a plain `go build` of a
// checkout as the fallback.
package buildinfo

import (
	"runtime/debug"
	"sync"
)

// Stamped by build/release.sh with -ldflags "-X
// github.com/liqbox/liqbox/buildinfo.version=… (.commit=…, .date=…)".
var (
	version = "dev"
	commit  = ""
	date    = ""
)

// Version is the release version, "dev" for an unstamped build.
func Version() string { return version }

// Commit returns the stamped commit, or the VCS revision Go recorded, or
// "unknown".
func Commit() string {
	if commit != "" {
		return commit
	}
	if v := fromGo().revision; v != "" {
		return v
	}
	return "unknown"
}

// Date is the stamped build date, or the time of the commit Go recorded
// (RFC 3339), or "" when neither is known.
func Date() string {
	if date != "" {
		return date
	}
	return fromGo().time
}

// Modified reports whether an unstamped build was made from a checkout
// with uncommitted changes, so that its commit does not say all of what it
// runs. A stamped release is built from the commit itself (git archive).
func Modified() bool { return commit == "" && fromGo().modified }

// vcs is what `go build` records about the checkout it built.
type vcs struct {
	revision, time string
	modified       bool
}

var fromGo = sync.OnceValue(func() vcs {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return vcs{}
	}
	return parseSettings(bi.Settings)
})

// parseSettings reads the vcs.* build settings.
func parseSettings(settings []debug.BuildSetting) vcs {
	var v vcs
	for _, s := range settings {
		switch s.Key {
		case "vcs.revision":
			v.revision = s.Value
		case "vcs.time":
			v.time = s.Value
		case "vcs.modified":
			v.modified = s.Value == "true"
		}
	}
	return v
}
