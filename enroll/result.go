package enroll

import (
	"strconv"
	"time"

	"denwa/dtmf"
)

// Result is a finished verification call: its outcome and, when the call
// was answered, the timeline of the dialogue. The CLI prints it; the audit
// trail keeps the keys and their sources.
type Result struct {
	Outcome Outcome
	// Cause is why the call failed: always set when Outcome is
	// [OutcomeFailed]. For [OutcomeHungUp] it may tell how the line ended
	// (an error wrapping [ErrHungUp] or [ErrMediaTimeout]); otherwise nil.
	Cause error
	// Start and End bound the dialogue: from Run being called to its
	// return.
	Start, End time.Time
	// Timeline lists what happened, in order: each prompt played, each
	// key received, the hang-up. It holds at most [MaxTimeline] steps;
	// Omitted counts those left out after that.
	Timeline []Step
	Omitted  int
}

// MaxTimeline is the most steps a Result's Timeline holds. A dialogue
// needs far fewer (keys beyond a sequence's length are wrong, three wrong
// sequences end the call); the limit only bounds what a line flooding keys
// can make us keep.
const MaxTimeline = 256

// Err returns nil when the call was verified, and an [*OutcomeError]
// with the outcome and cause otherwise.
func (r *Result) Err() error {
	if r.Outcome == OutcomeVerified {
		return nil
	}
	return &OutcomeError{Outcome: r.Outcome, Cause: r.Cause}
}

// Keys returns the keys of the timeline that the dialogue acted on (not
// those it ignored), in order; a masked digit (challenge mode) has Key
// zero. The slice is new.
func (r *Result) Keys() []KeyPress {
	var ks []KeyPress
	for _, s := range r.Timeline {
		if s.Kind == StepKey && !s.Ignored {
			ks = append(ks, KeyPress{Key: s.Key, Source: s.Source, At: s.At})
		}
	}
	return ks
}

// add appends s to the timeline and returns its index, or -1 when the
// timeline is full.
func (r *Result) add(s Step) int {
	if len(r.Timeline) >= MaxTimeline {
		r.Omitted++
		return -1
	}
	r.Timeline = append(r.Timeline, s)
	return len(r.Timeline) - 1
}

// StepKind tells what a timeline [Step] records.
type StepKind uint8

const (
	StepUnknown   StepKind = iota
	StepPrompt             // a prompt played (or began to)
	StepKey                // a key arrived
	StepHangup             // the call ended: the far end hung up or the line ended, or we hung up
	StepChallenge          // challenge mode: a sequence was judged against the code (Correct)
)

// String returns "prompt", "key", "hangup" or "unknown".
func (k StepKind) String() string {
	switch k {
	case StepPrompt:
		return "prompt"
	case StepKey:
		return "key"
	case StepHangup:
		return "hangup"
	case StepChallenge:
		return "challenge"
	}
	return "unknown"
}

// Step is one entry of a dialogue's timeline. Which fields mean something
// depends on Kind.
type Step struct {
	Kind StepKind
	// At is when the prompt began, the key was pressed (the line's
	// KeyPress.At, or when it was received) or the hang-up happened.
	At time.Time

	// Prompt steps.
	Prompt PromptID
	// End is when the prompt stopped playing.
	End time.Time
	// Interrupted: the prompt stopped before its end, because a key
	// interrupted it (barge-in), the call ended, the dialogue was
	// cancelled or Play failed.
	Interrupted bool

	// Key steps.
	Key    dtmf.Key
	Source dtmf.Source
	// Ignored: the key came after the outcome was decided (during the
	// final prompt), or in challenge mode before the code had been read
	// out in full, and did not count.
	Ignored bool
	// Masked: challenge mode, and the key is a digit. Key is then zero
	// (its String is "?"), so that no code, right or nearly right, leaves
	// the dialogue: not in the timeline, the audit trail or a log.
	Masked bool

	// Challenge steps.
	// Correct: the sequence was the code followed by # (* first or not).
	Correct bool

	// Hangup steps.
	// Remote: the far end hung up or the line ended; false: we hung up.
	Remote bool
	// Err is what Hangup returned when we hung up, or Line.Err when the
	// line ended.
	Err error
}

// String describes the step without its times, as in "prompt greeting
// (interrupted)", "key # rfc4733", "key digit (masked) inband",
// "challenge incorrect" or "hangup far end".
func (s Step) String() string {
	switch s.Kind {
	case StepPrompt:
		str := "prompt " + string(s.Prompt)
		if s.Interrupted {
			str += " (interrupted)"
		}
		return str
	case StepKey:
		str := "key " + s.Key.String() + " " + s.Source.String()
		if s.Masked {
			str = "key digit (masked) " + s.Source.String()
		}
		if s.Ignored {
			str += " (ignored)"
		}
		return str
	case StepHangup:
		str := "hangup"
		if s.Remote {
			str += " far end"
		}
		if s.Err != nil {
			str += ": " + s.Err.Error()
		}
		return str
	case StepChallenge:
		if s.Correct {
			return "challenge correct"
		}
		return "challenge incorrect"
	}
	return "step(" + strconv.Itoa(int(s.Kind)) + ")"
}
