// Package buildinfo says which build of liqbox is running: the version,
// commit and date build/release.sh stamps into the binary, with the VCS
// revision Go records as the fallback for a plain `go build`.
package buildinfo

import "runtime/debug"

// Stamped by build/release.sh with -ldflags "-X
// github.com/liqbox/liqbox/buildinfo.version=… (.commit=…, .date=…)".
var (
	version = "dev"
	commit  = ""
	date    = ""
)

// Version is the release version, "dev" for an unstamped build.
func Version() string { return version }

// Date is the stamped build date, empty for an unstamped build.
func Date() string { return date }

// Commit returns the stamped commit, or the VCS revision Go recorded, or
// "unknown".
func Commit() string {
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
