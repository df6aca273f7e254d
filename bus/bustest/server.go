// Package bustest runs a real nats-server with JetStream in the test's
// process, on 127.0.0.1, for the bus's tests and benchmarks. It links the
// whole server: import it from _test.go files only (the liqbox binary
// must not carry it; TestBinaryLinksNoServer checks).
//
// Ownership: Start starts a server on a free port with its JetStream store
// in a directory the caller owns; Stop shuts it down and waits; Restart
// starts it again on the same port over the same store, as an operator's
// restart would.
package bustest

import (
	"crypto/tls"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Options configure a Server. The zero value is usable but for Dir.
type Options struct {
	Dir string // the JetStream store directory (required)
	// Port, when set, is the port to listen on; else a free one.
	Port int
	// User and Password, when set, are required of every client.
	User, Password string
	// TLS, when set, makes the server speak TLS only.
	TLS *tls.Config
	// SyncAlways makes JetStream fsync every message (its default syncs
	// every two minutes).
	SyncAlways bool
	// Configure, when set, adjusts the server's options last (operator
	// mode, accounts).
	Configure func(*server.Options)
}

// Server is one nats-server.
type Server struct {
	o    Options
	port int

	mu  sync.Mutex // guards srv
	srv *server.Server
}

// Start starts a server and waits until it accepts connections.
func Start(o Options) (*Server, error) {
	if o.Dir == "" {
		return nil, fmt.Errorf("bustest: no store directory")
	}
	s := &Server{o: o, port: o.Port}
	if s.port == 0 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		s.port = ln.Addr().(*net.TCPAddr).Port
		ln.Close()
	}
	if err := s.start(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Server) start() error {
	opts := &server.Options{
		Host:       "127.0.0.1",
		Port:       s.port,
		JetStream:  true,
		StoreDir:   s.o.Dir,
		NoLog:      true,
		NoSigs:     true,
		Username:   s.o.User,
		Password:   s.o.Password,
		SyncAlways: s.o.SyncAlways,
		MaxPayload: 1 << 20,
	}
	if s.o.TLS != nil {
		opts.TLSConfig = s.o.TLS
		opts.TLS = true
		opts.TLSVerify = false
		opts.TLSTimeout = 2
	}
	if s.o.Configure != nil {
		s.o.Configure(opts)
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return fmt.Errorf("bustest: cannot build nats-server: %w", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		return fmt.Errorf("bustest: nats-server not ready on port %d", s.port)
	}
	s.mu.Lock()
	s.srv = srv
	s.mu.Unlock()
	return nil
}

// URL is the server's client URL (nats://127.0.0.1:PORT, tls:// with TLS).
func (s *Server) URL() string {
	scheme := "nats"
	if s.o.TLS != nil {
		scheme = "tls"
	}
	return scheme + "://127.0.0.1:" + strconv.Itoa(s.port)
}

// Port is the server's port.
func (s *Server) Port() int { return s.port }

// Stop shuts the server down and waits until it has.
func (s *Server) Stop() {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	s.mu.Unlock()
	if srv != nil {
		srv.Shutdown()
		srv.WaitForShutdown()
	}
}

// Restart starts a stopped server again, same port, same store.
func (s *Server) Restart() error {
	s.Stop()
	return s.start()
}

// NATS is the running server, nil while stopped.
func (s *Server) NATS() *server.Server {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.srv
}
