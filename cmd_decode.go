package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/liqbox/liqbox/embed"
	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/ingest"
)

// errSomeLinesFailed makes `liqbox decode` exit 1 after reporting each bad
// line on stderr.
var errSomeLinesFailed = errors.New("some lines could not be decoded")

func cmdDecode(_ context.Context, a *app, args []string) error {
	fs := a.flags()
	list := strings.Join(event.VenueNames(), ", ")
	venueName := fs.String("venue", "binance-usdm", "`VENUE` of the frames: "+list+" (HTX frames inflated, one JSON text a line)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	v, ok := event.ParseVenue(*venueName)
	if !ok {
		return fmt.Errorf("%w: unknown venue %q (%s)", errUsage, *venueName, list)
	}
	dec, err := ingest.NewOfflineDecoder(v, embed.Instruments)
	if err != nil {
		return err
	}
	return decodeLines(a.stdin, a.stdout, a.stderr, dec)
}

// firstBytes quotes the start of a bad line so the operator can find it.
func firstBytes(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}

// decodeLines decodes one frame per line. A bad line is reported on errOut
// with its number and does not stop the run.
func decodeLines(in io.Reader, out, errOut io.Writer, dec ingest.Decoder) error {
	r := bufio.NewReaderSize(in, 64<<10)
	w := bufio.NewWriter(out)
	defer w.Flush()
	var evs []event.Event
	var buf []byte
	failed := 0
	for n := 1; ; n++ {
		line, err := r.ReadBytes('\n')
		if len(line) == 0 && err != nil {
			if err != io.EOF {
				return fmt.Errorf("cannot read stdin: %w", err)
			}
			break
		}
		line = bytes.TrimSpace(line)
		if len(line) > 0 {
			var derr error
			evs, derr = dec.Decode(evs[:0], line, time.Now().UnixNano())
			if derr != nil {
				failed++
				w.Flush()
				fmt.Fprintf(errOut, "line %d: %v: %q\n", n, derr, firstBytes(line, 80))
			}
			// A line with several liquidations keeps its good ones.
			for i := range evs {
				buf = evs[i].AppendJSON(buf[:0])
				buf = append(buf, '\n')
				w.Write(buf)
			}
		}
		if err == io.EOF {
			break
		}
	}
	if failed > 0 {
		return fmt.Errorf("%w: %d", errSomeLinesFailed, failed)
	}
	return nil
}
