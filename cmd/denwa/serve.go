package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"denwa/cmd/denwa/internal/config"
	"denwa/enroll"
	"denwa/enroll/httpapi"
	"denwa/sip"
)

func newServeCmd() *cobra.Command {
	var (
		l         config.Loader
		printOnly bool
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "run the enrollment service: HTTP API, verification calls through a PBX or trunk, webhooks",
		Long: `serve runs the enrollment service against a real PBX or SIP trunk: the HTTP API
under /v1/ (systems authenticate with API keys made by 'denwa apikey create'),
/healthz and /readyz, the user's screens under /e/, the verification calls,
and the signed webhooks. /metrics and the operators' console (/console/, signed
in with an admin-scoped API key) are served apart, on the operators' listener
(--ops-http, loopback by default).

Settings come from defaults, a JSON config file (--config or DENWA_CONFIG), the
environment (DENWA_*) and flags, each overriding the one before. Secrets (the
SIP password, the link signing key, the webhook secret) are read only from the
environment (DENWA_SIP_PASSWORD, DENWA_LINK_KEY, DENWA_WEBHOOK_SECRET) or from
files (DENWA_SIP_PASSWORD_FILE, …, or sip.password_file, … in the config file),
never from flags. --print-config prints every setting with its meaning, its
variable, its default and its effective value, secrets redacted; its output is
a valid config file.

SIGINT or SIGTERM shuts down gracefully: the HTTP listener closes, calls in
progress may finish (calls.grace, --shutdown-grace), then webhooks stop, the
SIP listener and the store close.

Exit codes: 0 after a graceful shutdown; 2 for a configuration error; 1 when
the service cannot start (a busy port, an unreadable store) or fails.`,
		Example: `  denwa apikey create crm --store ./denwa.db
  DENWA_SIP_PASSWORD=secret denwa serve --trunk 'sip:pbx.example.com;transport=tcp' \
      --user 1001 --dial-plan '+81>0' --http 127.0.0.1:8080 --store ./denwa.db
  denwa serve --config /etc/denwa/denwa.json --print-config`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			l.Getenv, l.ReadFile = lookupEnv, os.ReadFile
			cfg, src, err := l.Load()
			if err != nil {
				return configError(err)
			}
			p, checkErr := cfg.Check()
			if printOnly {
				if checkErr != nil {
					fmt.Fprintf(cmd.ErrOrStderr(), "denwa: serve: this configuration would not start:\n%v\n", checkErr)
				}
				return config.Print(cmd.OutOrStdout(), cfg, src)
			}
			if checkErr != nil {
				return configError(checkErr)
			}
			ctx, cancel := signalContext(cmd.Context())
			defer cancel()
			return runServe(ctx, p, cmd.ErrOrStderr(), nil)
		},
	}
	l.RegisterFlags(cmd.Flags())
	cmd.Flags().BoolVar(&printOnly, "print-config", false, "print the effective configuration as a commented config file (secrets redacted) and exit")
	return cmd
}

// configError is a configuration the command refuses: exit status 2.
func configError(err error) error {
	return &exitError{code: 2, msg: "serve: " + err.Error()}
}

// newServeLogger logs to w in the configured format and level.
func newServeLogger(w io.Writer, p *config.Params) *slog.Logger {
	opts := &slog.HandlerOptions{Level: p.LogLevel}
	if p.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// runServe starts the service, serves until ctx ends and shuts down
// gracefully. started, if not nil, sees the running server (tests read its
// addresses).
func runServe(ctx context.Context, p *config.Params, stderr io.Writer, started func(*server)) error {
	log := newServeLogger(stderr, p)
	s, err := startServer(ctx, p, log)
	if err != nil {
		var ee *exitError
		if errors.As(err, &ee) {
			return err
		}
		return &exitError{code: 1, msg: "serve: " + err.Error()}
	}
	if started != nil {
		started(s)
	}
	if err := s.run(ctx); err != nil {
		return &exitError{code: 1, msg: "serve: " + err.Error()}
	}
	return nil
}

// server is one running `denwa serve`: it owns every part it opened and
// closes them in the reverse order.
type server struct {
	p   *config.Params
	log *slog.Logger

	ln      net.Listener // the public one: API and screens, capped at http.max_conns
	store   openedStore  // SQLite or PostgreSQL (store.go)
	dialer  *sip.Dialer
	svc     *enroll.Service
	api     apiServer
	http    *http.Server
	webhook webhookRunner // nil: no webhook URL configured
	// hookTransport carries the webhooks; closed after the deliverer stops.
	hookTransport *http.Transport
	baseURL       string
	metrics       *metrics // /metrics; wraps the Service's store and dialer (metrics.go)
	// opsLn and ops serve /metrics to operators, apart from the public
	// listener (nil: http.ops_addr is empty).
	opsLn net.Listener
	ops   *http.Server

	// sipUp is whether the SIP listener is open; draining is set when the
	// shutdown begins. /readyz reports both.
	sipUp, draining atomic.Bool
	// ready holds the other parts /readyz asks, in order (addReady).
	ready []readyCheck
}

// storePingTimeout bounds the store's round trip for /readyz.
const storePingTimeout = 2 * time.Second

// readyCheck is one part of the service /readyz asks: check returns nil
// while the part works, else an error that says what is wrong (its text
// goes to the probe, so it must hold no secret).
type readyCheck struct {
	name  string // "store writes", "trunk"
	check func() error
}

// addReady adds a part to /readyz; call it before the server starts.
func (s *server) addReady(name string, check func() error) {
	s.ready = append(s.ready, readyCheck{name, check})
}

// notReady returns the first part /readyz must report as not ready.
func (s *server) notReady() error {
	for _, c := range s.ready {
		if err := c.check(); err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
	}
	return nil
}

// apiServer is the HTTP API as serve uses it.
type apiServer interface {
	Handler() http.Handler
	// Close ends the event streams, so that Shutdown need not wait for them.
	Close()
}

// webhookRunner delivers the outbox until its context ends.
type webhookRunner interface {
	Run(ctx context.Context) error
}

// startServer opens everything in order (HTTP listener first, so that a
// busy port fails before anything else is touched), and on failure closes
// what it opened.
func startServer(ctx context.Context, p *config.Params, log *slog.Logger) (_ *server, err error) {
	s := &server{p: p, log: log, metrics: newMetrics()}
	var undo []func()
	defer func() {
		if err != nil {
			for i := len(undo) - 1; i >= 0; i-- {
				undo[i]()
			}
		}
	}()

	prompts, err := loadPrompts(p.Config.Prompts, p.Config.PromptLanguage)
	if err != nil {
		return nil, configError(fmt.Errorf("prompts: %w", err))
	}

	ln, err := net.Listen("tcp", p.HTTPAddr)
	if errors.Is(err, syscall.EADDRINUSE) {
		return nil, fmt.Errorf("http.addr %s is already in use (is another denwa serve running?): %w", p.HTTPAddr, err)
	}
	if err != nil {
		return nil, fmt.Errorf("http.addr %s: %w", p.HTTPAddr, err)
	}
	s.ln = newLimitListener(ln, p.Config.HTTP.MaxConns)
	undo = append(undo, func() { s.ln.Close() })
	if addr := p.Config.HTTP.OpsAddr; addr != "" {
		s.opsLn, err = net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("http.ops_addr %s: %w", addr, err)
		}
		undo = append(undo, func() { s.opsLn.Close() })
	}
	s.baseURL = p.BaseURL
	if s.baseURL == "" {
		s.baseURL = "http://" + s.ln.Addr().String()
	}

	s.store, err = openStore(ctx, p.Config.Store.Path, true)
	if err != nil {
		return nil, fmt.Errorf("store.path %s: %w", config.RedactStore(p.Config.Store.Path), err)
	}
	undo = append(undo, func() { s.store.Close() })
	s.metrics.outbox(s.store)
	// The database answers (a round trip, bounded): while it does not,
	// this node is not ready; it is again by itself once it does.
	s.addReady("store", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), storePingTimeout)
		defer cancel()
		return s.store.Ping(ctx)
	})

	sc := p.SIP
	sc.Logger = log.With("component", "sip")
	s.dialer, err = sip.NewDialer(sc)
	if err != nil {
		return nil, fmt.Errorf("sip: %w", err)
	}
	s.sipUp.Store(true)
	undo = append(undo, func() { s.sipUp.Store(false); s.dialer.Close() })
	s.metrics.rtp(s.dialer)
	// The trunk: resolved (calls fail fast while it is not) and, with
	// --trunk-ping, answering OPTIONS. serve starts either way.
	s.addReady("trunk", func() error { return s.dialer.TrunkHealth().Err() })
	s.metrics.trunk(s.dialer)
	s.metrics.sip(s.dialer)
	if reg := s.dialer.Registration(); reg != nil {
		s.addReady("registration", reg.Ready)
		s.metrics.registration(reg)
	}

	cfg := p.Config
	s.svc, err = enroll.NewService(enroll.ServiceConfig{
		Store:  s.metrics.store(s.store),
		Dialer: s.metrics.dialer(enrollDialer(s.dialer, prompts)),
		Dialogue: enroll.DialogueConfig{
			ChallengeDigits: cfg.ChallengeDigits,
			Logger:          log.With("component", "dialogue"),
		},
		Limits:         p.Limits,
		PhonePolicy:    p.Policy,
		DefaultCountry: cfg.Phone.DefaultCountry,
		Logger:         log.With("component", "enroll"),
		Node:           cfg.Calls.Node,
		NodeLease:      time.Duration(cfg.Calls.NodeLease),
		TTL:            time.Duration(cfg.Phone.EnrollmentTTL),
		MaxAttempts:    cfg.Calls.MaxAttempts,
		CallTimeout:    time.Duration(cfg.Calls.Timeout),
		Secrets:        p.Secrets,
	})
	if err != nil {
		return nil, fmt.Errorf("enrollment service: %w", err)
	}
	undo = append(undo, func() { s.svc.Close(context.Background()) })
	// Call results the store refuses wait in the Service, which writes
	// them again and sweeps lost calls by itself; until it has written
	// them, this node is not ready.
	s.addReady("store writes", s.svc.WriteHealth)
	s.metrics.results(s.svc)
	if cfg.Calls.Node != "" {
		// A node places calls only while it holds its lease in the store.
		s.addReady("node lease", s.svc.LeaseHealth)
	}
	s.metrics.node(s.svc)

	recovered, err := s.svc.Recover(ctx)
	if err != nil {
		return nil, fmt.Errorf("recovering calls left by the last run: %w", err)
	}
	if len(recovered) > 0 {
		ids := make([]string, len(recovered))
		for i, e := range recovered {
			ids[i] = e.ID
		}
		log.Warn("serve: calls interrupted by the last run recorded as failed", "count", len(recovered), "enrollments", ids)
	}

	key := p.LinkKey
	if key == nil {
		key = make([]byte, 32)
		rand.Read(key)
		log.Warn("serve: NO LINK KEY CONFIGURED: enrollment links are signed with a random key made for this run and STOP WORKING WHEN DENWA RESTARTS; set DENWA_LINK_KEY or DENWA_LINK_KEY_FILE (at least 32 bytes) to keep them")
	}
	links, err := enroll.NewLinkSigner(key)
	if err != nil {
		return nil, fmt.Errorf("link.key: %w", err)
	}

	s.api, err = httpapi.New(httpapi.Config{
		Service: s.svc, Links: links,
		LinkTTL: time.Duration(cfg.Link.TTL), BaseURL: s.baseURL,
		MaxBodyBytes: cfg.HTTP.MaxBodyBytes, Logger: log.With("component", "http"),
	})
	if err != nil {
		return nil, fmt.Errorf("http api: %w", err)
	}

	if p.HookURL != "" {
		// A transport of our own, so that its idle connections (and their
		// goroutines) end with the service rather than outlive it.
		s.hookTransport = http.DefaultTransport.(*http.Transport).Clone()
		s.webhook = enroll.NewWebhookDeliverer(enroll.WebhookConfig{
			Store: s.store, URL: p.HookURL, Secret: p.HookKey,
			Client: &http.Client{
				Transport:     s.hookTransport,
				CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			},
			Logger: log.With("component", "webhook"),
		})
	}

	readTimeout := time.Duration(cfg.HTTP.ReadTimeout)
	httpLog := slog.NewLogLogger(log.With("component", "http").Handler(), slog.LevelWarn)
	s.http = &http.Server{
		Handler:           s.routes(),
		ReadHeaderTimeout: readTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          httpLog,
	}
	s.http.RegisterOnShutdown(s.api.Close)
	if _, err := attachWebUI(s, links, p.LinkKey, s.metrics); err != nil { // the screens (webui_wiring.go)
		return nil, err
	}
	// Outermost: bodies read within read_timeout and max_body_bytes
	// (httpguard.go); the event streams have none, so no deadline.
	s.http.Handler = guard{
		hsts: strings.HasPrefix(s.baseURL, "https://"), trusted: p.TrustedProxies,
		readTimeout: readTimeout, maxBody: cfg.HTTP.MaxBodyBytes,
	}.wrap(s.http.Handler)
	if s.opsLn != nil {
		ops, err := withConsole(s, opsHandler(s.metrics, p.OpsToken)) // /console/ (console_wiring.go)
		if err != nil {
			return nil, err
		}
		s.ops = &http.Server{
			Handler:     ops,
			ReadTimeout: readTimeout, WriteTimeout: time.Minute, IdleTimeout: 2 * time.Minute,
			MaxHeaderBytes: maxHeaderBytes, ErrorLog: httpLog,
		}
	}
	return s, nil
}

// routes is the HTTP API with a /readyz that also reports what the API
// cannot see: the SIP listener, and a shutdown in progress.
func (s *server) routes() http.Handler {
	api := s.api.Handler()
	mux := http.NewServeMux()
	mux.Handle("/", api)
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		switch {
		case s.draining.Load():
			apiErrorJSON(w, http.StatusServiceUnavailable, httpapi.CodeUnavailable, "シャットダウン中です。", "shutting down")
		case !s.sipUp.Load():
			apiErrorJSON(w, http.StatusServiceUnavailable, httpapi.CodeUnavailable, "SIP の待ち受けが止まっています。", "the SIP listener is down")
		default:
			if err := s.notReady(); err != nil {
				apiErrorJSON(w, http.StatusServiceUnavailable, httpapi.CodeUnavailable, "準備ができていません: "+err.Error(), err.Error())
				return
			}
			api.ServeHTTP(w, r) // the store
		}
	})
	return mux
}

// HTTPAddr is the address the HTTP API listens on.
func (s *server) HTTPAddr() string { return s.ln.Addr().String() }

// OpsAddr is the address of the operators' listener (/metrics), "" when
// there is none.
func (s *server) OpsAddr() string {
	if s.opsLn == nil {
		return ""
	}
	return s.opsLn.Addr().String()
}

// SIPAddr is the address the SIP listener is bound to.
func (s *server) SIPAddr() string { return s.dialer.Addr().String() }

// run serves until ctx ends or the HTTP server fails, then shuts down.
func (s *server) run(ctx context.Context) error {
	var wg sync.WaitGroup
	serveErr := make(chan error, 1)
	wg.Go(func() {
		if err := s.http.Serve(s.ln); !errors.Is(err, http.ErrServerClosed) {
			serveErr <- err
		}
	})
	if s.ops != nil {
		wg.Go(func() {
			if err := s.ops.Serve(s.opsLn); !errors.Is(err, http.ErrServerClosed) {
				s.log.Error("serve: the ops listener failed; /metrics is down", "err", err)
			}
		})
	}
	hookCtx, stopHooks := context.WithCancel(context.WithoutCancel(ctx))
	defer stopHooks()
	hookDone := make(chan struct{})
	if s.webhook != nil {
		wg.Go(func() {
			defer close(hookDone)
			if err := s.webhook.Run(hookCtx); err != nil && !errors.Is(err, context.Canceled) {
				s.log.Error("serve: webhook delivery stopped", "err", err)
			}
		})
	} else {
		close(hookDone)
	}
	s.log.Info("serve: ready", "http", s.HTTPAddr(), "base_url", s.baseURL, "ops", s.OpsAddr(), "sip", s.SIPAddr(),
		"trunk", s.p.Config.SIP.Trunk, "store", config.RedactStore(s.p.Config.Store.Path), "node", s.p.Config.Calls.Node, "webhook", s.p.HookURL != "")

	var failed error
	select {
	case <-ctx.Done():
		s.log.Info("serve: shutting down", "cause", context.Cause(ctx))
	case failed = <-serveErr:
		s.log.Error("serve: HTTP server failed; shutting down", "err", failed)
	}
	err := s.shutdown(stopHooks, hookDone)
	wg.Wait()
	return errors.Join(failed, err)
}

// shutdown stops taking requests, lets calls in progress finish within the
// grace period, and closes everything, logging each step.
func (s *server) shutdown(stopHooks func(), hookDone <-chan struct{}) error {
	cfg := s.p.Config
	s.draining.Store(true)
	var errs []error

	// 1. No new connections; requests in flight get http.shutdown_timeout.
	s.log.Info("serve: closing the HTTP listener", "timeout", time.Duration(cfg.HTTP.ShutdownTimeout))
	httpDone := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(cfg.HTTP.ShutdownTimeout))
		defer cancel()
		err := s.http.Shutdown(ctx)
		if err != nil {
			s.http.Close() // cut what is left
		}
		httpDone <- err
	}()

	// 2. Calls in progress finish, within the grace period.
	grace := time.Duration(cfg.Calls.Grace)
	s.log.Info("serve: waiting for calls in progress", "grace", grace)
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	err := s.svc.Close(ctx)
	cancel()
	if err != nil {
		s.log.Warn("serve: calls still in progress after the grace period were cut and recorded as failed", "err", err)
	} else {
		s.log.Info("serve: no call in progress")
	}

	if err := <-httpDone; err != nil {
		s.log.Warn("serve: HTTP requests still in flight were cut", "err", err)
	} else {
		s.log.Info("serve: HTTP server stopped")
	}

	// 3. Webhooks: what is not delivered stays in the outbox for the next run.
	stopHooks()
	<-hookDone
	if s.webhook != nil {
		s.hookTransport.CloseIdleConnections()
		s.log.Info("serve: webhook delivery stopped")
	}

	// 4. The operators' listener (/metrics stays up while calls drain),
	// the SIP listener, then the store.
	if s.ops != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(cfg.HTTP.ShutdownTimeout))
		if err := s.ops.Shutdown(ctx); err != nil {
			s.ops.Close()
		}
		cancel()
	}
	s.sipUp.Store(false)
	if err := s.dialer.Close(); err != nil {
		errs = append(errs, fmt.Errorf("closing the SIP listener: %w", err))
	}
	s.log.Info("serve: SIP listener closed")
	if err := s.store.Close(); err != nil {
		errs = append(errs, fmt.Errorf("closing the store: %w", err))
	}
	s.log.Info("serve: store closed; stopped")
	return errors.Join(errs...)
}
