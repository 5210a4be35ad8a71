package enroll_test

import (
	"context"
	"errors"
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
