package enroll_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"denwa/enroll"
	"denwa/enroll/enrolltest"
)

// Outcomes say what the person did: a line that goes dead or is hung up by
// the far end never ends failed; failed is for denwa's own faults.

// runLine runs one dialogue on line inside the caller's synctest bubble,
// checks that nothing of it is left running, and returns its result.
func runLine(t *testing.T, line enroll.Line) enroll.Result {
	t.Helper()
	d, err := enroll.NewDialogue(enroll.DialogueConfig{})
	if err != nil {
		t.Fatal(err)
	}
	res := d.Run(t.Context(), line)
	<-line.Done() // Run leaves the call ended (a lagging line says so a little later)
	synctest.Wait()
	checkNoDialogueGoroutines(t)
	return res
}

func TestDialogueQuietLine(t *testing.T) {
	tests := []struct {
		name   string
		script func(l *enrolltest.FakeLine)
		want   enroll.Outcome
	}{
		{
			// 1 at 1 s is judged wrong at 4 s; the wrong-key prompt and
			// the greeting play; the media stops during the wait after it.
			name:   "a wrong key, then no media",
			script: func(l *enrolltest.FakeLine) { l.PressAt(1*s, "1") },
			want:   enroll.OutcomeWrongInput,
		},
		{
			name:   "a wrong sequence with its #, then no media",
			script: func(l *enrolltest.FakeLine) { l.PressAt(1*s, "12#") },
			want:   enroll.OutcomeWrongInput,
		},
		{
			name:   "no key, no media",
			script: func(l *enrolltest.FakeLine) {},
			want:   enroll.OutcomeHungUp,
		},
		{
			name:   "a lone * is no wrong key",
			script: func(l *enrolltest.FakeLine) { l.PressAt(1*s, "*") },
			want:   enroll.OutcomeHungUp,
		},
	}
	// The media stops at each of these moments: during a prompt (Play
	// returns the line's error) and during a wait for keys.
	for _, at := range []time.Duration{9 * s, 15 * s, 20 * s} {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s at %v", tt.name, at), func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					l := newLine()
					tt.script(l)
					l.At(at, func() { l.End(enroll.ErrMediaTimeout) })
					res := runLine(t, l)
					if res.Outcome != tt.want {
						t.Errorf("outcome %s, want %s (cause %v); played %q", res.Outcome, tt.want, res.Cause, played(l))
					}
					if !errors.Is(res.Cause, enroll.ErrMediaTimeout) || !strings.Contains(res.Cause.Error(), "media timeout") {
						t.Errorf("cause %v, want the media timeout", res.Cause)
					}
					if got := res.End.Sub(res.Start); got != at {
						t.Errorf("took %v, want %v", got, at)
					}
					if l.Hangups() != 0 {
						t.Errorf("%d hangups on a line that had ended", l.Hangups())
					}
				})
			})
		}
	}
}

// TestDialogueQuietLineCutsASequence: the media stops while a wrong
// sequence is being typed (before the inter-key timeout judges it).
func TestDialogueQuietLineCutsASequence(t *testing.T) {
	for _, tt := range []struct {
		keys string
		want enroll.Outcome
	}{
		{"1", enroll.OutcomeWrongInput},
		{"*5", enroll.OutcomeWrongInput},
		{"0", enroll.OutcomeHungUp},  // the start of 0#
		{"*0", enroll.OutcomeHungUp}, // the start of *0#
		{"*", enroll.OutcomeHungUp},
	} {
		t.Run(tt.keys, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := newLine()
				l.PressAt(1*s, tt.keys)
				l.At(2*s, func() { l.End(enroll.ErrMediaTimeout) })
				res := runLine(t, l)
				if res.Outcome != tt.want || !errors.Is(res.Cause, enroll.ErrMediaTimeout) {
					t.Errorf("outcome %s, cause %v; want %s, media timeout", res.Outcome, res.Cause, tt.want)
				}
			})
		})
	}
}

// errTransport stands for a transport's own error that a line's Play may
// return as the call ends (media's "session closed" after a BYE).
var errTransport = errors.New("media: session closed")

// maskedLine returns errTransport from Play where the line's end would
// be: Play's error says nothing, the line's Done and Err say it all.
type maskedLine struct{ *enrolltest.FakeLine }

func (l maskedLine) Play(ctx context.Context, p enroll.PromptID) error {
	err := l.FakeLine.Play(ctx, p)
	if errors.Is(err, enroll.ErrHungUp) || errors.Is(err, enroll.ErrMediaTimeout) {
		return errTransport
	}
	return err
}

// laggingLine is a maskedLine whose Done closes lag after the far end
// ended the call: Play fails before the line says it has ended.
type laggingLine struct {
	maskedLine
	done chan struct{}
}

func newLaggingLine(l *enrolltest.FakeLine, lag time.Duration) *laggingLine {
	ll := &laggingLine{maskedLine: maskedLine{l}, done: make(chan struct{})}
	go func() {
		<-l.Done()
		time.Sleep(lag)
		close(ll.done)
	}()
	return ll
}

func (l *laggingLine) Done() <-chan struct{} { return l.done }

// TestDialogueFarEndEndsAnyMoment ends the line from the far end (a BYE,
// or the media stopping) at a random moment of a dialogue with random
// keys, on lines that report the end at once, through Play's error only,
// or late: the outcome is never failed, and it says what the person did.
func TestDialogueFarEndEndsAnyMoment(t *testing.T) {
	rng := rand.New(rand.NewPCG(10, 3))
	const keyChoice = "##0011**59"
	for i := range 200 {
		var (
			endAt    = time.Duration(rng.Int64N(int64(45 * s)))
			media    = rng.IntN(3) == 0
			kind     = rng.IntN(3) // 0 plain, 1 masked, 2 lagging
			lag      = time.Duration(1+rng.IntN(50)) * time.Millisecond
			presses  []string
			pressAts []time.Duration
		)
		for range rng.IntN(4) {
			presses = append(presses, string(keyChoice[rng.IntN(len(keyChoice))]))
			pressAts = append(pressAts, time.Duration(rng.Int64N(int64(40*s))))
		}
		name := fmt.Sprintf("%d end=%v media=%v kind=%d keys=%v at=%v", i, endAt, media, kind, presses, pressAts)
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := newLine()
				for j := range presses {
					l.PressAt(pressAts[j], presses[j])
				}
				endErr := enroll.ErrHungUp
				if media {
					endErr = enroll.ErrMediaTimeout
				}
				l.At(endAt, func() { l.End(endErr) })
				var line enroll.Line = l
				switch kind {
				case 1:
					line = maskedLine{l}
				case 2:
					line = newLaggingLine(l, lag)
				}
				res := runLine(t, line)
				l.Close()
				checkFarEndOutcome(t, res, endErr)
				if t.Failed() {
					t.Log(name)
					for _, st := range res.Timeline {
						t.Logf("%8v %v", st.At.Sub(res.Start), st)
					}
				}
			})
		})
	}
}

// checkFarEndOutcome checks the outcome of a dialogue whose line the far
// end ended with endErr, unless the dialogue had decided and hung up first.
func checkFarEndOutcome(t *testing.T, res enroll.Result, endErr error) {
	t.Helper()
	final := false
	for _, st := range res.Timeline {
		if st.Kind == enroll.StepPrompt && (st.Prompt == enroll.PromptSuccess || st.Prompt == enroll.PromptFraud || st.Prompt == enroll.PromptGoodbye) {
			final = true
		}
	}
	ks := keys(res)
	switch res.Outcome {
	case enroll.OutcomeHungUp:
		if final {
			t.Errorf("hung-up after the outcome was decided by a final prompt")
		}
		if !errors.Is(res.Cause, endErr) {
			t.Errorf("hung-up with cause %v, want %v", res.Cause, endErr)
		}
	case enroll.OutcomeVerified:
		if !strings.Contains(ks, "#") {
			t.Errorf("verified with keys %q", ks)
		}
	case enroll.OutcomeFraudReported:
		if !strings.Contains(ks, "0") {
			t.Errorf("fraud-reported with keys %q", ks)
		}
	case enroll.OutcomeNoInput:
		if !final {
			t.Errorf("no-input without the goodbye prompt")
		}
	case enroll.OutcomeWrongInput:
		if !final && !(errors.Is(endErr, enroll.ErrMediaTimeout) && errors.Is(res.Cause, enroll.ErrMediaTimeout)) {
			t.Errorf("wrong-input without the goodbye prompt nor a media timeout (cause %v)", res.Cause)
		}
		if ks == "" {
			t.Errorf("wrong-input with no key")
		}
	default:
		t.Errorf("outcome %s (cause %v): the far end ending the call is never that", res.Outcome, res.Cause)
	}
}
