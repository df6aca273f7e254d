package telegramtest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"
)

// TestUpdatesUntilConfirmed: as Telegram does, an update is given to every
// poll until one asks for an offset past it. A loopback that forgot an
// update once written lost it when the poll carrying it was being
// cancelled (a bot stopping as the update came), and a test of the next
// bot waited for a reply that could never come.
func TestUpdatesUntilConfirmed(t *testing.T) {
	s, err := NewServer(Options{Token: Token, MaxHold: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Say(1, 1, "/one")
	s.Say(1, 1, "/two")
	poll := func(offset, limit int) []int {
		t.Helper()
		v := url.Values{"timeout": {"0"}}
		if offset != 0 {
			v.Set("offset", strconv.Itoa(offset))
		}
		if limit != 0 {
			v.Set("limit", strconv.Itoa(limit))
		}
		resp, err := http.PostForm(s.URL()+"/bot"+Token+"/getUpdates", v)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct {
			OK     bool `json:"ok"`
			Result []struct {
				ID int `json:"update_id"`
			} `json:"result"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || !body.OK {
			t.Fatalf("getUpdates: %v %+v", err, body)
		}
		var ids []int
		for _, u := range body.Result {
			ids = append(ids, u.ID)
		}
		return ids
	}
	first := poll(0, 0)
	if len(first) != 2 || first[1] != first[0]+1 {
		t.Fatalf("first poll: %v, want two consecutive updates", first)
	}
	if again := poll(0, 0); len(again) != 2 || again[0] != first[0] {
		t.Errorf("unconfirmed updates given again: %v, want %v", again, first)
	}
	if one := poll(first[0], 1); len(one) != 1 || one[0] != first[0] {
		t.Errorf("limit 1: %v", one)
	}
	if rest := poll(first[0]+1, 0); len(rest) != 1 || rest[0] != first[1] {
		t.Errorf("after confirming the first: %v, want [%d]", rest, first[1])
	}
	if none := poll(first[1]+1, 0); len(none) != 0 {
		t.Errorf("after confirming both: %v", none)
	}
	if none := poll(0, 0); len(none) != 0 {
		t.Errorf("confirmed updates came back: %v", none)
	}
}
