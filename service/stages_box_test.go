package service_test

import (
	"testing"
	"time"
)

// The page's percentiles for the bot's stages come from the bot's own
// histogram objects (telegram.Bot.Stages), as the pipeline's do: every
// stage of an alert that reached the Bot API is counted.
func TestStatusStagesIncludeTheBots(t *testing.T) {
	b := startBox(t, nil)
	b.play(t, liq("BTCUSDT", "SELL", "2", "50000"))
	b.waitAlerts(1, 5*time.Second)
	want := map[string]bool{"exchange_to_receive": true, "receive_to_pipeline": true,
		"receive_to_telegram": true, "telegram_request": true, "end_to_end": true}
	deadline := time.Now().Add(5 * time.Second)
	for {
		counted := map[string]bool{}
		for _, st := range b.Service.StatusJSON(time.Now()).Stages {
			if st.Overall != nil { // observed since start (Count is the recent window's)
				counted[st.Name] = true
			}
		}
		missing := []string{}
		for n := range want {
			if !counted[n] {
				missing = append(missing, n)
			}
		}
		if len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("stages without the alert's observation: %v (status stages %+v)", missing, b.Service.StatusJSON(time.Now()).Stages)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
