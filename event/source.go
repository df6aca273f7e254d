package event

// Conn tells apart not only the redundant connections of a venue's own feed
// but also the source that delivered an event: ids below ConnRelay are the
// venue's own connections (0-based), ConnRelay and the ids after it are a
// relay's (HolySheep's liquidation stream), which forwards the same
// exchange's liquidations from its own servers.
//
// The source lives in Conn rather than in a new flag or field so that the
// Event stays the same 88-byte value and the log's record layout does not
// change: a binary from before the relay reads such records as it reads any
// other (Conn is persisted but never checked), which keeps a rollback
// clean.
const (
	// ConnRelay is the Conn of a relay's first connection.
	ConnRelay uint8 = 0x80
	// connRelayMax is the last relay id: eight relay connections at most,
	// and 255 stays what it is to the dedup table (a key seeded from the
	// log after a restart).
	connRelayMax uint8 = ConnRelay + 7
)

// Source is who delivered an event: the venue's own feed or a relay.
type Source uint8

// Sources, in the order their counters and percentiles are indexed.
const (
	SourceDirect Source = iota // the venue's own WebSocket feed
	SourceRelay                // the HolySheep relay
	NumSources
)

// String returns "direct" or "relay", the label of the source metrics.
func (s Source) String() string {
	if s == SourceRelay {
		return "relay"
	}
	return "direct"
}

// SourceOf returns the source of an event delivered on connection id conn.
func SourceOf(conn uint8) Source {
	if conn >= ConnRelay && conn <= connRelayMax {
		return SourceRelay
	}
	return SourceDirect
}

// Source returns who delivered e.
func (e *Event) Source() Source { return SourceOf(e.Conn) }
