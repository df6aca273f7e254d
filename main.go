// Command liqbox watches crypto exchanges' liquidation streams and alerts
// large liquidations to Telegram within a millisecond of the frame
// arriving, followed by an LLM risk read that never slows the raw alert.
//
// Run `liqbox help` for the subcommands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/VictoriaMetrics/metrics"
)

// command is one subcommand: it gets the remaining arguments and returns an
// error to report; only main exits.
type command struct {
	run     func(ctx context.Context, a *app, args []string) error
	summary string
}

// commands is the subcommand table. Keep summaries short: `liqbox help`
// prints them as a list.
var commands = map[string]command{
	"run":      {cmdRun, "run the service: ingest, alert, log, serve /metrics"},
	"demo":     {cmdDemo, "full pipeline on embedded real liquidations through a loopback exchange"},
	"decode":   {cmdDecode, "raw frames on stdin to normalised JSON lines on stdout"},
	"config":   {cmdConfig, "config init (print the default) | config check FILE"},
	"version":  {cmdVersion, "print version, commit and build details"},
	"bench":    {cmdBench, "load test on loopback: latency at the Bot API, analyses, drops, RSS, CPU; --pattern sparse, --soak"},
	"gaps":     {cmdGaps, "intervals when a stream had no live connection (the gap ledger)"},
	"cost":     {cmdCost, "LLM spend today and this month, projected, and on other models"},
	"replay":   {cmdReplay, "play the log back: terminal, JSON lines, CSV or Telegram"},
	"stats":    {cmdStats, "totals by venue, side and symbol, largest, busiest minutes"},
	"export":   {cmdExport, "the log as CSV or JSON lines"},
	"backtest": {cmdBacktest, "alerts a chat would have got at each threshold"},
	"compact":  {cmdCompact, "rewrite the log compactly (offline)"},
	"backup":   {cmdBackup, "consistent copy of the log, also while run runs"},
}

// errUsage marks an error that is the caller's command line; main prints
// usage with it and exits 2.
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil:
	case errors.Is(err, errUsage), errors.Is(err, flag.ErrHelp):
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "liqbox:", err)
		}
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "liqbox:", err)
		os.Exit(1)
	}
}

// run dispatches to a subcommand. It is main without the process: tests
// call it directly.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		return nil
	}
	cmd, ok := commands[args[0]]
	if !ok {
		usage(stderr)
		return fmt.Errorf("%w: unknown command %q", errUsage, args[0])
	}
	// # HELP and # TYPE lines make /metrics lintable by promtool and typed
	// for Prometheus; the switch is process-wide, so it is set here once.
	metrics.ExposeMetadata(true)
	a := &app{name: args[0], stdin: stdin, stdout: stdout, stderr: stderr}
	return cmd.run(ctx, a, args[1:])
}

// app is what every subcommand gets: its name and standard streams.
type app struct {
	name   string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// flags returns a FlagSet for the subcommand that writes its help to stderr.
func (a *app) flags() *flag.FlagSet {
	fs := flag.NewFlagSet("liqbox "+a.name, flag.ContinueOnError)
	fs.SetOutput(a.stderr)
	return fs
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

func usage(w io.Writer) {
	fmt.Fprintln(w, "liqbox — liquidation alerts from a box next to the exchange")
	fmt.Fprintln(w, "\nusage: liqbox <command> [flags]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-9s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\n`liqbox <command> -h` shows a command's flags.")
}
