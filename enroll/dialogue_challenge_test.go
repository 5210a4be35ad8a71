package enroll_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"denwa/dtmf"
	"denwa/enroll"
	"denwa/enroll/enrolltest"
)

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
		if strings.Contains(log, c) {
			t.Errorf("log holds the code %s:\n%s", c, log)
		}
	}
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
		{
			name: "the code heard, then #, during the repeat",
			script: func(l *enrolltest.FakeLine) {
				pressHeard(l, enroll.PromptChallengeRepeat, 1, 200*time.Millisecond, "", "#")
			},
			want:        enroll.OutcomeVerified,
			wantPrompts: "challenge code challenge-repeat! success",
			wantKeys:    "???#", wantChecks: "c",
		},
		{
			name: "analog: * then the code then #, after the round",
			script: func(l *enrolltest.FakeLine) {
				pressHeard(l, enroll.PromptChallengeEnd, 1, 3*s, "*", "#")
			},
			want:        enroll.OutcomeVerified,
			wantPrompts: "challenge code challenge-repeat code challenge-end success",
			wantKeys:    "*???#", wantChecks: "c",
		},
		{
			name:   "six digits",
			digits: 6,
			script: func(l *enrolltest.FakeLine) {
				pressHeard(l, enroll.PromptChallengeEnd, 1, 500*time.Millisecond, "*", "#")
			},
			want:        enroll.OutcomeVerified,
			wantPrompts: "challenge code challenge-repeat code challenge-end! success",
			wantKeys:    "*??????#", wantChecks: "c",
		},
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
