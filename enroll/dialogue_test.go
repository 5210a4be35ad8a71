package enroll_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"denwa/dtmf"
	"denwa/enroll"
	"denwa/enroll/enrolltest"
)

const s = time.Second

// Prompt lengths of every dialogue test; the defaults of DialogueConfig
// (3 greetings, 3 wrong tries, 5 s after a greeting, 3 s between keys).
const (
	greetingLen = 6 * s
	wrongKeyLen = 3 * s
	finalLen    = 2 * s // success, fraud, goodbye
)

func newLine() *enrolltest.FakeLine {
	l := enrolltest.NewFakeLine()
	l.SetPromptLength(enroll.PromptGreeting, greetingLen)
	l.SetPromptLength(enroll.PromptWrongKey, wrongKeyLen)
	for _, p := range []enroll.PromptID{enroll.PromptSuccess, enroll.PromptFraud, enroll.PromptGoodbye} {
		l.SetPromptLength(p, finalLen)
	}
	return l
}

// played renders the prompts of a FakeLine as "greeting! success": a "!"
// marks a prompt that was interrupted.
func played(l *enrolltest.FakeLine) string {
	var b strings.Builder
	for i, p := range l.Plays() {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(string(p.Prompt))
		if p.Interrupted {
			b.WriteByte('!')
		}
	}
	return b.String()
}

func keys(r enroll.Result) string {
	var b strings.Builder
	for _, k := range r.Keys() {
		b.WriteByte(byte(k.Key))
	}
	return b.String()
}

// runDialogue runs one dialogue inside the caller's synctest bubble and
// checks what every run must satisfy: no goroutine of the dialogue is left,
// no Play is in progress, no two Plays overlapped, the result's times are
// consistent, and the call is ended.
func runDialogue(t *testing.T, ctx context.Context, cfg enroll.DialogueConfig, l *enrolltest.FakeLine) enroll.Result {
	t.Helper()
	d, err := enroll.NewDialogue(cfg)
	if err != nil {
		t.Fatal(err)
	}
	res := d.Run(ctx, l)
	if n := l.Playing(); n != 0 {
		t.Errorf("%d Play calls still in progress after Run returned", n)
	}
	synctest.Wait() // let goroutines that have finished their work exit
	if l.Overlapped() {
		t.Error("Play was called while another Play was in progress")
	}
	checkNoDialogueGoroutines(t)
	if res.End.Before(res.Start) {
		t.Errorf("End %v before Start %v", res.End, res.Start)
	}
	select {
	case <-l.Done():
	default:
		t.Error("Run returned with the call still up")
	}
	if res.Outcome == enroll.OutcomeFailed && res.Cause == nil {
		t.Error("failed without a cause")
	}
	l.Close()
	return res
}

// checkNoDialogueGoroutines fails if any goroutine is still running code
// of the dialogue (package enroll's session). Run returned, so none may be.
func checkNoDialogueGoroutines(t *testing.T) {
	t.Helper()
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if strings.Contains(g, "denwa/enroll.(*session)") {
			t.Errorf("goroutine of the dialogue left after Run:\n%s", g)
		}
	}
}

func TestDialogue(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name   string
		cfg    enroll.DialogueConfig
		script func(l *enrolltest.FakeLine)
		cancel time.Duration // cancel Run's context then, if not zero

		want        enroll.Outcome
		wantCause   error // errors.Is, when not nil
		wantPrompts string
		wantKeys    string // the keys that counted
		wantHangups int    // Hangup calls by the dialogue
		wantEnd     time.Duration
	}{
		{
			name:        "# during the first greeting interrupts it",
			script:      func(l *enrolltest.FakeLine) { l.PressAt(1*s, "#") },
			want:        enroll.OutcomeVerified,
			wantPrompts: "greeting! success",
			wantKeys:    "#",
			wantHangups: 1,
			wantEnd:     1*s + finalLen,
		},
		{
			name:        "*# during the greeting",
			script:      func(l *enrolltest.FakeLine) { l.PressAt(1*s, "*"); l.PressAt(2*s, "#") },
			want:        enroll.OutcomeVerified,
			wantPrompts: "greeting! success",
			wantKeys:    "*#",
			wantHangups: 1,
			wantEnd:     2*s + finalLen,
		},
		{
			name:        "*# at once",
			script:      func(l *enrolltest.FakeLine) { l.PressAt(1*s, "*#") },
			want:        enroll.OutcomeVerified,
			wantPrompts: "greeting! success",
			wantKeys:    "*#",
			wantHangups: 1,
			wantEnd:     1*s + finalLen,
		},
		{
			name: "* then # after longer than the inter-key timeout",
			script: func(l *enrolltest.FakeLine) {
				l.PressAt(1*s, "*")
				l.PressAt(5500*time.Millisecond, "#") // 4.5 s later: more than 3 s, less than 5 s
			},
			want:        enroll.OutcomeVerified,
			wantPrompts: "greeting! success",
			wantKeys:    "*#",
			wantHangups: 1,
			wantEnd:     5500*time.Millisecond + finalLen,
		},
		{
			name:        "# after the greeting",
			script:      func(l *enrolltest.FakeLine) { l.PressAt(8*s, "#") },
			want:        enroll.OutcomeVerified,
			wantPrompts: "greeting success",
			wantKeys:    "#",
			wantHangups: 1,
			wantEnd:     8*s + finalLen,
		},
		{
			name:        "# during the third greeting",
			script:      func(l *enrolltest.FakeLine) { l.OnPlay(enroll.PromptGreeting, 3, 2*s, func() { l.Press("#") }) },
			want:        enroll.OutcomeVerified,
			wantPrompts: "greeting greeting greeting! success",
			wantKeys:    "#",
			wantHangups: 1,
			wantEnd:     2*(greetingLen+5*s) + 2*s + finalLen,
		},
		{
			name:        "# pressed before the dialogue began: no greeting",
			script:      func(l *enrolltest.FakeLine) { l.Press("#") },
			want:        enroll.OutcomeVerified,
			wantPrompts: "success",
			wantKeys:    "#",
			wantHangups: 1,
			wantEnd:     finalLen,
		},
		{
			name:        "0# reports fraud",
			script:      func(l *enrolltest.FakeLine) { l.PressAt(1*s, "0"); l.PressAt(1500*time.Millisecond, "#") },
			want:        enroll.OutcomeFraudReported,
			wantPrompts: "greeting! fraud",
			wantKeys:    "0#",
			wantHangups: 1,
			wantEnd:     1500*time.Millisecond + finalLen,
		},
		{
			name:        "*0# reports fraud",
			script:      func(l *enrolltest.FakeLine) { l.PressAt(8*s, "*0#") },
			want:        enroll.OutcomeFraudReported,
			wantPrompts: "greeting fraud",
			wantKeys:    "*0#",
			wantHangups: 1,
			wantEnd:     8*s + finalLen,
		},
		{
			name: "1# then # verifies after one wrong try",
			script: func(l *enrolltest.FakeLine) {
				l.PressAt(1*s, "1#")
				l.OnPlay(enroll.PromptGreeting, 2, 1*s, func() { l.Press("#") })
			},
			want:        enroll.OutcomeVerified,
			wantPrompts: "greeting! wrong-key greeting! success",
			wantKeys:    "1##",
			wantHangups: 1,
			wantEnd:     1*s + wrongKeyLen + 1*s + finalLen,
		},
		{
			name:        "# during the wrong-key prompt interrupts it",
			script:      func(l *enrolltest.FakeLine) { l.PressAt(1*s, "5#"); l.PressAt(2*s, "#") },
			want:        enroll.OutcomeVerified,
			wantPrompts: "greeting! wrong-key! success",
			wantKeys:    "5##",
			wantHangups: 1,
			wantEnd:     2*s + finalLen,
		},
		{
			name:        "a key pressed right after a wrong sequence skips the wrong-key prompt",
			script:      func(l *enrolltest.FakeLine) { l.PressAt(1*s, "1##") },
			want:        enroll.OutcomeVerified,
			wantPrompts: "greeting! success",
			wantKeys:    "1##",
			wantHangups: 1,
			wantEnd:     1*s + finalLen,
		},
		{
			name:        "keys after the deciding # are ignored",
			script:      func(l *enrolltest.FakeLine) { l.PressAt(1*s, "#0#") },
			want:        enroll.OutcomeVerified,
			wantPrompts: "greeting! success",
			wantKeys:    "#",
			wantHangups: 1,
			wantEnd:     1*s + finalLen,
		},
		{
			name:        "keys after the deciding # and a hang-up are ignored",
			script:      func(l *enrolltest.FakeLine) { l.At(1*s, func() { l.Press("0#1#"); l.HangUp() }) },
			want:        enroll.OutcomeFraudReported,
			wantPrompts: "-",
			wantKeys:    "0#",
			wantEnd:     1 * s,
		},
		{
			name: "three wrong sequences",
			script: func(l *enrolltest.FakeLine) {
				l.PressAt(1*s, "1#")
				l.OnPlay(enroll.PromptGreeting, 2, 1*s, func() { l.Press("**#") })
				l.OnPlay(enroll.PromptGreeting, 3, 1*s, func() { l.Press("A#") })
			},
			want:        enroll.OutcomeWrongInput,
			wantPrompts: "greeting! wrong-key greeting! wrong-key greeting! goodbye",
			wantKeys:    "1#**#A#",
			wantHangups: 1,
			wantEnd:     3*s + 2*wrongKeyLen + finalLen,
		},
		{
			name:        "a lone digit is judged after the inter-key timeout",
			cfg:         enroll.DialogueConfig{MaxWrongTries: 1},
			script:      func(l *enrolltest.FakeLine) { l.PressAt(1*s, "5") },
			want:        enroll.OutcomeWrongInput,
			wantPrompts: "greeting! goodbye",
			wantKeys:    "5",
			wantHangups: 1,
			wantEnd:     1*s + 3*s + finalLen,
		},
		{
			name:        "0 without # is wrong",
			cfg:         enroll.DialogueConfig{MaxWrongTries: 1},
			script:      func(l *enrolltest.FakeLine) { l.PressAt(1*s, "0") },
			want:        enroll.OutcomeWrongInput,
			wantPrompts: "greeting! goodbye",
			wantKeys:    "0",
			wantHangups: 1,
			wantEnd:     1*s + 3*s + finalLen,
		},
		{
			name:        "8 keys without # are wrong at once",
			cfg:         enroll.DialogueConfig{MaxWrongTries: 1},
			script:      func(l *enrolltest.FakeLine) { l.PressAt(1*s, "12345678") },
			want:        enroll.OutcomeWrongInput,
			wantPrompts: "greeting! goodbye",
			wantKeys:    "12345678",
			wantHangups: 1,
			wantEnd:     1*s + finalLen,
		},
		{
			name:        "nothing: no-input after three greetings",
			want:        enroll.OutcomeNoInput,
			wantPrompts: "greeting greeting greeting goodbye",
			wantHangups: 1,
			wantEnd:     3*(greetingLen+5*s) + finalLen,
		},
		{
			name:        "nothing, one greeting configured",
			cfg:         enroll.DialogueConfig{GreetingRepeats: 1, PostGreetingWait: 2 * s},
			want:        enroll.OutcomeNoInput,
			wantPrompts: "greeting goodbye",
			wantHangups: 1,
			wantEnd:     greetingLen + 2*s + finalLen,
		},
		{
			name:   "a lone * then silence is no input, not a wrong key",
			script: func(l *enrolltest.FakeLine) { l.PressAt(1*s, "*") },
			// * at 1 s, 5 s of patience, greeting at 6 s and 17 s, goodbye at 28 s.
			want:        enroll.OutcomeNoInput,
			wantPrompts: "greeting! greeting greeting goodbye",
			wantKeys:    "*",
			wantHangups: 1,
			wantEnd:     1*s + 5*s + 2*(greetingLen+5*s) + finalLen,
		},
		{
			name:        "greetings count again after a wrong try",
			script:      func(l *enrolltest.FakeLine) { l.OnPlay(enroll.PromptGreeting, 3, 1*s, func() { l.Press("9#") }) },
			want:        enroll.OutcomeNoInput,
			wantPrompts: "greeting greeting greeting! wrong-key greeting greeting greeting goodbye",
			wantKeys:    "9#",
			wantHangups: 1,
			wantEnd:     2*(greetingLen+5*s) + 1*s + wrongKeyLen + 3*(greetingLen+5*s) + finalLen,
		},
		{
			name:        "hang-up during the greeting",
			script:      func(l *enrolltest.FakeLine) { l.HangUpAt(2 * s) },
			want:        enroll.OutcomeHungUp,
			wantCause:   enroll.ErrHungUp,
			wantPrompts: "greeting!",
			wantEnd:     2 * s,
		},
		{
			name:        "hang-up while waiting for a key",
			script:      func(l *enrolltest.FakeLine) { l.HangUpAt(8 * s) },
			want:        enroll.OutcomeHungUp,
			wantCause:   enroll.ErrHungUp,
			wantPrompts: "greeting",
			wantEnd:     8 * s,
		},
		{
			name:        "hang-up in the middle of a sequence",
			script:      func(l *enrolltest.FakeLine) { l.PressAt(1*s, "*"); l.HangUpAt(2 * s) },
			want:        enroll.OutcomeHungUp,
			wantCause:   enroll.ErrHungUp,
			wantPrompts: "greeting!",
			wantKeys:    "*",
			wantEnd:     2 * s,
		},
		{
			name:        "media timeout is a hang-up",
			script:      func(l *enrolltest.FakeLine) { l.At(8*s, func() { l.End(enroll.ErrMediaTimeout) }) },
			want:        enroll.OutcomeHungUp,
			wantCause:   enroll.ErrMediaTimeout,
			wantPrompts: "greeting",
			wantEnd:     8 * s,
		},
		{
			name:        "a line that breaks fails",
			script:      func(l *enrolltest.FakeLine) { l.At(2*s, func() { l.End(boom) }) },
			want:        enroll.OutcomeFailed,
			wantCause:   boom,
			wantPrompts: "greeting!",
			wantEnd:     2 * s,
		},
		{
			name:        "# and a hang-up at once still verifies",
			script:      func(l *enrolltest.FakeLine) { l.At(1*s, func() { l.Press("#"); l.HangUp() }) },
			want:        enroll.OutcomeVerified,
			wantKeys:    "#",
			wantEnd:     1 * s,
			wantPrompts: "-", // success may begin or not, depending on which is seen first
		},
		{
			name:        "hang-up during the success prompt is still verified",
			script:      func(l *enrolltest.FakeLine) { l.PressAt(1*s, "#"); l.HangUpAt(2 * s) },
			want:        enroll.OutcomeVerified,
			wantPrompts: "greeting! success!",
			wantKeys:    "#",
			wantEnd:     2 * s,
		},
		{
			name:        "hang-up during the goodbye prompt is still no-input",
			cfg:         enroll.DialogueConfig{GreetingRepeats: 1},
			script:      func(l *enrolltest.FakeLine) { l.HangUpAt(greetingLen + 5*s + 1*s) },
			want:        enroll.OutcomeNoInput,
			wantPrompts: "greeting goodbye!",
			wantEnd:     greetingLen + 5*s + 1*s,
		},
		{
			name:        "keys during the final prompt are ignored",
			script:      func(l *enrolltest.FakeLine) { l.PressAt(1*s, "#"); l.PressAt(2*s, "0#") },
			want:        enroll.OutcomeVerified,
			wantPrompts: "greeting! success",
			wantKeys:    "#",
			wantHangups: 1,
			wantEnd:     1*s + finalLen,
		},
		{
			name:        "cancelled during the greeting",
			cancel:      2 * s,
			want:        enroll.OutcomeFailed,
			wantCause:   context.Canceled,
			wantPrompts: "greeting!",
			wantHangups: 1,
			wantEnd:     2 * s,
		},
		{
			name:        "cancelled while waiting for a key",
			cancel:      9 * s,
			want:        enroll.OutcomeFailed,
			wantCause:   context.Canceled,
			wantPrompts: "greeting",
			wantHangups: 1,
			wantEnd:     9 * s,
		},
		{
			name:        "cancelled during the success prompt is still verified",
			script:      func(l *enrolltest.FakeLine) { l.PressAt(1*s, "#") },
			cancel:      2 * s,
			want:        enroll.OutcomeVerified,
			wantPrompts: "greeting! success!",
			wantKeys:    "#",
			wantHangups: 1,
			wantEnd:     2 * s,
		},
		{
			name:        "Play fails",
			script:      func(l *enrolltest.FakeLine) { l.FailPlay(enroll.PromptGreeting, 1, boom) },
			want:        enroll.OutcomeFailed,
			wantCause:   boom,
			wantPrompts: "greeting!",
			wantHangups: 1,
			wantEnd:     0,
		},
		{
			name:        "the second greeting fails",
			script:      func(l *enrolltest.FakeLine) { l.FailPlay(enroll.PromptGreeting, 2, boom) },
			want:        enroll.OutcomeFailed,
			wantCause:   boom,
			wantPrompts: "greeting greeting!",
			wantHangups: 1,
			wantEnd:     greetingLen + 5*s,
		},
		{
			name: "the wrong-key prompt fails",
			script: func(l *enrolltest.FakeLine) {
				l.FailPlay(enroll.PromptWrongKey, 1, boom)
				l.PressAt(1*s, "1#")
			},
			want:        enroll.OutcomeFailed,
			wantCause:   boom,
			wantPrompts: "greeting! wrong-key!",
			wantKeys:    "1#",
			wantHangups: 1,
			wantEnd:     1 * s,
		},
		{
			name: "the success prompt fails: still verified",
			script: func(l *enrolltest.FakeLine) {
				l.FailPlay(enroll.PromptSuccess, 1, boom)
				l.PressAt(1*s, "#")
			},
			want:        enroll.OutcomeVerified,
			wantPrompts: "greeting! success!",
			wantKeys:    "#",
			wantHangups: 1,
			wantEnd:     1 * s,
		},
		{
			name:        "Hangup fails: the outcome stands",
			script:      func(l *enrolltest.FakeLine) { l.FailHangup(boom); l.PressAt(1*s, "#") },
			want:        enroll.OutcomeVerified,
			wantPrompts: "greeting! success",
			wantKeys:    "#",
			wantHangups: 1,
			wantEnd:     1*s + finalLen,
		},
		{
			name: "invalid keys are ignored",
			script: func(l *enrolltest.FakeLine) {
				l.At(1*s, func() { l.Send(enroll.KeyPress{Key: 'x'}) })
				l.PressAt(8*s, "#")
			},
			want:        enroll.OutcomeVerified,
			wantPrompts: "greeting success",
			wantKeys:    "#",
			wantHangups: 1,
			wantEnd:     8*s + finalLen,
		},
		{
			name:        "a closed key channel is no input",
			cfg:         enroll.DialogueConfig{GreetingRepeats: 1},
			script:      func(l *enrolltest.FakeLine) { l.At(1*s, l.CloseKeys) },
			want:        enroll.OutcomeNoInput,
			wantPrompts: "greeting goodbye",
			wantHangups: 1,
			wantEnd:     greetingLen + 5*s + finalLen,
		},
		{
			name:        "the line had ended before the dialogue",
			script:      func(l *enrolltest.FakeLine) { l.HangUp() },
			want:        enroll.OutcomeHungUp,
			wantCause:   enroll.ErrHungUp,
			wantPrompts: "-",
			wantEnd:     0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := newLine()
				if tt.script != nil {
					tt.script(l)
				}
				ctx, cancel := context.WithCancel(t.Context())
				defer cancel()
				if tt.cancel != 0 {
					time.AfterFunc(tt.cancel, cancel)
				}
				res := runDialogue(t, ctx, tt.cfg, l)
				if res.Outcome != tt.want {
					t.Errorf("outcome %s (cause %v), want %s", res.Outcome, res.Cause, tt.want)
				}
				if tt.wantCause != nil && !errors.Is(res.Cause, tt.wantCause) {
					t.Errorf("cause %v, want %v", res.Cause, tt.wantCause)
				}
				if tt.wantCause == nil && res.Cause != nil {
					t.Errorf("cause %v, want none", res.Cause)
				}
				if got := played(l); tt.wantPrompts != "-" && got != tt.wantPrompts {
					t.Errorf("played %q, want %q", got, tt.wantPrompts)
				}
				if got := keys(res); got != tt.wantKeys {
					t.Errorf("keys %q, want %q", got, tt.wantKeys)
				}
				if got := l.Hangups(); got != tt.wantHangups {
					t.Errorf("%d hangups, want %d", got, tt.wantHangups)
				}
				if got := res.End.Sub(res.Start); got != tt.wantEnd {
					t.Errorf("took %v, want %v", got, tt.wantEnd)
				}
				if t.Failed() {
					for _, st := range res.Timeline {
						t.Logf("%8v %v", st.At.Sub(res.Start), st)
					}
				}
			})
		})
	}
}

// TestDialogueTimeline checks the whole timeline of a barge-in: the
// interrupted greeting, the keys with their sources, the success prompt and
// the hang-up, with exact times.
func TestDialogueTimeline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLine()
		l.At(1*s, func() { l.PressFrom(dtmf.SourceInband, "*") })
		l.PressAt(2*s, "#")
		l.PressAt(3*s, "1") // during the success prompt: ignored
		res := runDialogue(t, t.Context(), enroll.DialogueConfig{}, l)
		start := res.Start
		type step struct {
			at, end time.Duration
			str     string
		}
		want := []step{
			{0, 1 * s, "prompt greeting (interrupted)"},
			{1 * s, 0, "key * inband"},
			{2 * s, 0, "key # rfc4733"},
			{2 * s, 4 * s, "prompt success"},
			{3 * s, 0, "key 1 rfc4733 (ignored)"},
			{4 * s, 0, "hangup"},
		}
		if len(res.Timeline) != len(want) {
			t.Fatalf("timeline has %d steps, want %d: %v", len(res.Timeline), len(want), res.Timeline)
		}
		for i, w := range want {
			st := res.Timeline[i]
			var end time.Duration
			if st.Kind == enroll.StepPrompt {
				end = st.End.Sub(start)
			}
			if got := st.At.Sub(start); got != w.at || end != w.end || st.String() != w.str {
				t.Errorf("step %d: %v %v %q, want %v %v %q", i, got, end, st, w.at, w.end, w.str)
			}
		}
		if res.Omitted != 0 {
			t.Errorf("Omitted = %d", res.Omitted)
		}
	})
}

// TestDialogueContextCause: the longest call allowed (a deadline) and a
// shutdown with a cause both end the dialogue as failed with that cause.
func TestDialogueContextCause(t *testing.T) {
	t.Run("deadline", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			l := newLine()
			ctx, cancel := context.WithTimeout(t.Context(), 20*s)
			defer cancel()
			res := runDialogue(t, ctx, enroll.DialogueConfig{}, l)
			if res.Outcome != enroll.OutcomeFailed || !errors.Is(res.Cause, context.DeadlineExceeded) {
				t.Errorf("outcome %s, cause %v", res.Outcome, res.Cause)
			}
			if got := res.End.Sub(res.Start); got != 20*s || l.Hangups() != 1 {
				t.Errorf("took %v, %d hangups", got, l.Hangups())
			}
		})
	})
	t.Run("cause", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			l := newLine()
			shutdown := errors.New("shutting down")
			ctx, cancel := context.WithCancelCause(t.Context())
			time.AfterFunc(3*s, func() { cancel(shutdown) })
			res := runDialogue(t, ctx, enroll.DialogueConfig{}, l)
			if res.Outcome != enroll.OutcomeFailed || !errors.Is(res.Cause, shutdown) {
				t.Errorf("outcome %s, cause %v", res.Outcome, res.Cause)
			}
			var oe *enroll.OutcomeError
			if err := res.Err(); !errors.As(err, &oe) || oe.Outcome != enroll.OutcomeFailed || oe.Outcome.ExitCode() != 20 {
				t.Errorf("Err() = %v", err)
			}
		})
	})
}

// Challenge mode.

// Prompt lengths of the challenge tests.
const (
	challengeLen = 10 * s
	digitLen     = s
)

// challengeLine is newLine with challenge mode's prompts.
func challengeLine() *enrolltest.FakeLine {
	l := newLine()
	l.SetPromptLength(enroll.PromptChallenge, challengeLen)
	l.SetPromptLength(enroll.PromptChallengeWrong, 3*s)
	l.SetPromptLength(enroll.PromptChallengeRepeat, s)
	l.SetPromptLength(enroll.PromptChallengeEnd, 2*s)
	for d := dtmf.Key('0'); d <= '9'; d++ {
		l.SetPromptLength(enroll.PromptDigit(d), digitLen)
	}
	return l
}

// pressHeard presses, at after from the start of the nth play of p, the
// code last read out, wrapped in before and after (e.g. "*" and "#"):
// what a person does who listens to the code.
func pressHeard(l *enrolltest.FakeLine, p enroll.PromptID, nth int, after time.Duration, before, end string) {
	l.OnPlay(p, nth, after, func() { l.Press(before + l.LastCode() + end) })
}

// heard is a script that presses the code it heard at after from the
// start of the first play of p, with before first and # after it.
func heard(p enroll.PromptID, after time.Duration, before string) func(*enrolltest.FakeLine) {
	return func(l *enrolltest.FakeLine) { pressHeard(l, p, 1, after, before, "#") }
}

// quietLog returns a debug logger into a buffer, without times and
// durations, so that the buffer holds no digits but those the dialogue
// chose to log.
func quietLog() (*slog.Logger, *bytes.Buffer) {
	var buf bytes.Buffer
	h := slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug, ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey || a.Key == "duration" {
			return slog.Attr{}
		}
		return a
	}})
	return slog.New(h), &buf
}

// checkCodeHidden fails when a code read out on l shows in the result or
// the log: no digit prompt named in the timeline, no digit key unmasked.
func checkCodeHidden(t *testing.T, l *enrolltest.FakeLine, res enroll.Result, log string) {
	t.Helper()
	for _, st := range res.Timeline {
		if strings.HasPrefix(string(st.Prompt), "digit-") {
			t.Errorf("timeline names a digit prompt: %v", st)
		}
		if st.Kind == enroll.StepKey && st.Key >= '0' && st.Key <= '9' {
			t.Errorf("timeline holds digit key %v", st)
		}
		if st.Kind == enroll.StepKey && st.Masked && st.Key != 0 {
			t.Errorf("masked key step %v keeps its key", st)
		}
	}
	for _, k := range res.Keys() {
		if k.Key >= '0' && k.Key <= '9' {
			t.Errorf("Result.Keys holds digit %v", k)
		}
	}
	if strings.Contains(log, "digit-") {
		t.Errorf("log names a digit prompt:\n%s", log)
	}
	for _, c := range l.Codes() {
		if hasNumber(log, c) {
			t.Errorf("log holds the code %s:\n%s", c, log)
		}
	}
}

// hasNumber reports whether n stands in s as a number of its own, not as
// part of a longer run of digits ("rfc4733" holds no code "733").
func hasNumber(s, n string) bool {
	return regexp.MustCompile(`(^|[^0-9])` + regexp.QuoteMeta(n) + `([^0-9]|$)`).MatchString(s)
}

func TestDialogueChallenge(t *testing.T) {
	tests := []struct {
		name        string
		digits      int
		script      func(l *enrolltest.FakeLine)
		want        enroll.Outcome
		wantPrompts string // with each reading of the code as "code"
		wantKeys    string // the keys that counted, digits masked as ?
		wantChecks  string // the StepChallenge steps: c correct, x incorrect
	}{
		{name: "the code heard, then #, during the repeat", script: heard(enroll.PromptChallengeRepeat, 200*time.Millisecond, ""),
			want: enroll.OutcomeVerified, wantPrompts: "challenge code challenge-repeat! success", wantKeys: "???#", wantChecks: "c"},
		{name: "analog: * then the code then #, after the round", script: heard(enroll.PromptChallengeEnd, 3*s, "*"),
			want: enroll.OutcomeVerified, wantPrompts: "challenge code challenge-repeat code challenge-end success", wantKeys: "*???#", wantChecks: "c"},
		{name: "six digits", digits: 6, script: heard(enroll.PromptChallengeEnd, 500*time.Millisecond, "*"),
			want: enroll.OutcomeVerified, wantPrompts: "challenge code challenge-repeat code challenge-end! success", wantKeys: "*??????#", wantChecks: "c"},
		{
			name: "# alone, like a replayed greeting, each round: wrong every time",
			script: func(l *enrolltest.FakeLine) {
				l.OnPlay(enroll.PromptChallengeRepeat, 0, 100*time.Millisecond, func() { l.Press("#") })
			},
			want:        enroll.OutcomeWrongInput,
			wantPrompts: "challenge code challenge-repeat! challenge-wrong code challenge-repeat! challenge-wrong code challenge-repeat! goodbye",
			wantKeys:    "###", wantChecks: "xxx",
		},
		{
			name: "0# after the code reports fraud",
			script: func(l *enrolltest.FakeLine) {
				l.OnPlay(enroll.PromptChallengeEnd, 1, s, func() { l.Press("0#") })
			},
			want:        enroll.OutcomeFraudReported,
			wantPrompts: "challenge code challenge-repeat code challenge-end! fraud",
			wantKeys:    "?#",
		},
		{
			name: "*0# too",
			script: func(l *enrolltest.FakeLine) {
				l.OnPlay(enroll.PromptChallengeRepeat, 1, 0, func() { l.PressFrom(dtmf.SourceInband, "*0#") })
			},
			want:        enroll.OutcomeFraudReported,
			wantPrompts: "challenge code challenge-repeat! fraud",
			wantKeys:    "*?#",
		},
		{
			name: "keys during the greeting and the first reading are ignored",
			script: func(l *enrolltest.FakeLine) {
				l.OnPlay(enroll.PromptChallenge, 1, s, func() { l.Press("0#") })
				// Typing along while the code is read out: too early.
				l.OnPlay(enroll.PromptChallengeRepeat, 1, 0, func() {})
				l.At(challengeLen+digitLen+100*time.Millisecond, func() { l.Press("1#") })
			},
			want:        enroll.OutcomeNoInput,
			wantPrompts: "challenge code challenge-repeat code challenge-end challenge code challenge-repeat code challenge-end challenge code challenge-repeat code challenge-end goodbye",
		},
		{
			name: "the code typed along with its first reading and # after: the digits were too early",
			script: func(l *enrolltest.FakeLine) {
				// The digits go while the code is being read; they are
				// ignored, so the # after it is # alone.
				l.At(challengeLen+500*time.Millisecond, func() { l.Press("1") })
				l.At(challengeLen+1500*time.Millisecond, func() { l.Press("2") })
				l.At(challengeLen+2500*time.Millisecond, func() { l.Press("3") })
				l.OnPlay(enroll.PromptChallengeRepeat, 1, 100*time.Millisecond, func() { l.Press("#") })
				pressHeard(l, enroll.PromptChallengeWrong, 1, 3*s+3*digitLen+200*time.Millisecond, "", "#")
			},
			want:        enroll.OutcomeVerified,
			wantPrompts: "challenge code challenge-repeat! challenge-wrong code challenge-repeat! success",
			wantKeys:    "#???#", wantChecks: "xc",
		},
		{
			name: "a wrong code, then the new code: verified",
			script: func(l *enrolltest.FakeLine) {
				l.OnPlay(enroll.PromptChallengeRepeat, 1, 0, func() {
					// Not the code: each digit one more.
					var b []byte
					for _, c := range []byte(l.LastCode()) {
						b = append(b, '0'+(c-'0'+1)%10)
					}
					l.Press(string(b) + "#")
				})
				pressHeard(l, enroll.PromptChallengeEnd, 1, 0, "", "#") // round 1 had none
			},
			want:        enroll.OutcomeVerified,
			wantPrompts: "challenge code challenge-repeat! challenge-wrong code challenge-repeat code challenge-end! success",
			wantKeys:    "???#???#", wantChecks: "xc",
		},
		{
			name: "the first code entered in the second round: wrong, a new code each round",
			script: func(l *enrolltest.FakeLine) {
				var first string
				l.OnPlay(enroll.PromptChallengeRepeat, 1, 0, func() { first = l.LastCode(); l.Press("#") })
				l.OnPlay(enroll.PromptChallengeRepeat, 2, 0, func() {
					if c := l.LastCode(); c == first {
						// 1 in 1000: the same code came twice; enter
						// another wrong one of the same length.
						first = c[:len(c)-1] + string('0'+(c[len(c)-1]-'0'+1)%10)
					}
					l.Press(first + "#")
				})
				l.OnPlay(enroll.PromptChallengeRepeat, 3, 0, func() { l.Press("#") })
			},
			want:        enroll.OutcomeWrongInput,
			wantPrompts: "challenge code challenge-repeat! challenge-wrong code challenge-repeat! challenge-wrong code challenge-repeat! goodbye",
			wantKeys:    "#???##", wantChecks: "xxx",
		},
		{
			name: "silence: the same code is read again each round",
			script: func(l *enrolltest.FakeLine) {
				pressHeard(l, enroll.PromptChallengeRepeat, 3, 0, "", "#")
			},
			want:        enroll.OutcomeVerified,
			wantPrompts: "challenge code challenge-repeat code challenge-end challenge code challenge-repeat code challenge-end challenge code challenge-repeat! success",
			wantKeys:    "???#", wantChecks: "c",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := challengeLine()
				tt.script(l)
				log, buf := quietLog()
				n := tt.digits
				if n == 0 {
					n = enroll.DefaultChallengeDigits
				}
				res := runDialogue(t, t.Context(), enroll.DialogueConfig{ChallengeDigits: n, Logger: log}, l)
				if res.Outcome != tt.want {
					t.Errorf("outcome %v (cause %v), want %v", res.Outcome, res.Cause, tt.want)
				}
				if got := stepPrompts(res); got != tt.wantPrompts {
					t.Errorf("prompts\n got %s\nwant %s", got, tt.wantPrompts)
				}
				var k strings.Builder
				for _, kp := range res.Keys() {
					k.WriteString(kp.Key.String())
				}
				if k.String() != tt.wantKeys {
					t.Errorf("keys %q, want %q", k.String(), tt.wantKeys)
				}
				var checks strings.Builder
				for _, st := range res.Timeline {
					if st.Kind == enroll.StepChallenge {
						checks.WriteString(map[bool]string{true: "c", false: "x"}[st.Correct])
					}
				}
				if checks.String() != tt.wantChecks {
					t.Errorf("challenge steps %q, want %q", checks.String(), tt.wantChecks)
				}
				codes := l.Codes()
				for _, c := range codes {
					if len(c) != n {
						t.Errorf("code %q read out, want %d digits", c, n)
					}
				}
				checkCodeHidden(t, l, res, buf.String())
			})
		})
	}
}

// stepPrompts renders the prompt steps of res's timeline, "!" marking an
// interrupted one.
func stepPrompts(res enroll.Result) string {
	var b strings.Builder
	for _, st := range res.Timeline {
		if st.Kind != enroll.StepPrompt {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(string(st.Prompt))
		if st.Interrupted {
			b.WriteByte('!')
		}
	}
	return b.String()
}

// TestDialogueChallengeReplay is the attack challenge mode is for: a
// voicemail greeting of recorded keypad tones that presses # (or *#, or
// keeps pressing #) at whatever moment it was recorded to. It never
// verifies, whenever the tones come.
func TestDialogueChallengeReplay(t *testing.T) {
	for _, keys := range []string{"#", "*#", "##", "1#"} {
		for at := time.Duration(0); at < 60*s; at += 1700 * time.Millisecond {
			synctest.Test(t, func(t *testing.T) {
				l := challengeLine()
				// The greeting plays its tones at at, and again every 9 s,
				// as a greeting played on a loop would.
				for a := at; a < 90*s; a += 9 * s {
					l.PressAt(a, keys)
				}
				res := runDialogue(t, t.Context(), enroll.DialogueConfig{ChallengeDigits: 3}, l)
				if res.Outcome == enroll.OutcomeVerified || res.Outcome == enroll.OutcomeFailed {
					t.Errorf("%q at %v: outcome %v (cause %v)", keys, at, res.Outcome, res.Cause)
				}
			})
		}
	}
}

func TestDialogueChallengeConfig(t *testing.T) {
	for _, n := range []int{-1, 1, 2, 7, 8} {
		if _, err := enroll.NewDialogue(enroll.DialogueConfig{ChallengeDigits: n}); err == nil {
			t.Errorf("ChallengeDigits %d accepted", n)
		}
	}
	for _, n := range []int{0, 3, 4, 6} {
		d, err := enroll.NewDialogue(enroll.DialogueConfig{ChallengeDigits: n})
		if err != nil {
			t.Errorf("ChallengeDigits %d: %v", n, err)
		} else if d.Config().ChallengeDigits != n {
			t.Errorf("ChallengeDigits %d became %d", n, d.Config().ChallengeDigits)
		}
	}
}

// TestDialogueChallengeOff: without challenge mode the flow is the one
// users know, # alone verifies, and keys are not masked.
func TestDialogueChallengeOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := challengeLine()
		l.OnPlay(enroll.PromptGreeting, 1, s, func() { l.Press("1#") })
		l.OnPlay(enroll.PromptWrongKey, 1, s, func() { l.Press("#") })
		res := runDialogue(t, context.Background(), enroll.DialogueConfig{}, l)
		if res.Outcome != enroll.OutcomeVerified || keys(res) != "1##" {
			t.Errorf("outcome %v keys %q", res.Outcome, keys(res))
		}
		for _, st := range res.Timeline {
			if st.Masked || st.Kind == enroll.StepChallenge {
				t.Errorf("step %v in default mode", st)
			}
		}
	})
}

// TestDialogueChallengePlayFails: a digit's prompt that cannot be played
// fails the call with a cause that names no digit.
func TestDialogueChallengePlayFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := challengeLine()
		for d := dtmf.Key('0'); d <= '9'; d++ {
			l.FailPlay(enroll.PromptDigit(d), 0, errors.New("audio: unknown prompt \"digit-"+string(rune(d))+"\""))
		}
		res := runDialogue(t, t.Context(), enroll.DialogueConfig{ChallengeDigits: 3}, l)
		if res.Outcome != enroll.OutcomeFailed || res.Cause == nil || strings.Contains(res.Cause.Error(), "digit-") {
			t.Errorf("outcome %v cause %v", res.Outcome, res.Cause)
		}
	})
}

// A digit's prompt that fails because media stopped, before the line says
// so, ends the call as the line's end (hung-up) with a cause that names no
// digit.
func TestDialogueChallengeMediaStopsInCode(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := challengeLine()
		for d := dtmf.Key('0'); d <= '9'; d++ {
			l.FailPlay(enroll.PromptDigit(d), 0, fmt.Errorf("play digit-%c: %w", d, enroll.ErrMediaTimeout))
		}
		d, err := enroll.NewDialogue(enroll.DialogueConfig{ChallengeDigits: 3})
		if err != nil {
			t.Fatal(err)
		}
		res := d.Run(t.Context(), l)
		l.End(enroll.ErrMediaTimeout) // what the line does next, on its own
		if res.Outcome != enroll.OutcomeHungUp || res.Cause == nil || strings.Contains(res.Cause.Error(), "digit") {
			t.Errorf("outcome %v cause %v; want hung-up, no digit named", res.Outcome, res.Cause)
		}
	})
}

// Keys sent all at once just before the far end hangs up get no more
// guesses than the live dialogue gives: in challenge mode none after a
// wrong code (the code would have changed), and none after the
// MaxWrongTries-th wrong sequence.
func TestDialogueGuessesBeforeHangup(t *testing.T) {
	wrongThenRight := func(l *enrolltest.FakeLine) {
		l.OnPlay(enroll.PromptChallengeRepeat, 1, 100*time.Millisecond, func() {
			code := l.LastCode()
			wrong := string('0'+(code[0]-'0'+1)%10) + code[1:]
			l.Press(wrong + "#" + code + "#")
			l.HangUp()
		})
	}
	cases := []struct {
		name   string
		cfg    enroll.DialogueConfig
		line   func() *enrolltest.FakeLine
		script func(l *enrolltest.FakeLine)
	}{
		{"challenge: a wrong code, then the right one", enroll.DialogueConfig{ChallengeDigits: 3}, challengeLine, wrongThenRight},
		{"# after three wrong sequences", enroll.DialogueConfig{}, newLine, func(l *enrolltest.FakeLine) {
			l.At(time.Second, func() {
				l.Press("1#1#1##")
				l.HangUp()
			})
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for range 20 {
				synctest.Test(t, func(t *testing.T) {
					l := c.line()
					c.script(l)
					res := runDialogue(t, t.Context(), c.cfg, l)
					if res.Outcome == enroll.OutcomeVerified {
						t.Fatalf("verified by keys sent before the hang-up; timeline %v", res.Timeline)
					}
				})
			}
		})
	}
}
