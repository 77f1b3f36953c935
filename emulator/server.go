package emulator

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// Server is an Emulator listening on a loopback port. Its Emulator's methods
// drive it from Go without HTTP.
type Server struct {
	*Emulator
	ln   net.Listener
	srv  *http.Server
	done chan struct{}
}

// Start builds an Emulator and serves it on cfg.Addr, or on a free loopback
// port when cfg.Addr is empty.
func Start(cfg Config) (*Server, error) {
	e, err := New(cfg)
	if err != nil {
		return nil, err
	}
	addr := cfg.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		e.Close()
		return nil, fmt.Errorf("start emulator on %s: %w", addr, err)
	}
	s := &Server{Emulator: e, ln: ln, done: make(chan struct{}),
		srv: &http.Server{Handler: e.Handler(), ReadHeaderTimeout: 10 * time.Second}}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			e.log.Error("emulator server stopped", "err", err)
		}
	}()
	return s, nil
}

// Addr returns the host:port the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// URL returns the server's root URL, http://127.0.0.1:PORT.
func (s *Server) URL() string { return "http://" + s.Addr() }

// BaseURL returns the API base URL, http://127.0.0.1:PORT/api/1.0.
func (s *Server) BaseURL() string { return s.URL() + apiPrefix }

// AdminURL returns the admin API's URL, http://127.0.0.1:PORT/_emulator.
func (s *Server) AdminURL() string { return s.URL() + "/_emulator" }

// Token returns the first accepted token.
func (s *Server) Token() string { return s.cfg.Tokens[0] }

// Close stops serving, then stops the delivery engine.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if err != nil {
		_ = s.srv.Close()
	}
	<-s.done
	s.Emulator.Close()
	if err != nil {
		return fmt.Errorf("close emulator: %w", err)
	}
	return nil
}

// Shutdown stops serving gracefully within ctx, then stops the engine.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if err != nil {
		_ = s.srv.Close()
	}
	<-s.done
	s.Emulator.Close()
	if err != nil {
		return fmt.Errorf("shut down emulator: %w", err)
	}
	return nil
}
