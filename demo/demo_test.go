package demo

import (
	"testing"
)

// TestRelayedDegradesTheSameRowsEveryRun: the relay's copy of a row reads
// as Binance's own (side of the position, USD at the fill price), and the
// degradation drops and flips about the asked share, the same rows in
// every run, so two demo boxes can be compared.
func TestRelayedDegradesTheSameRowsEveryRun(t *testing.T) {
	sessions, err := LoadSample()
	if err != nil {
		t.Fatal(err)
	}
	var n, dropped, flipped int
	for _, s := range sessions {
		for i := range s.Rows {
			row := &s.Rows[i]
			clean, ok := relayed(s.Name, i, row, 1, 0, 0)
			if !ok {
				t.Fatal("a row dropped without degradation")
			}
			want := row.Side
			if clean.Side != want || clean.Symbol != row.Symbol || clean.TimeMs != 1 {
				t.Fatalf("row %+v relayed as %+v", row, clean)
			}
			l, ok := relayed(s.Name, i, row, 1, 0.02, 0.01)
			again, ok2 := relayed(s.Name, i, row, 1, 0.02, 0.01)
			if ok != ok2 || l != again {
				t.Fatal("the degradation differs between runs")
			}
			n++
			switch {
			case !ok:
				dropped++
			case l.Side != clean.Side:
				flipped++
			}
		}
	}
	if d, f := float64(dropped)/float64(n), float64(flipped)/float64(n); d < 0.01 || d > 0.03 || f < 0.003 || f > 0.02 {
		t.Fatalf("of %d rows %d dropped (%.2f%%), %d flipped (%.2f%%): want about 2%% and 1%%", n, dropped, 100*d, flipped, 100*f)
	}
}
