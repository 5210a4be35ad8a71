package enroll_test

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"denwa/enroll"
	"denwa/enroll/enrolltest"
)

func TestDialogueConfig(t *testing.T) {
	d, err := enroll.NewDialogue(enroll.DialogueConfig{})
	if err != nil {
		t.Fatal(err)
	}
	got := d.Config()
	if got.GreetingRepeats != 3 || got.MaxWrongTries != 3 || got.PostGreetingWait != 5*time.Second ||
		got.InterKeyTimeout != 3*time.Second || got.HangupTimeout != 5*time.Second || got.Logger == nil {
		t.Errorf("defaults: %+v", got)
	}
	bad := []enroll.DialogueConfig{
		{GreetingRepeats: -1},
		{GreetingRepeats: 11},
		{MaxWrongTries: -1},
		{MaxWrongTries: 100},
		{PostGreetingWait: -time.Second},
		{PostGreetingWait: 2 * time.Minute},
		{InterKeyTimeout: -1},
		{HangupTimeout: time.Hour},
	}
	for _, cfg := range bad {
		if _, err := enroll.NewDialogue(cfg); !errors.Is(err, enroll.ErrInvalidConfig) {
			t.Errorf("NewDialogue(%+v) error = %v, want ErrInvalidConfig", cfg, err)
		}
	}
	ok := enroll.DialogueConfig{GreetingRepeats: 10, MaxWrongTries: 1, PostGreetingWait: time.Minute, InterKeyTimeout: time.Millisecond}
	if _, err := enroll.NewDialogue(ok); err != nil {
		t.Errorf("NewDialogue(%+v) = %v", ok, err)
	}
}

func TestPrompts(t *testing.T) {
	got := enroll.Prompts()
	want := []enroll.PromptID{"greeting", "wrong-key", "success", "fraud", "goodbye",
		"challenge", "challenge-repeat", "challenge-end", "challenge-wrong",
		"digit-0", "digit-1", "digit-2", "digit-3", "digit-4", "digit-5", "digit-6", "digit-7", "digit-8", "digit-9"}
	if len(got) != len(want) {
		t.Fatalf("Prompts() = %v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("Prompts()[%d] = %q, want %q", i, got[i], want[i])
		}
	}
}

func TestStepString(t *testing.T) {
	tests := []struct {
		st   enroll.Step
		want string
	}{
		{enroll.Step{Kind: enroll.StepPrompt, Prompt: enroll.PromptGreeting}, "prompt greeting"},
		{enroll.Step{Kind: enroll.StepPrompt, Prompt: enroll.PromptWrongKey, Interrupted: true}, "prompt wrong-key (interrupted)"},
		{enroll.Step{Kind: enroll.StepKey, Key: '#', Source: 2}, "key # rfc4733"},
		{enroll.Step{Kind: enroll.StepKey, Key: '5', Source: 1, Ignored: true}, "key 5 inband (ignored)"},
		{enroll.Step{Kind: enroll.StepHangup}, "hangup"},
		{enroll.Step{Kind: enroll.StepHangup, Remote: true, Err: enroll.ErrMediaTimeout}, "hangup far end: enroll: media timeout"},
		{enroll.Step{}, "step(0)"},
	}
	for _, tt := range tests {
		if got := tt.st.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
	for k, want := range map[enroll.StepKind]string{0: "unknown", 1: "prompt", 2: "key", 3: "hangup", 9: "unknown"} {
		if got := k.String(); got != want {
			t.Errorf("StepKind(%d).String() = %q, want %q", k, got, want)
		}
	}
}

// TestDialogueTimelineBounded floods keys during the final prompt: the
// timeline stops growing at MaxTimeline and counts the rest.
func TestDialogueTimelineBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLine()
		l.SetPromptLength(enroll.PromptSuccess, 10*time.Second)
		l.PressAt(time.Second, "#")
		const flood = enroll.MaxTimeline + 50
		for i := range flood {
			l.OnPlay(enroll.PromptSuccess, 1, time.Duration(i)*10*time.Millisecond, func() { l.Press("1") })
		}
		res := runDialogue(t, t.Context(), enroll.DialogueConfig{}, l)
		if res.Outcome != enroll.OutcomeVerified {
			t.Errorf("outcome %s", res.Outcome)
		}
		if len(res.Timeline) != enroll.MaxTimeline || res.Omitted == 0 {
			t.Errorf("timeline %d steps, %d omitted", len(res.Timeline), res.Omitted)
		}
		if got := keys(res); got != "#" {
			t.Errorf("keys %q", got)
		}
	})
}

func TestDialogueLogs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var buf bytes.Buffer
		logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
		l := newLine()
		l.PressAt(time.Second, "*#")
		res := runDialogue(t, t.Context(), enroll.DialogueConfig{Logger: logger}, l)
		if res.Outcome != enroll.OutcomeVerified {
			t.Fatalf("outcome %s", res.Outcome)
		}
		out := buf.String()
		for _, want := range []string{
			`msg="enroll: barge-in" prompt=greeting key=*`,
			`msg="enroll: sequence" keys=*# verdict=verify`,
			`level=INFO msg="enroll: dialogue ended" outcome=verified duration=3s`,
		} {
			if !strings.Contains(out, want) {
				t.Errorf("log lacks %q:\n%s", want, out)
			}
		}
	})
}

// TestDialogueConcurrentRuns runs one Dialogue over several lines at once.
func TestDialogueConcurrentRuns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d, err := enroll.NewDialogue(enroll.DialogueConfig{})
		if err != nil {
			t.Fatal(err)
		}
		scripts := map[string]enroll.Outcome{"#": enroll.OutcomeVerified, "0#": enroll.OutcomeFraudReported, "": enroll.OutcomeNoInput}
		done := make(chan struct{})
		for k, want := range scripts {
			go func() {
				defer func() { done <- struct{}{} }()
				l := enrolltest.NewFakeLine()
				defer l.Close()
				if k != "" {
					l.PressAt(time.Second, k)
				}
				if res := d.Run(t.Context(), l); res.Outcome != want {
					t.Errorf("%q: outcome %s, want %s", k, res.Outcome, want)
				}
			}()
		}
		for range scripts {
			<-done
		}
	})
}
