package service

import (
	"net/http"
	"time"

	"github.com/liqbox/liqbox/event"
)

// SetLastLive tells s's health watcher that venue v was last seen live at
// at, so tests can place the loss in time.
func SetLastLive(s *Service, v event.Venue, at time.Time) {
	h := s.http
	h.mu.Lock()
	h.lastLive[v] = at
	h.mu.Unlock()
}

// OfferRecent hands ev to s's recent-events feed (/api/recent) as the
// pipeline would.
func OfferRecent(s *Service, ev *event.Event) { s.recent.Offer(ev) }

// WriteJSON answers v through s's JSON writer.
func WriteJSON(s *Service, w http.ResponseWriter, v any) { s.http.writeJSON(w, v) }
