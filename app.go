package main

// The environment every subcommand runs in: its streams, its flags and
// their help, and whether its output is a terminal.

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// app is what every subcommand gets: its name, its summary (for its
// help) and standard streams.
type app struct {
	name    string
	summary string
	flagOut *parseErrWriter // the FlagSet's output, once flags made it
	stdin   io.Reader
	stdout  io.Writer
	stderr  io.Writer
}

// flags returns a FlagSet for the subcommand. Its help asked for with -h
// or --help goes to stdout (and the command then ends with no error);
// after a bad flag, the error and the help go to stderr.
func (a *app) flags() *flag.FlagSet {
	fs := flag.NewFlagSet("liqbox "+a.name, flag.ContinueOnError)
	out := &parseErrWriter{w: a.stderr}
	a.flagOut = out
	fs.SetOutput(out)
	fs.Usage = func() {
		w := a.stdout
		if out.wrote {
			w = a.stderr // the flag package wrote a parse error first
		}
		if !hasFlags(fs) {
			fmt.Fprintf(w, "usage: liqbox %s\n  %s\n", a.name, a.summary)
			return
		}
		fmt.Fprintf(w, "usage: liqbox %s [flags]\n  %s\n", a.name, a.summary)
		a.printFlags(w, fs)
	}
	return fs
}

// printFlags writes a command's "flags:" section to w: every command's
// help ends with it, and a command without flags has none.
func (a *app) printFlags(w io.Writer, fs *flag.FlagSet) {
	if !hasFlags(fs) {
		return
	}
	fmt.Fprint(w, "\nflags:\n")
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(a.flagOut)
}

func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}

// parseErrWriter is a FlagSet's output: the flag package writes there only
// a parse error (before calling Usage), so a write means the help is for
// an error, not asked for.
type parseErrWriter struct {
	w     io.Writer
	wrote bool
}

func (p *parseErrWriter) Write(b []byte) (int, error) {
	p.wrote = true
	return p.w.Write(b)
}

// isTerminal reports whether w is a character device (a TTY), to decide on
// colours without a dependency.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	return fi.Mode()&os.ModeCharDevice != 0 && os.Getenv("NO_COLOR") == "" && !strings.EqualFold(os.Getenv("TERM"), "dumb")
}
