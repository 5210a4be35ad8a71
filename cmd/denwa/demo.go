package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"denwa/cmd/denwa/internal/config"
	"denwa/enroll"
	"denwa/sip"
)

type demoOptions struct {
	http, keys, prompts, logFormat string
	language                       string // prompt_language
	challenge                      int    // challenge mode's code length; 0: off
	keyDelay                       time.Duration
	analog, verbose                bool
}

func newDemoCmd() *cobra.Command {
	var o demoOptions
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "the whole flow on this machine, nothing to configure: web UI, service, simulated phone",
		Long: `demo runs the whole verification flow on loopback with nothing to configure:
a temporary SQLite store (removed on exit), the enrollment service with its
HTTP API, the web UI, /metrics and the operators' console (on a listener of
their own; it prints an admin API key to sign in with), and a simulated
phone standing in for the user's phone. It prints an enrollment link; open it
in a browser, press 「続ける」, type any Japanese number (03-1234-5678), press
「次へ」: the service calls the simulated
phone, which answers and presses # as RFC 4733 events a few seconds later
(--analog: * then # as in-band tones, like a pulse-dial set switched to
tones), and the page moves on by itself to the app password.

With --challenge the call reads out a random code instead and asks for it,
then #; the simulated phone listens, recognises the spoken digits in the
audio it receives and presses the code it heard, then #.

It runs until Ctrl-C and then shuts down cleanly.`,
		Example: `  denwa demo
  denwa demo --analog --http 127.0.0.1:8081
  denwa demo --challenge --prompt-language en
  denwa demo --http :0          # any free port, printed`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := signalContext(cmd.Context())
			defer cancel()
			return runDemo(ctx, cmd.OutOrStdout(), cmd.ErrOrStderr(), o, nil)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.http, "http", "127.0.0.1:8080", "address of the web UI and API, host:port (port 0: any free port; no host: 127.0.0.1)")
	f.BoolVar(&o.analog, "analog", false, "the phone presses * then # as in-band tones, like an analog line")
	f.StringVar(&o.keys, "keys", "", "keys the phone presses instead ('1#1#1#': wrong keys, '0#': fraud report; '{code}#': the code it heard, then #)")
	bindChallengeFlags(f, &o.challenge, &o.language)
	f.DurationVar(&o.keyDelay, "key-delay", 3*time.Second, "wait from answer to the first key")
	f.StringVar(&o.prompts, "prompts", "", "directory of prompt recordings to use instead of the shipped ones")
	f.StringVar(&o.logFormat, "log-format", "text", "text or json (to stderr)")
	f.BoolVarP(&o.verbose, "verbose", "v", false, "log debug records (SIP, media, dialogue)")
	return cmd
}

// demoRun is a running demo, for tests.
type demoRun struct {
	URL     string // the web UI's base URL
	Link    string // the enrollment link printed
	Metrics string // the URL of /metrics, on the operators' listener
	Console string // the URL of the operators' console, on the same listener
	// AdminKey is an API key with the admin scope, made in the demo's
	// store, to sign in to the console with.
	AdminKey string
	srv      *server
}

// runDemo runs the demo until ctx ends. It reuses serve's wiring
// (startServer, run; the web UI and /metrics included) with a
// configuration made here. started, if not nil, sees it running.
func runDemo(ctx context.Context, stdout, stderr io.Writer, o demoOptions, started func(*demoRun)) error {
	usage := func(err error) error { return &exitError{code: 2, msg: "demo: " + err.Error()} }
	host, port, err := net.SplitHostPort(o.http)
	if err != nil {
		return usage(fmt.Errorf("--http %q: want host:port, like 127.0.0.1:8080 or :0", o.http))
	}
	if host == "" {
		host = "127.0.0.1"
	}
	addr := net.JoinHostPort(host, port)
	keys, mode := "#", sip.KeyRFC4733
	if o.analog {
		keys, mode = "*#", sip.KeyInband
	}
	if o.challenge != 0 {
		keys = sip.CodeKeys + "#"
		if o.analog {
			keys = "*" + sip.CodeKeys + "#"
		}
	}
	if o.keys != "" {
		keys = o.keys
	}
	level := slog.LevelInfo
	if o.verbose {
		level = slog.LevelDebug
	}
	logOpts := &slog.HandlerOptions{Level: level}
	var log *slog.Logger
	switch o.logFormat {
	case "json":
		log = slog.New(slog.NewJSONHandler(stderr, logOpts))
	case "text":
		log = slog.New(slog.NewTextHandler(stderr, logOpts))
	default:
		return usage(fmt.Errorf("--log-format %q: want text or json", o.logFormat))
	}

	dir, err := os.MkdirTemp("", "denwa-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	// The phone hears the digits the service plays.
	prompts, err := loadPrompts(o.prompts, o.language)
	if err != nil {
		return usage(err)
	}
	digits, err := digitPrompts(prompts)
	if err != nil {
		return usage(err)
	}
	phone, err := sip.NewPhone(sip.PhoneConfig{
		Listen: "127.0.0.1:0", Keys: keys, KeyMode: mode, KeyDelay: o.keyDelay, Digits: digits,
		RingFor: time.Second, Logger: log.With("component", "phone"),
	})
	if err != nil {
		return fmt.Errorf("demo: simulated phone: %w", err)
	}
	defer phone.Close()
	phoneCtx, stopPhone := context.WithCancel(context.WithoutCancel(ctx))
	phoneDone := make(chan struct{})
	go func() { defer close(phoneDone); phone.Serve(phoneCtx) }()
	defer func() { stopPhone(); <-phoneDone }()

	cfg := config.DefaultServe()
	cfg.HTTP.Addr = addr
	cfg.HTTP.OpsAddr = "127.0.0.1:0" // /metrics on loopback whatever --http says; any free port, printed
	cfg.Store.Path = filepath.Join(dir, "denwa.db")
	cfg.SIP.Trunk = phone.URI()
	cfg.SIP.Bind = "127.0.0.1:0"
	cfg.SIP.RingTimeout = config.Duration(30 * time.Second)
	cfg.Prompts = o.prompts
	cfg.PromptLanguage = o.language
	cfg.ChallengeDigits = o.challenge
	cfg.Calls.Grace = config.Duration(10 * time.Second)
	cfg.HTTP.ShutdownTimeout = config.Duration(3 * time.Second)
	cfg.Link.TTL = config.Duration(time.Hour)
	key := make([]byte, 32)
	rand.Read(key)
	cfg.Link.Key = config.NewSecret(key, "demo: random")
	p, err := cfg.Check()
	if err != nil {
		return usage(err)
	}
	s, err := startServer(ctx, p, log) // with the web UI and /metrics
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return &exitError{code: 1, msg: fmt.Sprintf("demo: --http %s is already in use; choose another address (--http 127.0.0.1:8081) or --http :0 for any free port", addr)}
		}
		return &exitError{code: 1, msg: "demo: " + err.Error()}
	}
	links, err := enroll.NewLinkSigner(p.LinkKey)
	if err != nil {
		return err
	}
	l, err := enroll.NewLink("", "demo-user", time.Now().Add(time.Hour))
	if err != nil {
		return err
	}
	tok, err := links.Sign(l)
	if err != nil {
		return err
	}
	run := &demoRun{URL: s.baseURL, Link: s.baseURL + "/e/" + tok, Metrics: "http://" + s.OpsAddr() + "/metrics", srv: s}
	// The operators' console, with an admin key of the throwaway store.
	run.Console = "http://" + s.OpsAddr() + "/console/"
	run.AdminKey, _, err = s.svc.Admin().CreateAPIKey(ctx, "demo-admin", enroll.ScopeAdmin, enroll.Origin{Actor: enroll.ActorLocal})
	if err != nil {
		return err
	}
	how := "presses # (RFC 4733)"
	switch {
	case o.challenge != 0 && o.keys == "":
		how = fmt.Sprintf("presses the %d-digit code it hears, then # (%s)", o.challenge, map[sip.KeyMode]string{sip.KeyRFC4733: "RFC 4733", sip.KeyInband: "in-band"}[mode])
	case o.keys != "":
		how = fmt.Sprintf("presses %q (%s)", keys, map[sip.KeyMode]string{sip.KeyRFC4733: "RFC 4733", sip.KeyInband: "in-band"}[mode])
	case o.analog:
		how = "presses * then # (in-band tones, analog line)"
	}
	fmt.Fprintf(stdout, "denwa demo: web UI and API on %s (metrics: %s)\n", s.baseURL, run.Metrics)
	fmt.Fprintf(stdout, "simulated phone on %s: answers after 1 s and %s %s later\n", phone.URI(), how, o.keyDelay)
	fmt.Fprintf(stdout, "open the link, press 「続ける」, type 03-1234-5678 and press 「次へ」 (the link works once; Ctrl-C ends the demo)\n")
	fmt.Fprintf(stdout, "enrollment link: %s\n", run.Link)
	fmt.Fprintf(stdout, "operators' console: %s (sign in with the admin API key %s; with denwa serve, make one with 'denwa apikey create NAME --scope admin')\n", run.Console, run.AdminKey)
	if started != nil {
		started(run)
	}
	if err := s.run(ctx); err != nil {
		return &exitError{code: 1, msg: "demo: " + err.Error()}
	}
	fmt.Fprintln(stdout, "denwa demo: stopped; temporary store removed")
	return nil
}
