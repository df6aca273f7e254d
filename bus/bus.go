// Package bus joins liqbox boxes over NATS JetStream: an edge box next to
// its exchange publishes what its log has committed, a central box reads
// the stream as one more source of its pipeline.
//
// Publishing (Publisher) is off the hot path: it follows the log behind
// the writer (store.ReadAfter after each commit), publishes each event
// with a JetStream message id derived from the event's identity, keeps a
// bounded window of asynchronous publishes in flight, and advances its
// checkpoint in the log (Ack("bus:<stream>")) only over events JetStream
// acknowledged. A restart or an outage resumes from the checkpoint:
// at-least-once, and a message published twice within the stream's
// duplicate window is stored once. The gap ledger is published beside
// the events.
//
// Consuming (Consumer) reads the stream through a durable pull consumer
// and pushes each event into a ring of its own, which the pipeline drains
// like a connection's: the same dedup key drops the copies two edge boxes
// (or an edge box and a local connection) deliver. It acknowledges
// messages to JetStream only once what they carried is committed in its
// own log, so a crash of the central box loses nothing either.
//
// Lifetime: Dial builds the connection (nothing runs); Conn.Run holds it
// open until its context ends; Publisher.Run and Consumer.Run do their
// work while it is up and wait while it is not. Each returns when its
// context ends.
package bus

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Config is the [bus] section. Zero values take the defaults that
// embed/liqbox.conf documents (filled by Defaults).
type Config struct {
	// URL is one or more comma-separated nats:// or tls:// server URLs;
	// empty means no bus. A user:password or token in it is a secret:
	// every log line and status shows it redacted.
	URL     string
	BoxName string // this box's name on the bus; empty: the hostname
	Publish bool   // publish what the log commits
	Consume bool   // read the stream as a source of the pipeline
	Stream  string // JetStream stream name [LIQBOX]
	// Subject is the subject prefix: events go to <Subject>.events.<venue>,
	// gaps to <Subject>.gaps.<venue> [liqbox].
	Subject  string
	Consumer string // durable consumer name; empty: liqbox-<box name>
	Creds    string // NATS credentials file (JWT and seed), mode 0600
	TLS      bool   // require TLS, verifying the server's certificate
	TLSCA    string // PEM file of the CA to verify the server with (implies TLS)
	// CreateStream creates the stream when it does not exist, with the
	// limits below; an existing stream is used as it is.
	CreateStream bool
	Replicas     int           // copies of the stream in a cluster [1]
	MaxAge       time.Duration // the stream drops messages older than this [7d]
	MaxBytes     int64         // and the oldest beyond this size [1GB]
	// Duplicates is JetStream's de-duplication window: a message id seen
	// within it is stored once [2m].
	Duplicates time.Duration
	// MaxInFlight bounds the asynchronous publishes awaiting JetStream's
	// acknowledgement [256].
	MaxInFlight int
	// AlertMaxAge: an event that reaches a consuming box later than this
	// after its edge box received it is backlog: logged, never alerted [10s].
	AlertMaxAge time.Duration
	// FirstAge: a publisher without a checkpoint starts with the events
	// received within this long, a new durable consumer with the messages
	// stored within it (store.redeliver_max_age) [2m].
	FirstAge time.Duration
}

// Defaults fills the zero fields.
func (c *Config) Defaults() {
	if c.Stream == "" {
		c.Stream = "LIQBOX"
	}
	if c.Subject == "" {
		c.Subject = "liqbox"
	}
	if c.Replicas <= 0 {
		c.Replicas = 1
	}
	if c.MaxAge <= 0 {
		c.MaxAge = 7 * 24 * time.Hour
	}
	if c.MaxBytes <= 0 {
		c.MaxBytes = 1 << 30
	}
	if c.Duplicates <= 0 {
		c.Duplicates = 2 * time.Minute
	}
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = 256
	}
	if c.AlertMaxAge <= 0 {
		c.AlertMaxAge = 10 * time.Second
	}
	if c.FirstAge <= 0 {
		c.FirstAge = 2 * time.Minute
	}
	if c.Consumer == "" && c.BoxName != "" {
		c.Consumer = DefaultConsumer(c.BoxName)
	}
}

// MaxAlertAge is the largest AlertMaxAge: a fresh event keeps its edge
// box's receive time, which must stay within the log's order slack
// (store.OrderSlack) of the newest one.
const MaxAlertAge = 45 * time.Second

// Errors of the bus's configuration and messages.
var (
	// ErrBadName means a box, stream, subject or consumer name has a
	// character NATS or liqbox cannot carry.
	ErrBadName = errors.New("bad name")
	// ErrCredsMode means the credentials file is readable by others.
	ErrCredsMode = errors.New("credentials file readable by group or others")
	// ErrBadMessage means a message from the bus does not decode: it is
	// counted, logged and acknowledged (it would never decode).
	ErrBadMessage = errors.New("bad bus message")
)

// Validate checks the names (after Defaults).
func (c *Config) Validate() error {
	if c.URL == "" {
		return nil
	}
	if err := CheckBoxName(c.BoxName); err != nil {
		return fmt.Errorf("bus.box_name: %w", err)
	}
	if !token(c.Stream, false) {
		return fmt.Errorf("bus.stream %q: %w: letters, digits, - and _ only", c.Stream, ErrBadName)
	}
	for _, t := range strings.Split(c.Subject, ".") {
		if !token(t, false) {
			return fmt.Errorf("bus.subject %q: %w: tokens of letters, digits, - and _ separated by dots", c.Subject, ErrBadName)
		}
	}
	if c.Consume && !token(c.Consumer, false) {
		return fmt.Errorf("bus.consumer %q: %w: letters, digits, - and _ only", c.Consumer, ErrBadName)
	}
	if c.AlertMaxAge > MaxAlertAge {
		return fmt.Errorf("bus.alert_max_age %v: at most %v", c.AlertMaxAge, MaxAlertAge)
	}
	return nil
}

// MaxBoxName is the longest box name.
const MaxBoxName = 64

// CheckBoxName accepts 1 to 64 letters, digits, '.', '-' and '_' (a host
// name fits): the name goes into message ids, metric labels and the gap
// ledger as it is.
func CheckBoxName(s string) error {
	if len(s) == 0 || len(s) > MaxBoxName || !token(s, true) {
		return fmt.Errorf("%q: %w: 1 to %d letters, digits, '.', '-' and '_'", s, ErrBadName, MaxBoxName)
	}
	return nil
}

// DefaultConsumer is the durable consumer's name for a box: durable names
// may not hold a dot, which host names do.
func DefaultConsumer(box string) string {
	return "liqbox-" + strings.ReplaceAll(box, ".", "_")
}

func token(s string, dots bool) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || dots && c == '.') {
			return false
		}
	}
	return true
}

// EventsSubject is the subject of a venue's events.
func (c *Config) EventsSubject(venue string) string { return c.Subject + ".events." + venue }

// GapsSubject is the subject of a venue's gaps.
func (c *Config) GapsSubject(venue string) string { return c.Subject + ".gaps." + venue }

func (c *Config) subjects() []string {
	return []string{c.Subject + ".events.>", c.Subject + ".gaps.>"}
}

// Sink is the publisher's checkpoint in the log.
func (c *Config) Sink() string { return "bus:" + c.Stream }

// gapSink is the publisher's gap checkpoint: a time (Unix ns), every
// closed gap that ended before it has been published.
func (c *Config) gapSink() string { return "bus:" + c.Stream + ":gaps" }

// RemoteStream names a remote stream in this box's gap ledger: the edge
// box, a slash, and the edge box's own stream name. Local stream names
// never hold a slash, so the publisher of a box that also consumes never
// sends a remote gap back.
func RemoteStream(box, stream string) string { return box + "/" + stream }

// BusStream is the stream, in the ledger of a consuming box, of the gap
// it records for each remote box and venue while it has lost the bus.
func BusStream(box string) string { return RemoteStream(box, "bus") }

// IsRemoteStream reports whether a ledger stream name is a remote one.
func IsRemoteStream(stream string) bool { return strings.Contains(stream, "/") }
