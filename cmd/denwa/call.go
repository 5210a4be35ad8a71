package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"denwa/audio"
	"denwa/cmd/denwa/internal/config"
	"denwa/dtmf"
	"denwa/enroll"
	"denwa/sip"
)

// passwordEnv holds the SIP password: never a flag, so it stays out of
// shell history and process listings.
const passwordEnv = "DENWA_SIP_PASSWORD"

type callOptions struct {
	sip           config.SIP // the flags call shares with serve
	prompts       string
	language      string // prompt_language: ja or en
	challenge     int    // challenge mode's code length; 0: off
	json, verbose bool
	// Load mode (load.go): --calls N places N calls.
	calls, maxConcurrent int
	rate                 float64
	loadLimit            time.Duration
}

func newCallCmd() *cobra.Command {
	o := callOptions{sip: config.DefaultSIP()}
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
	config.BindSIPFlags(f, &o.sip)
	f.StringVar(&o.prompts, "prompts", "", "directory of the operator's own prompt recordings (NAME.wav, 8 kHz mono)")
	bindChallengeFlags(f, &o.challenge, &o.language)
	f.BoolVar(&o.json, "json", false, "print the result as one JSON object")
	f.BoolVarP(&o.verbose, "verbose", "v", false, "log SIP and media events to stderr")
	f.IntVar(&o.calls, "calls", 0, "load mode: place this many calls (each the full dialogue) and print a summary table; exit 0 only if all are verified")
	f.Float64Var(&o.rate, "rate", 10, "load mode: new calls per second")
	f.IntVar(&o.maxConcurrent, "max-concurrent", 0, "load mode: at most this many calls at once (default: --calls)")
	f.DurationVar(&o.loadLimit, "load-limit", 10*time.Minute, "load mode: stop starting calls, and cancel those running, after this")
	return cmd
}

// bindChallengeFlags adds --challenge[=N] and --prompt-language, which
// call and demo share (serve has challenge_digits and prompt_language).
func bindChallengeFlags(f *pflag.FlagSet, digits *int, lang *string) {
	f.IntVar(digits, "challenge", 0, fmt.Sprintf("challenge mode: the call reads out a random code of N digits (%d–%d) and asks for it, then #; --challenge alone: %d digits",
		enroll.MinChallengeDigits, enroll.MaxChallengeDigits, enroll.DefaultChallengeDigits))
	f.Lookup("challenge").NoOptDefVal = strconv.Itoa(enroll.DefaultChallengeDigits)
	f.StringVar(lang, "prompt-language", audio.LangJapanese, "language of the prompts: ja or en")
}

// loadPrompts loads the catalog, with the operator's recordings in dir
// if not empty, as heard in language lang, and checks that it holds every
// prompt the dialogue may play.
func loadPrompts(dir, lang string) (*audio.Catalog, error) {
	var override fs.FS
	if dir != "" {
		st, err := os.Stat(dir)
		if err != nil {
			return nil, fmt.Errorf("--prompts: %w", err)
		}
		if !st.IsDir() {
			return nil, fmt.Errorf("--prompts %s: not a directory", dir)
		}
		override = os.DirFS(dir)
	}
	all, err := audio.LoadCatalog(override)
	if err != nil {
		return nil, err
	}
	cat, err := all.Language(lang)
	if err != nil {
		return nil, err
	}
	for _, id := range enroll.Prompts() {
		if _, err := cat.Get(string(id)); err != nil {
			return nil, err
		}
	}
	return cat, nil
}

// digitPrompts returns the prompts that read out the digits 0–9, for a
// simulated phone that listens for a challenge code.
func digitPrompts(cat *audio.Catalog) ([10]*audio.Prompt, error) {
	var ds [10]*audio.Prompt
	for d := range ds {
		p, err := cat.Get(string(enroll.PromptDigit(dtmf.Key('0' + d))))
		if err != nil {
			return ds, err
		}
		ds[d] = p
	}
	return ds, nil
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
	// Registration is how --register went: "registered …" or
	// "registration failed: …"; empty without --register.
	Registration string `json:"registration,omitempty"`

	answered time.Time      // when the call was answered (load.go)
	result   *enroll.Result // the dialogue's result, when it ran (load.go)
}

func runCall(ctx context.Context, stdout, stderr io.Writer, number string, o callOptions) error {
	usage := func(err error) error { return &exitError{code: 2, msg: "call: " + err.Error()} }
	prompts, err := loadPrompts(o.prompts, o.language)
	if err != nil {
		return usage(err)
	}
	dc := enroll.DialogueConfig{ChallengeDigits: o.challenge}
	if _, err := enroll.NewDialogue(dc); err != nil {
		return usage(fmt.Errorf("--challenge: %w", err))
	}
	dialler, err := openCallDialer(o.sip, stderr, o.verbose)
	if err != nil {
		return usage(err)
	}
	defer dialler.Close()

	ctx, cancel := signalContext(ctx)
	defer cancel()
	registration := awaitRegistration(ctx, dialler)
	if registration != "" && !o.json {
		fmt.Fprintln(stdout, registration)
	}
	if o.calls != 0 {
		return runLoadCalls(ctx, stdout, dialler, prompts, dc, number, o)
	}
	rep := placeCall(ctx, dialler, prompts, dc, number, func(ev timelineEvent) {
		if !o.json {
			fmt.Fprintf(stdout, "%7.3f %s%s\n", ev.At.Seconds(), ev.What, prefixSpace(ev.Detail))
		}
	})
	rep.Registration = registration
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

// openCallDialer starts the dialer of the shared SIP flags (call and
// dtmftest), with the password from the environment and a logger on
// stderr when verbose, and warns on stderr when keys would cross in clear
// (verbose: logged already).
func openCallDialer(o config.SIP, stderr io.Writer, verbose bool) (*sip.Dialer, error) {
	o.Password = config.NewSecret([]byte(os.Getenv(passwordEnv)), "env "+passwordEnv)
	sc, err := o.DialerConfig()
	if err != nil {
		return nil, err
	}
	sc.Logger = newLogger(stderr, verbose)
	d, err := sip.NewDialer(sc)
	if err != nil {
		return nil, err
	}
	if d.KeysInClear() && !verbose {
		fmt.Fprintln(stderr, "warning: "+sip.ClearKeysWarning)
	}
	return d, nil
}

// awaitRegistration waits for d's first registration attempt (bounded by
// the dialer's INVITE timeout) and says how it went; "" when d does not
// register. A failed registration does not stop the call: the PBX
// decides, and the line says why it may refuse.
func awaitRegistration(ctx context.Context, d *sip.Dialer) string {
	reg := d.Registration()
	if reg == nil {
		return ""
	}
	st, err := reg.Wait(ctx, func(s sip.RegistrationState) bool { return s.Attempts > 0 })
	switch {
	case err != nil:
		return "registration: " + err.Error()
	case st.Err != nil:
		return "registration failed: " + st.Err.Error()
	}
	return fmt.Sprintf("registered until %s", st.Expires.UTC().Format(time.RFC3339))
}

func prefixSpace(s string) string {
	if s == "" {
		return ""
	}
	return " " + s
}

// placeCall dials, runs the verification dialogue on an answered call and
// reports it. print sees each timeline event as it happens.
func placeCall(ctx context.Context, d *sip.Dialer, prompts *audio.Catalog, dc enroll.DialogueConfig, number string, print func(timelineEvent)) *callReport {
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
	dlg, err := enroll.NewDialogue(dc)
	if err != nil {
		panic(err) // checked by the caller
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
			if s.Masked {
				detail = "digit (masked) " + s.Source.String()
			}
			if s.Ignored {
				detail += " (ignored)"
			} else {
				rep.Keys += s.Key.String()
			}
			emit(s.At, "key", detail)
		case enroll.StepChallenge:
			emit(s.At, "challenge", map[bool]string{true: "correct", false: "incorrect"}[s.Correct])
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
