package ingest

import (
	"strings"

	"github.com/liqbox/liqbox/event"
)

// A one-pass JSON reader for the decoders: each function takes the frame s
// (a view, see view) and a position i and returns what it read with the
// position after it, or a negative position on bad syntax. The decoders
// walk the members they need and skip the rest, so every byte of a frame is
// looked at once (gjson's Get, by contrast, skips a whole object to find its
// end and ForEach then reads it again). Positions travel in registers, not
// through a struct in memory: that alone halved the cost per frame.
//
// Strings come back raw, as views of the frame: escapes are not decoded. No
// field a decoder reads legitimately carries one (symbols, decimals, sides,
// table names), so a value with a backslash is refused by that field's
// check.
//
// Skipped values are checked for structure (brackets matched, strings
// closed, literals spelled), not for every detail of the grammar, like
// gjson; the values a decoder reads are checked by their parsers.

// maxDepth bounds nesting in skipped values: no venue nests beyond five
// levels, and a hostile frame of a million '[' must not cost a million
// stack frames.
const maxDepth = 64

// space and numChar classify bytes with one load instead of a chain of
// comparisons.
var space, numChar [256]bool

func init() {
	for _, c := range " \t\n\r" {
		space[c] = true
	}
	for _, c := range "0123456789.-+eE" {
		numChar[c] = true
	}
}

// ws returns the position of the first non-space byte at or after i.
func ws(s string, i int) int {
	for i < len(s) && space[s[i]] {
		i++
	}
	return i
}

// at returns the byte at i, 0 past the end.
func at(s string, i int) byte {
	if i >= 0 && i < len(s) {
		return s[i]
	}
	return 0
}

// atEnd reports whether only white space follows i.
func atEnd(s string, i int) bool {
	return i >= 0 && ws(s, i) == len(s)
}

// nextKey reads the next member of an object whose '{' is before i: first
// says whether it would be the first member. It returns the key and the
// position of its value, or done (with the position after the '}').
func nextKey(s string, i int, first bool) (k string, j int, done bool) {
	i = ws(s, i)
	if i >= len(s) {
		return "", -1, false
	}
	c := s[i]
	switch {
	case c == '}':
		return "", i + 1, true
	case c == ',' && !first:
		i = ws(s, i+1)
		if at(s, i) != '"' {
			return "", -1, false
		}
	case c != '"' || !first:
		return "", -1, false
	}
	k, i = str(s, i)
	if i < 0 {
		return "", -1, false
	}
	if i < len(s) && s[i] == ':' { // the usual "k":v
		i++
	} else if i = ws(s, i); at(s, i) == ':' {
		i++
	} else {
		return "", -1, false
	}
	// The position returned always holds a byte, so callers may look at
	// s[j] without a bounds check of their own.
	if i = ws(s, i); i >= len(s) {
		return "", -1, false
	}
	return k, i, false
}

// nextElem advances to the next element of an array whose '[' is before
// i, returning a position that holds a byte; done (with the position after
// the ']') at its end.
func nextElem(s string, i int, first bool) (j int, done bool) {
	i = ws(s, i)
	switch at(s, i) {
	case ']':
		return i + 1, true
	case ',':
		if first {
			return -1, false
		}
		if i = ws(s, i+1); i >= len(s) {
			return -1, false
		}
		return i, false
	case 0:
		return -1, false
	}
	if !first {
		return -1, false
	}
	return i, false
}

// str reads the string whose opening quote is at i and returns its raw
// contents. A byte loop beats IndexByte: most strings in a frame are a few
// bytes long.
func str(s string, i int) (string, int) {
	start := i + 1
	for j := start; j < len(s); j++ {
		switch s[j] {
		case '"':
			return s[start:j], j + 1
		case '\\':
			j++ // the escaped byte, which may be a quote
		}
	}
	return "", -1
}

// strField reads a member that should be a string: its raw contents, or ""
// (which no field check accepts) when the value is of another kind.
func strField(s string, i int) (string, int) {
	if at(s, i) == '"' {
		return str(s, i)
	}
	return "", skip(s, i)
}

// textField reads a member a decoder wants as text: a string's raw
// contents or a number's raw token (venues are not consistent about which
// they send), or "" for any other kind of value.
func textField(s string, i int) (string, int) {
	switch c := at(s, i); {
	case c == '"':
		return str(s, i)
	case c == '-' || c >= '0' && c <= '9':
		return number(s, i)
	}
	return "", skip(s, i)
}

// number reads the raw token of a number (its grammar is left to the
// parser the decoder applies).
func number(s string, i int) (string, int) {
	j := i
	for j < len(s) && numChar[s[j]] {
		j++
	}
	return s[i:j], j
}

// skip consumes the value at i, of any kind.
func skip(s string, i int) int {
	switch at(s, i) {
	case '{', '[':
		return skipNested(s, i)
	}
	return skipScalar(s, i)
}

// skipScalar consumes a string, number or literal.
func skipScalar(s string, i int) int {
	switch c := at(s, i); {
	case c == '"':
		_, i = str(s, i)
		return i
	case c == '-' || c >= '0' && c <= '9':
		_, j := number(s, i)
		return j
	case c == 't':
		return lit(s, i, "true")
	case c == 'f':
		return lit(s, i, "false")
	case c == 'n':
		return lit(s, i, "null")
	}
	return -1
}

func lit(s string, i int, w string) int {
	if strings.HasPrefix(s[i:], w) {
		return i + len(w)
	}
	return -1
}

// skipNested consumes the object or array at i without recursion: the kind
// of every open bracket is one bit of stack.
func skipNested(s string, i int) int {
	var stack uint64 // bit d set: level d is an object
	depth := 0
	for {
		i = ws(s, i)
		if i >= len(s) {
			return -1
		}
		switch c := s[i]; c {
		case '{', '[':
			if depth == maxDepth {
				return -1
			}
			if c == '{' {
				stack |= 1 << depth
			} else {
				stack &^= 1 << depth
			}
			depth++
			i++
		case '}', ']':
			if depth == 0 || (c == '}') != (stack&(1<<(depth-1)) != 0) {
				return -1
			}
			depth--
			i++
			if depth == 0 {
				return i
			}
		case ',', ':':
			i++
		default:
			if i = skipScalar(s, i); i < 0 {
				return -1
			}
		}
	}
}

// elemFunc decodes the object element whose '{' is at i, appending what it
// finds to dst; an error means the element was refused (and nothing of it
// kept), a negative position bad syntax.
type elemFunc func(s string, i int, dst []event.Event) ([]event.Event, int, error)

// elems decodes the array at i element by element: a refused element is
// dropped and the others kept, so one bad liquidation of a frame never
// costs the good ones. It returns the first refusal; a non-object element
// is one.
func elems(s string, i int, dst []event.Event, one elemFunc) ([]event.Event, int, error) {
	return elemsOf(s, i, dst, '{', errNotObject, one)
}

// elemsOf is elems for elements that open with open ('{' or '['), one
// being handed each; any other element is refused with notElem.
func elemsOf(s string, i int, dst []event.Event, open byte, notElem error, one elemFunc) ([]event.Event, int, error) {
	i++ // '['
	var firstBad error
	for first := true; ; first = false {
		j, done := nextElem(s, i, first)
		if i = j; i < 0 || done {
			return dst, i, firstBad
		}
		var bad error
		if s[i] == open {
			dst, i, bad = one(s, i, dst)
		} else if i = skip(s, i); i >= 0 {
			bad = notElem
		}
		if i < 0 {
			return dst, i, nil
		}
		if firstBad == nil {
			firstBad = bad
		}
	}
}

// members walks the object whose '{' is at i, calling member for each
// member with its key and the position of its value; member returns the
// position after the value (negative: bad syntax, which stops the walk).
// It returns the position after the '}'.
func members(s string, i int, member func(k string, i int) int) int {
	return membersFrom(s, i+1, true, member)
}

// membersFrom is members resumed at i inside an object: after its '{'
// (first) or after the value of a member already read.
func membersFrom(s string, i int, first bool, member func(k string, i int) int) int {
	for ; ; first = false {
		k, j, done := nextKey(s, i, first)
		if i = j; i < 0 || done {
			return i
		}
		if i = member(k, i); i < 0 {
			return i
		}
	}
}
