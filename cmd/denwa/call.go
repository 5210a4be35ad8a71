package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"denwa/audio"
	"denwa/enroll"
	"denwa/media"
	"denwa/sip"
)

// passwordEnv holds the SIP password: never a flag, so it stays out of
// shell history and process listings.
const passwordEnv = "DENWA_SIP_PASSWORD"

type callOptions struct {
	trunk, transport, from, display, user, bind, proxy string
	codecs, rtpPorts, prompts                          string
	dialPlan                                           []string
	eventPT                                            uint8
	ringTimeout, maxDuration                           time.Duration
	json, verbose                                      bool
	// Load mode (load.go): --calls N places N calls.
	calls, maxConcurrent int
	rate                 float64
	loadLimit            time.Duration
}

func newCallCmd() *cobra.Command {
	var o callOptions
	cmd := &cobra.Command{
		Use:   "call NUMBER",
		Short: "place one verification call and print what happened",
		Long: `call places one verification call through a PBX or SIP trunk: it dials NUMBER,
plays the greeting, waits for # (or * then # from analog lines), and prints a
timeline (trying, ringing, answered, prompts, each key with its source) and,
last, the outcome word.

The SIP password is read from the environment variable ` + passwordEnv + `,
never from the command line.

Exit codes: 0 verified; 12 no-answer, 13 busy, 14 rejected, 15 unreachable,
16 no-input, 17 wrong-input, 18 hung-up, 19 fraud-reported, 20 failed;
2 for a usage or configuration error before any call.`,
		Example: `  denwa phone --listen 127.0.0.1:5070 --keys '#' &
  denwa call --trunk sip:127.0.0.1:5070 --ring-timeout 5s +81312345678
  DENWA_SIP_PASSWORD=secret denwa call --trunk 'sip:pbx.example.com;transport=tcp' \
      --user 1001 --dial-plan '+81>0' --codec pcma 0312345678`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runCall(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), args[0], o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.trunk, "trunk", "", "SIP URI of the PBX or trunk, e.g. sip:pbx.example.com:5060;transport=tcp (required)")
	f.StringVar(&o.transport, "transport", "", "udp, tcp or tls (default: the trunk URI's transport, else udp)")
	f.StringVar(&o.from, "from", "", "caller URI (caller ID), e.g. sip:0312340000@pbx.example.com")
	f.StringVar(&o.display, "display-name", "", "caller display name")
	f.StringVar(&o.user, "user", "", "digest authentication user (password from "+passwordEnv+")")
	f.StringVar(&o.bind, "bind", "", "local SIP address ip:port (default: an ephemeral port)")
	f.StringVar(&o.proxy, "outbound-proxy", "", "SIP URI every request is sent through")
	f.StringVar(&o.codecs, "codec", "pcmu,pcma", "codecs offered, in order of preference: pcmu, pcma")
	f.StringVar(&o.rtpPorts, "rtp-ports", "30000-30999", "RTP port range FIRST-LAST (even ports are used)")
	f.StringVar(&o.prompts, "prompts", "", "directory of the operator's own prompt recordings (NAME.wav, 8 kHz mono)")
	f.StringArrayVar(&o.dialPlan, "dial-plan", nil, "rewrite a number prefix before dialling, PREFIX>REPLACEMENT (e.g. '+81>0'); repeatable, first match wins")
	f.Uint8Var(&o.eventPT, "event-pt", 101, "telephone-event payload type offered")
	f.DurationVar(&o.ringTimeout, "ring-timeout", 60*time.Second, "give up (CANCEL) when not answered within this")
	f.DurationVar(&o.maxDuration, "max-duration", 5*time.Minute, "hang up an answered call after this")
	f.BoolVar(&o.json, "json", false, "print the result as one JSON object")
	f.BoolVarP(&o.verbose, "verbose", "v", false, "log SIP and media events to stderr")
	f.IntVar(&o.calls, "calls", 0, "load mode: place this many calls (each the full dialogue) and print a summary table; exit 0 only if all are verified")
	f.Float64Var(&o.rate, "rate", 10, "load mode: new calls per second")
	f.IntVar(&o.maxConcurrent, "max-concurrent", 0, "load mode: at most this many calls at once (default: --calls)")
	f.DurationVar(&o.loadLimit, "load-limit", 10*time.Minute, "load mode: stop starting calls, and cancel those running, after this")
	return cmd
}

// parseCodecs turns "pcmu,pcma" into media payload kinds.
func parseCodecs(s string) ([]media.PayloadKind, error) {
	var out []media.PayloadKind
	for c := range strings.SplitSeq(s, ",") {
		switch strings.ToLower(strings.TrimSpace(c)) {
		case "pcmu", "ulaw", "g711u":
			out = append(out, media.KindPCMU)
		case "pcma", "alaw", "g711a":
			out = append(out, media.KindPCMA)
		default:
			return nil, fmt.Errorf("--codec %q: want pcmu, pcma or both (pcmu,pcma)", c)
		}
	}
	return out, nil
}

// parsePorts turns "30000-30999" into its bounds.
func parsePorts(s string) (first, last int, err error) {
	a, b, ok := strings.Cut(s, "-")
	first, err1 := strconv.Atoi(a)
	last, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || first < 1024 || last > 65535 || last < first+1 {
		return 0, 0, fmt.Errorf("--rtp-ports %q: want FIRST-LAST, two port numbers from 1024 to 65535 with room for at least one even pair", s)
	}
	return first, last, nil
}

// parseDialPlan turns "+81>0" into a rule that strips "+81" and prepends "0".
func parseDialPlan(rules []string) (sip.DialPlan, error) {
	var plan sip.DialPlan
	for _, r := range rules {
		match, repl, ok := strings.Cut(r, ">")
		if !ok || match == "" {
			return nil, fmt.Errorf("--dial-plan %q: want PREFIX>REPLACEMENT, e.g. '+81>0' or '>0' is not allowed", r)
		}
		plan = append(plan, sip.Rule{Match: match, Strip: len(match), Prepend: repl})
	}
	return plan, nil
}

func loadPrompts(dir string) (*audio.Catalog, error) {
	if dir == "" {
		return audio.LoadCatalog(nil)
	}
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("--prompts: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("--prompts %s: not a directory", dir)
	}
	return audio.LoadCatalog(os.DirFS(dir))
}

// signalContext is cancelled by Ctrl-C or SIGTERM, so a call in progress is
// hung up properly.
func signalContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if ctx == nil {
		ctx = context.Background()
	}
	return signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
}

func newLogger(w io.Writer, verbose bool) *slog.Logger {
	if !verbose {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// timeline collects what a call did, for printing.
type timeline struct {
	mu     sync.Mutex
	start  time.Time
	events []timelineEvent
}

type timelineEvent struct {
	At     time.Duration `json:"-"`
	Millis int64         `json:"at_ms"` // from the start of the call
	What   string        `json:"event"`
	Detail string        `json:"detail,omitempty"`
}

func (t *timeline) add(at time.Time, what, detail string) timelineEvent {
	t.mu.Lock()
	defer t.mu.Unlock()
	d := at.Sub(t.start)
	ev := timelineEvent{At: d, Millis: d.Milliseconds(), What: what, Detail: detail}
	t.events = append(t.events, ev)
	return ev
}

type callReport struct {
	Number   string          `json:"number"`
	Dialled  string          `json:"dialled,omitempty"`
	Outcome  enroll.Outcome  `json:"outcome"`
	Cause    string          `json:"cause,omitempty"`
	Status   int             `json:"sip_status,omitempty"`
	Retry    float64         `json:"retry_after_s,omitempty"`
	Codec    string          `json:"codec,omitempty"`
	Keys     string          `json:"keys"`
	Timeline []timelineEvent `json:"timeline"`

	answered time.Time      // when the call was answered (load.go)
	result   *enroll.Result // the dialogue's result, when it ran (load.go)
}

func runCall(ctx context.Context, stdout, stderr io.Writer, number string, o callOptions) error {
	usage := func(err error) error { return &exitError{code: 2, msg: "call: " + err.Error()} }
	if o.trunk == "" {
		return usage(errors.New("--trunk is required (the PBX or trunk SIP URI)"))
	}
	codecs, err := parseCodecs(o.codecs)
	if err != nil {
		return usage(err)
	}
	first, last, err := parsePorts(o.rtpPorts)
	if err != nil {
		return usage(err)
	}
	plan, err := parseDialPlan(o.dialPlan)
	if err != nil {
		return usage(err)
	}
	prompts, err := loadPrompts(o.prompts)
	if err != nil {
		return usage(err)
	}
	for _, id := range enroll.Prompts() {
		if _, err := prompts.Get(string(id)); err != nil {
			return usage(err)
		}
	}
	dialler, err := sip.NewDialer(sip.Config{
		Trunk: o.trunk, Transport: o.transport, Bind: o.bind, From: o.from, DisplayName: o.display,
		AuthUser: o.user, Password: os.Getenv(passwordEnv), OutboundProxy: o.proxy, DialPlan: plan,
		RingTimeout: o.ringTimeout, MaxDuration: o.maxDuration, RTPPortFirst: first, RTPPortLast: last,
		Codecs: codecs, EventPT: o.eventPT, Logger: newLogger(stderr, o.verbose),
	})
	if err != nil {
		return usage(err)
	}
	defer dialler.Close()

	ctx, cancel := signalContext(ctx)
	defer cancel()
	if o.calls != 0 {
		return runLoadCalls(ctx, stdout, dialler, prompts, number, o)
	}
	rep := placeCall(ctx, dialler, prompts, number, func(ev timelineEvent) {
		if !o.json {
			fmt.Fprintf(stdout, "%7.3f %s%s\n", ev.At.Seconds(), ev.What, prefixSpace(ev.Detail))
		}
	})
	if o.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		if rep.Cause != "" {
			fmt.Fprintf(stdout, "cause: %s\n", rep.Cause)
		}
		fmt.Fprintln(stdout, rep.Outcome)
	}
	if code := rep.Outcome.ExitCode(); code != 0 {
		return &exitError{code: code}
	}
	return nil
}

func prefixSpace(s string) string {
	if s == "" {
		return ""
	}
	return " " + s
}

// placeCall dials, runs the verification dialogue on an answered call and
// reports it. print sees each timeline event as it happens.
func placeCall(ctx context.Context, d *sip.Dialer, prompts *audio.Catalog, number string, print func(timelineEvent)) *callReport {
	tl := &timeline{start: time.Now()}
	emit := func(at time.Time, what, detail string) {
		print(tl.add(at, what, detail))
	}
	rep := &callReport{Number: number}
	line, err := dialLine(ctx, d, number, func(p sip.Progress) {
		detail := ""
		if p.Status != 0 {
			detail = strconv.Itoa(p.Status) + " " + p.Reason
		}
		emit(p.At, p.Kind.String(), detail)
	}, prompts)
	if err != nil {
		rep.Outcome = outcomeOf(err)
		rep.Cause = err.Error()
		var ce *sip.CallError
		if errors.As(err, &ce) {
			rep.Status = ce.Status
			rep.Retry = ce.RetryAfter.Seconds()
		}
		emit(time.Now(), "ended", rep.Outcome.String())
		rep.Timeline = tl.events
		return rep
	}
	call := line.call
	rep.Codec = call.Codec().String()
	dlg, err := enroll.NewDialogue(enroll.DialogueConfig{})
	if err != nil {
		panic(err) // the zero config is valid
	}
	res := dlg.Run(ctx, line)
	rep.answered, rep.result = call.AnsweredAt(), &res
	call.Hangup(context.WithoutCancel(ctx))
	for _, s := range res.Timeline {
		switch s.Kind {
		case enroll.StepPrompt:
			detail := fmt.Sprintf("%s %.1fs", s.Prompt, s.End.Sub(s.At).Seconds())
			if s.Interrupted {
				detail += " (interrupted)"
			}
			emit(s.At, "prompt", detail)
		case enroll.StepKey:
			detail := s.Key.String() + " " + s.Source.String()
			if s.Ignored {
				detail += " (ignored)"
			} else {
				rep.Keys += s.Key.String()
			}
			emit(s.At, "key", detail)
		case enroll.StepHangup:
			who := "local"
			if s.Remote {
				who = "remote"
			}
			emit(s.At, "hangup", who)
		}
	}
	rep.Outcome = res.Outcome
	if res.Cause != nil {
		rep.Cause = res.Cause.Error()
	}
	rep.Timeline = tl.events
	return rep
}
