package service

// The one place left that reads stage counts back from the /metrics text:
// the Telegram bot's stage histograms (receive → telegram, the request,
// end to end) are VictoriaMetrics PrometheusHistograms inside telegram/,
// which cannot be read as objects. Once telegram declares them with
// latency.New and hands them out (as pipeline.Pipeline.Stages does), the
// service lists them in New beside the pipeline's, and this file goes.

import (
	"bufio"
	"bytes"
	"strconv"
	"strings"

	"github.com/VictoriaMetrics/metrics"

	"github.com/liqbox/liqbox/latency"
)

// telegramStages are the bot's stage histograms.
var telegramStages = []string{
	"liqbox_stage_receive_to_telegram_seconds",
	"liqbox_stage_telegram_request_seconds",
	"liqbox_stage_end_to_end_seconds",
}

// exposedStage reads one histogram of set from its text exposition.
type exposedStage struct {
	set  *metrics.Set
	name string
}

func (e exposedStage) Name() string { return e.name }

func (e exposedStage) Counts() latency.Counts {
	var buf bytes.Buffer
	e.set.WritePrometheus(&buf)
	var c latency.Counts
	prefix := e.name + `_bucket{le="`
	sc := bufio.NewScanner(&buf)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), prefix)
		if !ok {
			continue
		}
		leStr, val, ok := strings.Cut(rest, `"} `)
		if !ok {
			continue
		}
		le, err1 := strconv.ParseFloat(leStr, 64)
		v, err2 := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err1 != nil || err2 != nil {
			continue
		}
		c.Le = append(c.Le, le)
		c.Cum = append(c.Cum, v)
	}
	return c
}
