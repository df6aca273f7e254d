package main

import (
	"context"
	"fmt"
	"os"

	"github.com/liqbox/liqbox/history"
	"github.com/liqbox/liqbox/store"
)

// cmdCompact rewrites the log into a new, compact file, offline: bbolt
// reuses freed pages but never shrinks its file, so after retention has
// deleted much this gives the space back. It also copies what is still
// readable out of a damaged file.
func cmdCompact(_ context.Context, a *app, args []string) error {
	fs := a.flags()
	db := fs.String("db", "", "log `FILE` (default: store.path from the config)")
	config := fs.String("config", "", "config `FILE`, for the default log path")
	out := fs.String("out", "", "new `FILE` (default: the log's name plus .compact)")
	replace := fs.Bool("replace", false, "then move FILE to FILE.bak and the new file into its place")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	src, err := history.LogPath(*db, *config)
	if err != nil {
		return err
	}
	dst := *out
	if dst == "" {
		dst = src + ".compact"
	}
	before := fileBytes(src)
	if err := store.Compact(src, dst); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "compacted %s (%d bytes) into %s (%d bytes)\n", src, before, dst, fileBytes(dst))
	if *replace {
		if err := os.Rename(src, src+".bak"); err != nil {
			return fmt.Errorf("cannot move %s aside: %w", src, err)
		}
		if err := os.Rename(dst, src); err != nil {
			return fmt.Errorf("cannot move %s into place: %w", dst, err)
		}
		fmt.Fprintf(a.stdout, "replaced %s; the old file is %s.bak\n", src, src)
	}
	return nil
}

func fileBytes(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}
