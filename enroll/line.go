package enroll

import (
	"context"
	"time"

	"denwa/dtmf"
)

// PromptID names a prompt the dialogue plays. The audio package's prompt
// catalog uses the same names for its recordings; cmd/denwa maps one to the
// other.
type PromptID string

// The prompts of the verification dialogue.
const (
	PromptGreeting PromptID = "greeting"  // "this is …; press # (analog lines: * then #); 0# if you did not ask for this call"
	PromptWrongKey PromptID = "wrong-key" // "that key is not right; …"
	PromptSuccess  PromptID = "success"   // "thank you, your phone is verified; goodbye"
	PromptFraud    PromptID = "fraud"     // "we have recorded your report; goodbye"
	PromptGoodbye  PromptID = "goodbye"   // "we could not confirm; goodbye" (no input, too many wrong keys)

	// Challenge mode ([DialogueConfig.ChallengeDigits]) plays these
	// instead of the greeting and the wrong-key prompt, with the code
	// read out digit by digit (PromptDigit) after PromptChallenge (or
	// PromptChallengeWrong) and again after PromptChallengeRepeat.
	PromptChallenge       PromptID = "challenge"        // "this is …; press the code you hear, then # (analog lines: * first); 0# if you did not ask for this call; the code is"
	PromptChallengeRepeat PromptID = "challenge-repeat" // "once again"
	PromptChallengeEnd    PromptID = "challenge-end"    // "press the code, then #"
	PromptChallengeWrong  PromptID = "challenge-wrong"  // "that is not right; the new code is"
)

// PromptCode names the reading of a challenge code in a [Result]'s
// timeline and in the dialogue's log. It is not a prompt of its own: the
// line plays one PromptDigit per digit, and neither the timeline nor the
// log names them.
const PromptCode PromptID = "code"

// PromptDigit returns the prompt that reads out digit d ('0' to '9'),
// "digit-0" … "digit-9", or "" for any other d.
func PromptDigit(d dtmf.Key) PromptID {
	if d < '0' || d > '9' {
		return ""
	}
	return PromptID("digit-" + string(rune(d)))
}

// Prompts returns every prompt the dialogue may play, challenge mode's
// included, so that a prompt catalog can be checked for completeness at
// start-up. The slice is new on each call.
func Prompts() []PromptID {
	ps := []PromptID{PromptGreeting, PromptWrongKey, PromptSuccess, PromptFraud, PromptGoodbye,
		PromptChallenge, PromptChallengeRepeat, PromptChallengeEnd, PromptChallengeWrong}
	for d := dtmf.Key('0'); d <= '9'; d++ {
		ps = append(ps, PromptDigit(d))
	}
	return ps
}

func (p PromptID) String() string { return string(p) }

// KeyPress is one key the far end pressed, as a [Line] delivers it.
type KeyPress struct {
	Key    dtmf.Key
	Source dtmf.Source // RFC 4733 event, in-band tone or SIP INFO; kept for the audit trail
	At     time.Time   // when the key began, on the line's clock; zero means "when it was received"
}

func (k KeyPress) String() string { return k.Key.String() + " (" + k.Source.String() + ")" }

// Line is an answered call, as the verification dialogue sees it: it can
// play a prompt, it delivers the keys the far end presses, and it can be
// hung up. cmd/denwa adapts a SIP call to it: Play to the call's prompt
// player (a paced RTP sender that stops when its context is cancelled), Keys
// to the RTP receiver's merged DTMF keys, Hangup to a BYE, Done and Err to
// the dialog's end (a BYE from the far end, a media timeout).
//
// The dialogue calls Play from one goroutine at a time, never two Plays at
// once, while another goroutine reads Keys and watches Done: Keys, Done and
// Err must be safe to call concurrently with Play and with each other.
// The dialogue never closes anything it is given.
type Line interface {
	// Play plays the prompt to its end and returns nil. It returns early
	// when ctx is cancelled (with an error wrapping ctx.Err(); the
	// dialogue cancels it when a key interrupts the prompt) or when the
	// call ends (with an error wrapping [ErrHungUp], [ErrMediaTimeout] or
	// whatever Err reports; media stopping may be reported by Play before
	// the call has ended, wrapping [ErrMediaTimeout]). It must return
	// promptly in both cases: the dialogue waits for it. Any other error
	// means the prompt could not be played, unless the far end had ended
	// the call: the dialogue hangs up and then trusts Err.
	Play(ctx context.Context, prompt PromptID) error

	// Keys returns the channel on which keys arrive, in the order they
	// were pressed, from the answer until the call ends, including while a
	// prompt plays. It returns the same channel on every call. The line
	// must never block forever sending on it: it buffers a few keys and
	// drops the rest when the reader does not keep up. It may be closed
	// once the call has ended.
	Keys() <-chan KeyPress

	// Hangup ends the call from our side (a BYE); ctx bounds how long it
	// may take. The dialogue calls it at most once, and not once it has
	// seen Done closed, but it may still race with the far end's hang-up,
	// which Hangup must tolerate. After it, Done is closed.
	Hangup(ctx context.Context) error

	// Done returns a channel that is closed when the call has ended,
	// whichever side ended it.
	Done() <-chan struct{}

	// Err returns nil while the call is up and after our own Hangup;
	// once the call ended otherwise it tells why: an error wrapping
	// [ErrHungUp] when the far end hung up, [ErrMediaTimeout] when media
	// stopped, or another error (transport failure …).
	Err() error
}
