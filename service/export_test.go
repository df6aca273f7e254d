package service

import (
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
