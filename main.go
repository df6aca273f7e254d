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
	"compare":  {cmdCompare, "two logs side by side: missing, late, disagreeing; rollback triggers"},
}

// errUsage marks an error that is the caller's command line; main prints
// usage with it and exits 2.
var errUsage = errors.New("usage")

// errBadFlag is a flag the command does not know or cannot parse: the
// error and the command's flags are already on stderr; main exits 2.
var errBadFlag = errors.New("bad flag")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil:
	case errors.Is(err, errRollback):
		fmt.Fprintln(os.Stderr, "liqbox:", err)
		os.Exit(3)
	case errors.Is(err, errBadFlag):
		os.Exit(2) // the flag package said what is wrong, with the flags
	case errors.Is(err, errUsage):
		fmt.Fprintln(os.Stderr, "liqbox:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "liqbox:", err)
		os.Exit(1)
	}
}

// run dispatches to a subcommand. It is main without the process: tests
// call it directly.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 2 && args[0] == "help" {
		args = []string{args[1], "-h"} // liqbox help run = liqbox run -h
	}
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" || args[0] == "-help" {
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
	a := &app{name: args[0], summary: cmd.summary, stdin: stdin, stdout: stdout, stderr: stderr}
	err := cmd.run(ctx, a, args[1:])
	switch {
	case errors.Is(err, flag.ErrHelp):
		return nil // -h, --help: the help asked for is on stdout
	case err != nil && a.flagOut != nil && a.flagOut.wrote:
		return fmt.Errorf("%w: %v", errBadFlag, err)
	}
	return err
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
