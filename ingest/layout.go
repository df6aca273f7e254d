package ingest

import (
	"encoding/binary"
	"fmt"
	"strings"
	"unsafe"
)

// A layout is the order in which a venue writes the members of its
// liquidation object, for readLayout. A venue's encoder writes the same
// keys in the same order frame after frame, so each member can be checked
// by comparing its comma, key, colon and opening quote with what is
// expected, eight bytes at a time, instead of its key being read byte by
// byte and then looked up; members whose value never changes are compared
// whole, together with the member after them.
type layout []layoutStep

// layoutStep is one expected member, or a run of fixed members and the one
// after them. lit is the text from the key of its first member up to and
// including the opening quote of a string value (`"q":"`) or the colon
// before a number (`"T":`); for a fixed member alone it is the whole
// member (`"X":"FILLED"`).
type layoutStep struct {
	key  string // of the first member
	lit  string
	kind uint8
	slot int // where fm puts the value read, -1 when it is skipped
	// comma is lit after a comma, the form of every member but the first;
	// word and mask hold its first eight bytes.
	comma      string
	word, mask uint64
}

const (
	stepString = iota // a string value follows lit
	stepNumber        // a number follows lit
	stepFixed         // lit is the whole member
)

// newLayout builds the layout of members as they appear on the wire: each
// is `"key":"` (a string read or skipped), `"key":` (a number), or a whole
// member whose value never changes and is not read (`"X":"FILLED"`).
// Slots are taken from fm, so that the layout never reads a member into
// another slot than readFields would: a member fm reads cannot be fixed,
// and a number can be read only into a slot that accepts one. A layout
// changes the speed of a decoder, never its result.
func newLayout(fm fieldMap, members ...string) layout {
	var l layout
	for _, m := range members {
		k, _, ok := strings.Cut(strings.TrimPrefix(m, `"`), `":`)
		if !ok || !strings.HasPrefix(m, `"`) {
			panic(fmt.Sprintf("layout member %q: want \"key\":…", m))
		}
		slot, text := fm(k)
		st := layoutStep{key: k, lit: m, slot: slot}
		switch {
		case strings.HasSuffix(m, `":"`):
			st.kind = stepString
		case strings.HasSuffix(m, `":`):
			st.kind = stepNumber
			if slot >= 0 && !text {
				panic(fmt.Sprintf("layout member %q: %s is read as a string only", m, k))
			}
		default:
			st.kind = stepFixed
			if slot >= 0 {
				panic(fmt.Sprintf("layout member %q: %s is read, so its value cannot be fixed", m, k))
			}
		}
		if n := len(l) - 1; n >= 0 && l[n].kind == stepFixed {
			// The fixed member is compared as part of this one.
			st.key, st.lit = l[n].key, l[n].lit+","+st.lit
			l = l[:n]
		}
		l = append(l, st)
	}
	for n := range l {
		st := &l[n]
		st.comma = "," + st.lit
		var w [8]byte
		c := copy(w[:], st.comma)
		st.word = binary.LittleEndian.Uint64(w[:])
		st.mask = ^uint64(0) >> (64 - 8*c)
	}
	return l
}

// match reads the member at i if it is st, and returns the position after
// its value; -1 when it is not, with nothing read. i is the comma before
// the member, or for the first member (first) the object's '{', which
// stands where the comma would and is not compared.
func (st *layoutStep) match(s string, i int, first bool, vals *[nFields]string) int {
	if i+8 > len(s) {
		return -1 // the end of the frame: left to readFields
	}
	mask := st.mask
	if first {
		mask &^= 0xff
	}
	b := unsafe.Slice(unsafe.StringData(s), len(s))
	if binary.LittleEndian.Uint64(b[i:])&mask != st.word&mask ||
		len(st.comma) > 8 && !strings.HasPrefix(s[i+8:], st.comma[8:]) {
		return -1
	}
	j := i + len(st.comma)
	var v string
	switch st.kind {
	case stepString:
		v, j = str(s, j-1)
	case stepNumber:
		if c := at(s, j); c != '-' && !isDigit(c) {
			return -1
		}
		v, j = number(s, j)
	}
	if j >= 0 && st.slot >= 0 {
		vals[st.slot] = v
	}
	return j
}

// readLayout is readFields (the same members read into the same slots, the
// last of a key winning, the same syntax refused) for an object that
// usually comes as l says. Each member is first matched against the next
// step of l; one that does not match (a member the venue added, white
// space, a number sent as a string) is read as readFields reads it, and
// the next member is matched against the same step again, or against the
// one after when the member read had the step's key. Either way every
// member is read once, in order.
func readLayout(s string, i int, l layout, fm fieldMap, vals *[nFields]string) int {
	// i is on the comma before the next member, or on the '{'.
	next := 0
	for first := true; ; first = false {
		if next < len(l) {
			if j := l[next].match(s, i, first, vals); j >= 0 {
				i = j
				next++
				continue
			}
		}
		if first {
			i++ // '{'
		}
		k, j, done := nextKey(s, i, first)
		if i = j; i < 0 || done {
			return i
		}
		if i = readField(s, i, fm, k, vals); i < 0 {
			return i
		}
		if next < len(l) && l[next].key == k {
			// The expected member with another value (an order type
			// other than LIMIT, a number sent as a string): the next
			// one may be as expected again.
			next++
		}
	}
}
