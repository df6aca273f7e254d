package bus

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
	bolt "go.etcd.io/bbolt"

	"github.com/liqbox/liqbox/bus/bustest"
	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/store"
)

// feed appends a liquidation to the box's log every period until stopped,
// and returns how many it appended.
func (b *box) feed(period time.Duration) (stop func() int) {
	var n atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(period)
		defer t.Stop()
		for i := 1; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			b.appendN(i, 1, func(int) time.Time { return time.Now() })
			n.Store(int64(i))
		}
	}()
	return func() int { cancel(); <-done; return int(n.Load()) }
}

// checkSameLogs fails unless the central box's log holds each event of the
// edge box's log exactly once, in order, and nothing else.
func checkSameLogs(t *testing.T, edge, central *store.Store) {
	t.Helper()
	sent, got := logEvents(t, edge), logEvents(t, central)
	seen := map[uint64]int{}
	for _, ev := range got {
		seen[ev.Key()]++
	}
	missing, twice := 0, 0
	for _, ev := range sent {
		switch seen[ev.Key()] {
		case 0:
			missing++
		case 1:
		default:
			twice++
		}
	}
	if missing > 0 || twice > 0 || len(got) != len(sent) {
		t.Fatalf("edge logged %d, central %d: %d missing, %d twice", len(sent), len(got), missing, twice)
	}
	for i := range got {
		if !sameLiquidation(got[i], sent[i]) {
			t.Fatalf("event %d out of order or changed: %+v vs %+v", i, got[i], sent[i])
		}
	}
}

// TestServerRestartLosesNothing: the nats-server stops for several
// seconds while the edge box keeps logging; the edge box keeps every
// event, publishes it from its checkpoint once the server is back, and the
// central box ends with exactly the edge box's log. While the bus was
// gone, the central box's ledger has a gap for the remote stream, labelled
// with the edge box, from the loss to the reconnect.
func TestServerRestartLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("a wall-clock test of about 6 s, the same on every architecture: the full suite runs it")
	}
	srv := natsServer(t)
	edge := startBox(t, boxOpts{name: "edge-1", url: srv.URL(), publish: true})
	central := startBox(t, boxOpts{name: "central", url: srv.URL(), consume: true})
	stop := edge.feed(2 * time.Millisecond)
	waitFor(t, 10*time.Second, "events flowing", func() bool { return central.st.Durable() > 50 })

	downAt := time.Now()
	srv.Stop()
	waitFor(t, 10*time.Second, "the central box sees the bus gone", func() bool {
		return !central.cons.Status(time.Now()).Up
	})
	time.Sleep(3 * time.Second)
	during := edge.st.Durable()
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	upAt := time.Now()
	time.Sleep(time.Second)
	n := stop()
	waitFor(t, 30*time.Second, "central caught up", func() bool {
		if central.st.Durable() >= uint64(n) {
			return true
		}
		t.Logf("edge durable %d, %+v; central durable %d, %+v", edge.st.Durable(), edge.pub.Status(time.Now()), central.st.Durable(), central.cons.Status(time.Now()))
		time.Sleep(time.Second)
		return false
	})
	waitFor(t, 10*time.Second, "central acknowledged", func() bool {
		k := central.cons.Status(time.Now())
		return k.Up && k.AckPending == 0 && k.Pending == 0
	})
	checkSameLogs(t, edge.st, central.st)
	if during < 50+uint64(time.Second/(2*time.Millisecond)) {
		t.Errorf("the edge box logged only up to %d while the bus was down", during)
	}
	if edge.pub.Status(time.Now()).Errors == 0 {
		t.Error("no publish error counted while the server was down")
	}
	gaps, err := central.st.Gaps(downAt.Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	var bus []store.Gap
	for _, g := range gaps {
		if g.Stream == BusStream("edge-1") {
			bus = append(bus, g)
		}
	}
	if len(bus) != 1 || bus[0].Venue != "binance-usdm" || bus[0].IsOpen() || bus[0].Cause != causeBus {
		t.Fatalf("bus gaps at the central box: %+v", gaps)
	}
	g := bus[0]
	if g.Start.Before(downAt.Add(-7*time.Second)) || g.Start.After(downAt.Add(7*time.Second)) ||
		g.End.Before(upAt) || g.End.After(upAt.Add(15*time.Second)) {
		t.Errorf("bus gap %v–%v, server down %v–%v", g.Start, g.End, downAt, upAt)
	}
}

// TestPublisherResumesFromCheckpoint: a publisher stopped and started
// again publishes what was committed meanwhile and nothing twice; one
// whose log was never acknowledged past some events publishes them again
// and JetStream stores them once (the duplicate window).
func TestPublisherResumesFromCheckpoint(t *testing.T) {
	srv := natsServer(t)
	path := filepath.Join(t.TempDir(), "edge.db")
	central := startBox(t, boxOpts{name: "central", url: srv.URL(), consume: true})
	edge := startBox(t, boxOpts{name: "edge-1", url: srv.URL(), publish: true, path: path})
	now := time.Now()
	edge.appendN(1, 500, func(i int) time.Time { return now.Add(time.Duration(i) * time.Microsecond) })
	waitFor(t, 10*time.Second, "published", func() bool { return edge.pub.Status(time.Now()).Checkpoint == 500 })
	edge.stop()

	// Offline: the box logs on; then its checkpoint is wound back, as a
	// crash between JetStream's acknowledgement and the checkpoint's commit
	// leaves it.
	st, err := store.Open(path, store.Options{Metrics: metrics.NewSet()})
	if err != nil {
		t.Fatal(err)
	}
	for i := 501; i <= 800; i++ {
		ev := liq(i, now.Add(time.Duration(i)*time.Microsecond))
		ev.Seq = uint64(i)
		st.Append(&ev)
	}
	st.Ack("bus:LIQBOX", 400) // only moves forward: 500 stays
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	rewindCheckpoint(t, path, "bus:LIQBOX", 400)

	edge = startBox(t, boxOpts{name: "edge-1", url: srv.URL(), publish: true, path: path})
	waitFor(t, 10*time.Second, "published again", func() bool { return edge.pub.Status(time.Now()).Checkpoint == 800 })
	waitFor(t, 10*time.Second, "central has it all", func() bool { return central.st.Durable() >= 800 })
	time.Sleep(200 * time.Millisecond)
	checkSameLogs(t, edge.st, central.st)
	if d := edge.pub.m.dups.Get(); d != 100 {
		t.Errorf("JetStream reported %d duplicates, want the 100 published again", d)
	}
}

// rewindCheckpoint sets a sink's checkpoint in a closed log (the store only
// moves checkpoints forward).
func rewindCheckpoint(t *testing.T, path, sink string, seq uint64) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(tx *bolt.Tx) error {
		var v [8]byte
		binary.BigEndian.PutUint64(v[:], seq)
		return tx.Bucket([]byte("checkpoints")).Put([]byte(sink), v[:])
	}); err != nil {
		t.Fatal(err)
	}
}

// TestRemoteGapsReachTheLedger: a gap the edge box records, open then
// closed, is in the central box's ledger with the edge box's name on its
// stream.
func TestRemoteGapsReachTheLedger(t *testing.T) {
	srv := natsServer(t)
	edge := startBox(t, boxOpts{name: "edge-1", url: srv.URL(), publish: true})
	central := startBox(t, boxOpts{name: "central", url: srv.URL(), consume: true})
	start := time.Now().Add(-3 * time.Second)
	if err := edge.st.AddGap(store.Gap{Venue: "bybit", Stream: "linear", Start: start, Cause: "read_error"}); err != nil {
		t.Fatal(err)
	}
	remote := RemoteStream("edge-1", "linear")
	find := func() (store.Gap, bool) {
		gaps, _ := central.st.Gaps(start.Add(-time.Hour))
		for _, g := range gaps {
			if g.Stream == remote {
				return g, true
			}
		}
		return store.Gap{}, false
	}
	waitFor(t, 10*time.Second, "open remote gap", func() bool { g, ok := find(); return ok && g.IsOpen() })
	end := time.Now()
	if err := edge.st.AddGap(store.Gap{Venue: "bybit", Stream: "linear", Start: start, End: end, Cause: "read_error"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "closed remote gap", func() bool { g, ok := find(); return ok && !g.IsOpen() })
	g, _ := find()
	if g.Venue != "bybit" || !g.Start.Equal(start) || !g.End.Equal(end) || g.Cause != "read_error" {
		t.Errorf("remote gap %+v", g)
	}
	// The central box publishes nothing, the edge box consumes nothing: its
	// own gap is not sent back to it.
	if n := central.cons.m.gaps.Get(); n != 2 {
		t.Errorf("central took %d gap messages, want 2 (open, closed)", n)
	}
}

// TestSlowConsumerCatchesUpWithoutAlerting: a central box that was away
// while the edge box published catches up with every event, logged, and
// alerts only those younger than alert_max_age when they arrive.
func TestSlowConsumerCatchesUpWithoutAlerting(t *testing.T) {
	srv := natsServer(t)
	path := filepath.Join(t.TempDir(), "central.db")
	var mu sync.Mutex
	alerted := map[float64]bool{}
	alerts := func(ev *event.Event) {
		if ev.Flags&event.FlagBacklog == 0 {
			mu.Lock()
			alerted[ev.Qty] = true
			mu.Unlock()
		}
	}
	edit := func(c *Config) { c.AlertMaxAge = 500 * time.Millisecond }
	central := startBox(t, boxOpts{name: "central", url: srv.URL(), consume: true, path: path, alerts: alerts, edit: edit})
	edge := startBox(t, boxOpts{name: "edge-1", url: srv.URL(), publish: true})
	edge.appendN(1, 10, func(int) time.Time { return time.Now() })
	waitFor(t, 10*time.Second, "first events", func() bool { return central.st.Durable() >= 10 })
	central.stop()

	// 2,000 events while the central box is away, stamped over the last
	// two seconds: all older than alert_max_age once it is back.
	base := time.Now().Add(-2 * time.Second)
	edge.appendN(11, 2000, func(i int) time.Time { return base.Add(time.Duration(i) * time.Millisecond) })
	waitFor(t, 10*time.Second, "published", func() bool { return edge.pub.Status(time.Now()).Checkpoint == 2010 })
	time.Sleep(600 * time.Millisecond)

	central = startBox(t, boxOpts{name: "central", url: srv.URL(), consume: true, path: path, alerts: alerts, edit: edit})
	waitFor(t, 20*time.Second, "caught up", func() bool { return central.st.Durable() >= 2010 })
	fresh := edge.appendN(2011, 5, func(int) time.Time { return time.Now() })
	waitFor(t, 10*time.Second, "fresh ones", func() bool { return central.st.Durable() >= 2015 })
	checkSameLogs(t, edge.st, central.st)
	mu.Lock()
	defer mu.Unlock()
	for i := 11; i <= 2010; i++ {
		if alerted[float64(i)] {
			t.Fatalf("event %d, caught up late, was alerted as new", i)
		}
	}
	for _, ev := range fresh {
		if !alerted[ev.Qty] {
			t.Errorf("fresh event %v after the catch-up was not alerted", ev.Qty)
		}
	}
	if n := central.cons.m.backlog.Get(); n != 2000 {
		t.Errorf("backlog by age counted %d, want 2000", n)
	}
	evs := logEvents(t, central.st)
	for _, ev := range evs[10:2010] {
		if ev.Flags&event.FlagBacklog == 0 {
			t.Fatalf("caught-up event %v logged without the backlog flag", ev.Qty)
		}
	}
}

// TestCredentialsAndSecrets: a credentials file others may read is
// refused; a password in the URL never appears in a log line, an error or
// the status, however the connection fails.
func TestCredentialsAndSecrets(t *testing.T) {
	creds := filepath.Join(t.TempDir(), "box.creds")
	os.WriteFile(creds, []byte("-----BEGIN NATS USER JWT-----\n"), 0o644)
	_, err := Dial(Config{URL: "nats://127.0.0.1:1", BoxName: "b", Publish: true, Creds: creds}, Options{})
	if !errors.Is(err, ErrCredsMode) || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("a 0644 creds file: %v", err)
	}

	srv, err := bustest.Start(bustest.Options{Dir: t.TempDir(), User: "alice", Password: "hunter2-secret"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	var logs bytes.Buffer
	var lmu sync.Mutex
	lg := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		lmu.Lock()
		defer lmu.Unlock()
		return logs.Write(p)
	}), &slog.HandlerOptions{Level: slog.LevelDebug}))
	wrong := strings.Replace(srv.URL(), "nats://", "nats://alice:wrong-hunter2-secret@", 1)
	c, err := Dial(Config{URL: wrong, BoxName: "b", Publish: true, CreateStream: true}, Options{Logger: lg})
	if err != nil {
		t.Fatal(err)
	}
	g := newGroup(t)
	stop := g.run("conn", c.Run)
	time.Sleep(1500 * time.Millisecond) // several refused attempts
	st := StatusOf(c, nil, nil, time.Now())
	stop()
	if st.Connected {
		t.Fatal("connected with a wrong password")
	}
	right := strings.Replace(srv.URL(), "nats://", "nats://alice:hunter2-secret@", 1)
	c2, err := Dial(Config{URL: right, BoxName: "b", Publish: true, CreateStream: true}, Options{Logger: lg})
	if err != nil {
		t.Fatal(err)
	}
	stop = g.run("conn", c2.Run)
	waitFor(t, 10*time.Second, "connected with the password", c2.Connected)
	st2 := StatusOf(c2, nil, nil, time.Now())
	stop()
	lmu.Lock()
	text := logs.String() + st.URL + st.LastError + st2.URL
	lmu.Unlock()
	if strings.Contains(text, "hunter2") {
		t.Fatalf("the password leaked:\n%s", text)
	}
	if !strings.Contains(text, "alice:REDACTED@") {
		t.Errorf("the redacted URL is not shown:\n%s", text)
	}
	if st.LastError == "" {
		t.Error("the refused connection left no error in the status")
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// TestTLSVerifiesTheServer: with tls_ca the box connects to a TLS server
// whose certificate that CA signed; without it the certificate is refused
// (no connection, ever, to an unverified server).
func TestTLSVerifiesTheServer(t *testing.T) {
	dir := t.TempDir()
	caFile, serverTLS := testCA(t, dir)
	srv, err := bustest.Start(bustest.Options{Dir: t.TempDir(), TLS: serverTLS})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	g := newGroup(t)

	bad, err := Dial(Config{URL: srv.URL(), BoxName: "b", Publish: true}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	stop := g.run("unverified", bad.Run)
	time.Sleep(1500 * time.Millisecond)
	if bad.Connected() || !strings.Contains(bad.LastError(), "certificate") {
		t.Errorf("connected to a server it cannot verify (connected %v, error %q)", bad.Connected(), bad.LastError())
	}
	stop()

	good, err := Dial(Config{URL: strings.Replace(srv.URL(), "tls://", "nats://", 1), BoxName: "b", Publish: true, TLSCA: caFile}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	stop = g.run("verified", good.Run)
	waitFor(t, 10*time.Second, "connected over TLS", good.Connected)
	stop()
}

// testCA writes a CA certificate to dir and returns its file and a server
// TLS config with a certificate it signed for 127.0.0.1.
func testCA(t *testing.T, dir string) (string, *tls.Config) {
	t.Helper()
	caKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "liqbox test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "ca.pem")
	os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600)
	return caFile, &tls.Config{MinVersion: tls.VersionTLS12,
		Certificates: []tls.Certificate{{Certificate: [][]byte{leafDER}, PrivateKey: key}}}
}

// TestRefusedPublishIsNotCheckpointed: events JetStream refuses (here a
// stream full of messages that discards new ones) stay behind the
// checkpoint, retried, and are stored once the stream takes them again,
// also across a restart of the publisher.
func TestRefusedPublishIsNotCheckpointed(t *testing.T) {
	srv := natsServer(t)
	ctx := context.Background()
	cfg := jetstream.StreamConfig{Name: "LIQBOX", Subjects: []string{"liqbox.events.>", "liqbox.gaps.>"},
		MaxMsgs: 10, Discard: jetstream.DiscardNew, Duplicates: 2 * time.Minute}
	js, stream := createStream(t, srv.URL(), cfg)
	path := filepath.Join(t.TempDir(), "edge.db")
	edge := startBox(t, boxOpts{name: "edge-1", url: srv.URL(), publish: true, path: path})
	now := time.Now()
	edge.appendN(1, 20, func(i int) time.Time { return now.Add(time.Duration(i) * time.Microsecond) })
	waitFor(t, 10*time.Second, "refusals", func() bool { return edge.pub.Status(time.Now()).Errors >= 2 })
	if cp := edge.pub.Status(time.Now()).Checkpoint; cp != 10 {
		t.Fatalf("checkpoint %d with 10 events stored", cp)
	}
	edge.stop()
	if cp, _ := edgeCheckpoint(t, path); cp != 10 {
		t.Fatalf("checkpoint in the log %d with 10 events stored", cp)
	}
	cfg.MaxMsgs = -1
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	edge = startBox(t, boxOpts{name: "edge-1", url: srv.URL(), publish: true, path: path})
	waitFor(t, 10*time.Second, "all stored", func() bool { return edge.pub.Status(time.Now()).Checkpoint == 20 })
	in, err := stream.Info(ctx)
	if err != nil || in.State.Msgs != 20 {
		t.Fatalf("the stream holds %v messages (%v), want 20", in.State.Msgs, err)
	}
}

func edgeCheckpoint(t *testing.T, path string) (uint64, bool) {
	st, err := store.Open(path, store.Options{Metrics: metrics.NewSet()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	return st.LookupCheckpoint("bus:LIQBOX")
}

// TestStreamLimitsLoseOldestCounted: a stream that keeps only its newest
// messages drops what a central box away too long had not read; the box
// counts and logs the loss when it is back (the edge box's log keeps the
// events).
func TestStreamLimitsLoseOldestCounted(t *testing.T) {
	srv := natsServer(t)
	createStream(t, srv.URL(), jetstream.StreamConfig{Name: "LIQBOX",
		Subjects: []string{"liqbox.events.>", "liqbox.gaps.>"}, MaxMsgs: 10, Discard: jetstream.DiscardOld})
	path := filepath.Join(t.TempDir(), "central.db")
	central := startBox(t, boxOpts{name: "central", url: srv.URL(), consume: true, path: path})
	edge := startBox(t, boxOpts{name: "edge-1", url: srv.URL(), publish: true})
	edge.appendN(1, 5, func(int) time.Time { return time.Now() })
	waitFor(t, 10*time.Second, "first events", func() bool { return central.st.Durable() >= 5 })
	waitFor(t, 10*time.Second, "acknowledged", func() bool { return central.cons.Status(time.Now()).AckPending == 0 })
	central.stop()
	edge.appendN(6, 50, func(int) time.Time { return time.Now() })
	waitFor(t, 10*time.Second, "published", func() bool { return edge.pub.Status(time.Now()).Checkpoint == 55 })
	central = startBox(t, boxOpts{name: "central", url: srv.URL(), consume: true, path: path})
	waitFor(t, 10*time.Second, "the stream's 10", func() bool { return central.st.Durable() >= 15 })
	if n := central.cons.Status(time.Now()).Lost; n != 40 {
		t.Errorf("lost counted %d, want the 40 the stream dropped", n)
	}
}

// TestCredsFileAuthenticates: against a server in operator mode (JWT
// accounts, as `nsc` sets up), the box connects and publishes with a 0600
// creds file, and is refused without one.
func TestCredsFileAuthenticates(t *testing.T) {
	opKP, _ := nkeys.CreateOperator()
	opPub, _ := opKP.PublicKey()
	sysKP, _ := nkeys.CreateAccount()
	sysPub, _ := sysKP.PublicKey()
	sysJWT, err := jwt.NewAccountClaims(sysPub).Encode(opKP)
	if err != nil {
		t.Fatal(err)
	}
	opClaims := jwt.NewOperatorClaims(opPub)
	opClaims.SystemAccount = sysPub
	opJWT, err := opClaims.Encode(opKP)
	if err != nil {
		t.Fatal(err)
	}
	opClaims, _ = jwt.DecodeOperatorClaims(opJWT)
	accKP, _ := nkeys.CreateAccount()
	accPub, _ := accKP.PublicKey()
	acc := jwt.NewAccountClaims(accPub)
	acc.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: -1, DiskStorage: -1, Streams: -1, Consumer: -1}
	accJWT, err := acc.Encode(opKP)
	if err != nil {
		t.Fatal(err)
	}
	userKP, _ := nkeys.CreateUser()
	userPub, _ := userKP.PublicKey()
	userSeed, _ := userKP.Seed()
	userJWT, err := jwt.NewUserClaims(userPub).Encode(accKP)
	if err != nil {
		t.Fatal(err)
	}
	creds, _ := jwt.FormatUserConfig(userJWT, userSeed)
	credsFile := filepath.Join(t.TempDir(), "edge.creds")
	if err := os.WriteFile(credsFile, creds, 0o600); err != nil {
		t.Fatal(err)
	}
	resolver := &server.MemAccResolver{}
	resolver.Store(accPub, accJWT)
	resolver.Store(sysPub, sysJWT)
	srv, err := bustest.Start(bustest.Options{Dir: t.TempDir(), Configure: func(o *server.Options) {
		o.TrustedOperators = []*jwt.OperatorClaims{opClaims}
		o.AccountResolver = resolver
		o.SystemAccount = sysPub
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()

	edge := startBox(t, boxOpts{name: "edge-1", url: srv.URL(), publish: true, edit: func(c *Config) { c.Creds = credsFile }})
	edge.appendN(1, 10, func(int) time.Time { return time.Now() })
	waitFor(t, 10*time.Second, "published with the creds", func() bool { return edge.pub.Status(time.Now()).Checkpoint == 10 })

	anon, err := Dial(Config{URL: srv.URL(), BoxName: "b", Publish: true}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	stop := newGroup(t).run("anonymous", anon.Run)
	time.Sleep(time.Second)
	stop()
	if anon.Connected() || !strings.Contains(strings.ToLower(anon.LastError()), "authorization") {
		t.Errorf("connected without creds (%v), error %q", anon.Connected(), anon.LastError())
	}
}

// createStream makes the stream as an operator would, before any box, over
// a connection of the test's.
func createStream(t *testing.T, url string, cfg jetstream.StreamConfig) (jetstream.JetStream, jetstream.Stream) {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	st, err := js.CreateStream(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return js, st
}
