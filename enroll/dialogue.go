package enroll

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"denwa/dtmf"
)

// Defaults of [DialogueConfig].
const (
	DefaultGreetingRepeats  = 3
	DefaultMaxWrongTries    = 3
	DefaultPostGreetingWait = 5 * time.Second
	DefaultInterKeyTimeout  = 3 * time.Second
	DefaultHangupTimeout    = 5 * time.Second
	// DefaultChallengeDigits is the length of the code that challenge
	// mode reads out when it is turned on without a length (denwa call
	// --challenge).
	DefaultChallengeDigits = 3
)

// Limits of [DialogueConfig]: larger values are refused. A person does not
// wait longer than this in silence, and an answered call with no input is
// usually voicemail.
const (
	maxRepeats = 10
	maxWait    = time.Minute
)

// Bounds of DialogueConfig.ChallengeDigits. Fewer than 3 digits are
// guessed too often (1 in 100 a try for 2); more than 6 would not leave
// room for * and # in one sequence of maxSequence keys.
const (
	MinChallengeDigits = 3
	MaxChallengeDigits = maxSequence - 2
)

// DialogueConfig tunes the verification dialogue. The zero value gives the
// defaults; see [NewDialogue].
type DialogueConfig struct {
	// GreetingRepeats is how many times in all the greeting plays while no
	// key comes; each play is followed by PostGreetingWait of silence.
	// After the last one the goodbye prompt plays and the outcome is
	// no-input. A lone * and the silence after it count as one of these
	// rounds; a wrong sequence starts the count again. Zero means 3
	// (DefaultGreetingRepeats); at most 10.
	GreetingRepeats int

	// MaxWrongTries is how many wrong sequences end the call: the last
	// one plays the goodbye prompt and the outcome is wrong-input. Each
	// earlier one plays the wrong-key prompt and then the greeting again.
	// Zero means 3 (DefaultMaxWrongTries); at most 10.
	MaxWrongTries int

	// PostGreetingWait is how long the dialogue waits for a first key
	// after the greeting has played to its end before it plays the
	// greeting again, and how long it waits after a lone * (the analog
	// caller's switch to tones) for the key that follows. Zero means 5 s
	// (DefaultPostGreetingWait); at most a minute.
	PostGreetingWait time.Duration

	// InterKeyTimeout is how long the dialogue waits for the next key of a
	// sequence that has begun before it judges the sequence without its
	// #. Zero means 3 s (DefaultInterKeyTimeout); at most a minute.
	InterKeyTimeout time.Duration

	// HangupTimeout bounds Line.Hangup. Hanging up is not cancelled with
	// Run's context, so that a call is still ended politely when the
	// service shuts down. Zero means 5 s (DefaultHangupTimeout); at most a
	// minute.
	HangupTimeout time.Duration

	// ChallengeDigits, when not zero, turns on challenge mode: instead of
	// asking for # alone, each round reads out a random code of this many
	// digits and asks for it followed by # (* first on analog lines, so
	// *CODE# counts too). A voicemail greeting that presses # (or any
	// fixed keys) recorded before the call cannot answer it. The flow:
	//
	//   - A new code is drawn from crypto/rand for the first round and
	//     after each wrong sequence; a silent round reads the same code
	//     again.
	//   - A round plays PromptChallenge (PromptChallengeWrong after a
	//     wrong sequence), the code's digits (PromptDigit each),
	//     PromptChallengeRepeat, the digits again and PromptChallengeEnd.
	//   - Keys received before the code has been read out once in full
	//     do not count: they are recorded as ignored and do not
	//     interrupt. From then on a key interrupts the rest of the round
	//     (barge-in) and begins a sequence.
	//   - CODE# and *CODE# verify; 0# and *0# report fraud; anything
	//     else (# alone included) is a wrong sequence, judged as in the
	//     default flow (MaxWrongTries).
	//   - The code is compared in constant time, never logged and never
	//     put in the Result: its digits are masked in the timeline
	//     (Step.Masked) and each judged attempt is recorded as a
	//     StepChallenge, correct or not.
	//
	// Zero turns challenge mode off (# alone verifies); otherwise
	// MinChallengeDigits to MaxChallengeDigits (3 to 6).
	ChallengeDigits int

	// Logger receives debug records of each prompt, key and judged
	// sequence, and one info record per finished dialogue. Nil means no
	// logging.
	Logger *slog.Logger
}

func (c DialogueConfig) withDefaults() (DialogueConfig, error) {
	count := func(name string, v *int, def int) error {
		switch {
		case *v == 0:
			*v = def
		case *v < 0 || *v > maxRepeats:
			return fmt.Errorf("%w: %s %d (want 1..%d, or 0 for %d)", ErrInvalidConfig, name, *v, maxRepeats, def)
		}
		return nil
	}
	dur := func(name string, v *time.Duration, def time.Duration) error {
		switch {
		case *v == 0:
			*v = def
		case *v < 0 || *v > maxWait:
			return fmt.Errorf("%w: %s %v (want up to %v, or 0 for %v)", ErrInvalidConfig, name, *v, maxWait, def)
		}
		return nil
	}
	err := errors.Join(
		count("GreetingRepeats", &c.GreetingRepeats, DefaultGreetingRepeats),
		count("MaxWrongTries", &c.MaxWrongTries, DefaultMaxWrongTries),
		dur("PostGreetingWait", &c.PostGreetingWait, DefaultPostGreetingWait),
		dur("InterKeyTimeout", &c.InterKeyTimeout, DefaultInterKeyTimeout),
		dur("HangupTimeout", &c.HangupTimeout, DefaultHangupTimeout),
	)
	if n := c.ChallengeDigits; n != 0 && (n < MinChallengeDigits || n > MaxChallengeDigits) {
		err = errors.Join(err, fmt.Errorf("%w: ChallengeDigits %d (want %d..%d, or 0 for none)", ErrInvalidConfig, n, MinChallengeDigits, MaxChallengeDigits))
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, err
}

// Dialogue is the verification dialogue: the policy of what to play and
// what the keys mean, run over an answered call. It is immutable and safe
// for concurrent use: each Run is independent.
type Dialogue struct {
	cfg DialogueConfig
}

// NewDialogue checks cfg, fills in its defaults and returns a Dialogue, or
// an error wrapping [ErrInvalidConfig].
func NewDialogue(cfg DialogueConfig) (*Dialogue, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Dialogue{cfg: cfg}, nil
}

// Config returns the configuration in use, defaults filled in.
func (d *Dialogue) Config() DialogueConfig { return d.cfg }

// Run holds the verification dialogue on an answered call and returns its
// result. The whole flow:
//
//   - (In challenge mode, see [DialogueConfig.ChallengeDigits], the
//     greeting is a round that reads out a code, and the keys that
//     verify are the code and #.)
//   - The greeting plays. A key pressed while any prompt but a final one
//     plays interrupts it (barge-in) and begins a sequence; so does a key
//     in the silence of PostGreetingWait after it. No key: the greeting
//     plays again, GreetingRepeats times in all, then the goodbye prompt
//     plays and the outcome is no-input.
//   - A sequence ends with #, after InterKeyTimeout without a further key,
//     or at 8 keys. # and *# verify: the success prompt plays, outcome
//     verified. 0# and *0# report fraud: the fraud prompt plays, outcome
//     fraud-reported. Anything else is wrong: the wrong-key prompt plays,
//     then the greeting again; the MaxWrongTries-th wrong sequence plays
//     the goodbye prompt instead, outcome wrong-input.
//   - A lone * is the analog caller's switch to tones, not a wrong key:
//     the next key is awaited for PostGreetingWait. If none comes, that
//     counts as a round without input (the greeting plays again, if
//     repeats are left), not as a wrong try.
//   - A key already received when a prompt would begin (pressed quickly
//     after the previous sequence, or before Run) interrupts it before it
//     begins: the prompt is skipped.
//   - The success, fraud and goodbye prompts are final: the outcome is
//     decided when they begin, keys during them (and keys received after
//     the deciding sequence) are ignored, and neither the far end hanging
//     up nor ctx being cancelled during them changes the outcome. After
//     them Run hangs up.
//   - The far end hanging up before that gives hung-up, and no further
//     prompt; keys the line had already delivered still count, so #
//     pressed just before the hang-up verifies. A line that goes dead
//     (media timeout) ends the same way, except that when a wrong
//     sequence was heard (judged, or begun and cut off) the outcome is
//     wrong-input; the cause is the line's error either way. A line that
//     ends with an error other than [ErrHungUp] or [ErrMediaTimeout]
//     gives failed with that cause.
//   - ctx cancelled (shutdown, the longest call allowed) gives failed with
//     cause context.Cause(ctx); a Play error other than the call ending
//     gives failed with that error, unless the line turns out to have been
//     ended by the far end (its Err wraps [ErrHungUp] or
//     [ErrMediaTimeout] once Run has hung up): a Play that fails as the
//     far end hangs up is the hang-up. Run hangs up with a context that is
//     not cancelled with ctx but bounded by HangupTimeout.
//
// Run calls line.Play in a goroutine of its own, one prompt at a time, and
// waits for it to return (Line.Play must honour its context), so when Run
// returns no goroutine it started is left and no Play is in progress. Run
// never closes the line's channels; it leaves the call ended.
func (d *Dialogue) Run(ctx context.Context, line Line) Result {
	s := &session{cfg: &d.cfg, ctx: ctx, line: line, keys: line.Keys()}
	s.challenge = d.cfg.ChallengeDigits > 0
	s.armed = !s.challenge
	s.seq = s.seqBuf[:0]
	s.pending = s.pendingBuf[:0]
	s.res.Start = time.Now()
	s.run()
	s.res.End = time.Now()
	if s.res.Cause != nil {
		d.cfg.Logger.Info("enroll: dialogue ended", "outcome", s.res.Outcome, "duration", s.res.End.Sub(s.res.Start), "cause", s.res.Cause)
	} else {
		d.cfg.Logger.Info("enroll: dialogue ended", "outcome", s.res.Outcome, "duration", s.res.End.Sub(s.res.Start))
	}
	return s.res
}

// maxPending bounds the keys received but not yet judged (pressed while a
// prompt was being stopped, or right after a sequence ended).
const maxPending = 2 * maxSequence

// session is the state of one Run. Only the goroutine running Run touches
// it; the Play goroutine touches nothing but the line and its channel.
type session struct {
	cfg  *DialogueConfig
	ctx  context.Context
	line Line
	keys <-chan KeyPress // nil once closed
	res  Result

	// final: the outcome is decided; keys are ignored and prompts are
	// not interrupted.
	final bool
	// pending holds keys received but not yet in seq (backed by
	// pendingBuf); pendingRx when each was received, pendingStep its
	// index in the timeline (-1 if omitted).
	pending     []dtmf.Key
	pendingBuf  [maxPending]dtmf.Key
	pendingRx   [maxPending]time.Time
	pendingStep [maxPending]int
	// seq is the sequence being collected (backed by seqBuf); lastKey is
	// when its last key was received.
	seq     []dtmf.Key
	seqBuf  [maxSequence]dtmf.Key
	lastKey time.Time
	// wrong counts the wrong sequences judged.
	wrong int

	// Challenge mode: code holds the code read out (ChallengeDigits
	// digits, '0'–'9'); armed is false while keys do not count yet
	// (before the code has been read out once in this round). armed is
	// always true outside challenge mode.
	challenge bool
	armed     bool
	code      [MaxChallengeDigits]byte
}

// playEnd tells how a prompt, or a wait for keys, ended.
type playEnd uint8

const (
	played     playEnd = iota // to its end, or stopped by a key; a wait: a sequence is complete
	lineEnded                 // the call ended; the error is Line.Err, or Play's
	cancelled                 // Run's ctx was cancelled; the error is its cause
	playFailed                // Play failed; the error says why
)

// run is the dialogue's loop. Each round plays the greeting, unless a key
// is already waiting, and judges one sequence; every round ends in a
// verdict, and the counts of silent rounds and wrong sequences bound the
// loop.
func (s *session) run() {
	silent := 0
	lead := PromptChallenge // challenge mode: what a round begins with
	if s.challenge {
		if err := s.newCode(); err != nil {
			s.res.Outcome, s.res.Cause = OutcomeFailed, err
			s.hangup()
			return
		}
	}
	for {
		s.poll()
		if s.challenge {
			if end, err := s.readCode(lead); end != played {
				s.abort(end, err)
				return
			}
		} else if len(s.pending) == 0 {
			if end, err := s.play(PromptGreeting); end != played {
				s.abort(end, err)
				return
			}
		}
		v, end, err := s.collect()
		if end != played {
			s.abort(end, err)
			return
		}
		switch v {
		case verdictNone: // the wait after the greeting, or after a lone *, passed
			silent++
			if silent >= s.cfg.GreetingRepeats {
				s.finish(OutcomeNoInput, PromptGoodbye)
				return
			}
			lead = PromptChallenge
		case verdictVerify:
			s.finish(OutcomeVerified, PromptSuccess)
			return
		case verdictFraud:
			s.finish(OutcomeFraudReported, PromptFraud)
			return
		case verdictWrong:
			s.wrong++
			if s.wrong >= s.cfg.MaxWrongTries {
				s.finish(OutcomeWrongInput, PromptGoodbye)
				return
			}
			silent = 0
			if s.challenge {
				// A new code for the next try: whatever was entered
				// for this one is worth nothing against it.
				if err := s.newCode(); err != nil {
					s.res.Outcome, s.res.Cause = OutcomeFailed, err
					s.hangup()
					return
				}
				lead = PromptChallengeWrong
				continue
			}
			if s.poll(); len(s.pending) > 0 {
				continue // the next sequence began before the prompt could
			}
			if end, err := s.play(PromptWrongKey); end != played {
				s.abort(end, err)
				return
			}
		}
		// The greeting again, unless a key already interrupted.
	}
}

// poll receives the keys the line has already delivered, without waiting,
// so that a prompt does not begin when a key has already interrupted it.
func (s *session) poll() {
	for n := 0; n < maxPending && s.keys != nil; n++ {
		select {
		case k, ok := <-s.keys:
			if !ok {
				s.keys = nil
				return
			}
			s.receive(k)
		default:
			return
		}
	}
}

// play plays prompt p and returns when it has stopped and Play has
// returned. Before the outcome is decided, a key stops it (barge-in) and
// waits in pending; afterwards keys are ignored.
func (s *session) play(p PromptID) (playEnd, error) {
	i := s.startPrompt(p)
	end, err, playErr, _ := s.playOne(p, p)
	s.endPrompt(i, playErr)
	return end, err
}

// startPrompt records the beginning of a prompt, named label in the
// timeline and the log, and returns its timeline index (-1 if omitted).
func (s *session) startPrompt(label PromptID) int {
	s.cfg.Logger.Debug("enroll: prompt", "prompt", label)
	return s.res.add(Step{Kind: StepPrompt, At: time.Now(), Prompt: label})
}

// playOne plays prompt p, called label in the log and in errors (a
// digit of the code is played as PromptCode, never named), and returns
// how it ended, the error that goes with that, what Play returned, and
// whether a key stopped it.
func (s *session) playOne(label, p PromptID) (playEnd, error, error, bool) {
	pctx, stop := context.WithCancel(s.ctx)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- s.line.Play(pctx, p) }()
	stopped := false
	for {
		select {
		case err := <-errc:
			end, jerr := s.played(label, err, stopped)
			return end, jerr, err, stopped
		case k, ok := <-s.keys:
			if !ok {
				s.keys = nil
				continue
			}
			if s.receive(k) && !stopped {
				s.cfg.Logger.Debug("enroll: barge-in", "prompt", label, "key", s.logKey(k.Key))
				stopped = true
				stop()
			}
		case <-s.line.Done():
			stop()
			err := <-errc
			return lineEnded, s.lineErr(err), err, stopped
		case <-s.ctx.Done():
			stop()
			err := <-errc
			return cancelled, context.Cause(s.ctx), err, stopped
		}
	}
}

func (s *session) endPrompt(i int, err error) {
	if i >= 0 {
		st := &s.res.Timeline[i]
		st.End = time.Now()
		st.Interrupted = err != nil
	}
}

// readCode is one round of challenge mode: lead, the code, the repeat
// prompt, the code again and the end prompt. Keys pending when it begins
// were pressed before this round's code was heard: they are ignored, as
// is every key until the code has been read out once (s.armed). From
// then on a key stops the round, like a barge-in, and the round ends
// there (played).
func (s *session) readCode(lead PromptID) (playEnd, error) {
	s.armed = false
	s.ignorePending()
	if end, err := s.play(lead); end != played {
		return end, err
	}
	if end, err, _ := s.playCode(); end != played {
		return end, err
	}
	s.armed = true
	for _, p := range [...]PromptID{PromptChallengeRepeat, PromptCode, PromptChallengeEnd} {
		if s.poll(); len(s.pending) > 0 {
			return played, nil
		}
		var end playEnd
		var err error
		stopped := false
		if p == PromptCode {
			end, err, stopped = s.playCode()
		} else {
			i := s.startPrompt(p)
			var playErr error
			end, err, playErr, stopped = s.playOne(p, p)
			s.endPrompt(i, playErr)
		}
		if end != played || stopped {
			return end, err
		}
	}
	return played, nil
}

// playCode reads out the code, one digit prompt after another, as one
// step of the timeline named PromptCode. It reports whether a key stopped
// it.
func (s *session) playCode() (playEnd, error, bool) {
	i := s.startPrompt(PromptCode)
	for _, d := range s.code[:s.cfg.ChallengeDigits] {
		end, err, playErr, stopped := s.playOne(PromptCode, PromptDigit(dtmf.Key(d)))
		if end != played || stopped {
			s.endPrompt(i, playErr)
			return end, err, stopped
		}
	}
	s.endPrompt(i, nil)
	return played, nil, false
}

// newCode draws a new code of ChallengeDigits digits from crypto/rand.
func (s *session) newCode() error {
	if err := randomDigits(s.code[:s.cfg.ChallengeDigits]); err != nil {
		return fmt.Errorf("enroll: challenge code: %w", err)
	}
	return nil
}

// randomDigits fills dst with uniformly random digits '0'–'9' from
// crypto/rand (bytes of 250 and above are drawn again, so that each digit
// is equally likely).
func randomDigits(dst []byte) error {
	var buf [16]byte
	for n := 0; n < len(dst); {
		if _, err := rand.Read(buf[:]); err != nil {
			return err
		}
		for _, b := range buf {
			if b < 250 && n < len(dst) {
				dst[n] = '0' + b%10
				n++
			}
		}
	}
	return nil
}

// logKey is a key as the log may show it: a digit is masked in
// challenge mode.
func (s *session) logKey(k dtmf.Key) string {
	if s.masked(k) {
		return "digit"
	}
	return k.String()
}

// masked reports whether k is kept out of the timeline and the log: a
// digit, in challenge mode.
func (s *session) masked(k dtmf.Key) bool {
	return s.challenge && k >= '0' && k <= '9'
}

// played judges what Play returned.
func (s *session) played(p PromptID, err error, stopped bool) (playEnd, error) {
	switch {
	case err == nil:
		return played, nil
	case s.ctx.Err() != nil:
		return cancelled, context.Cause(s.ctx)
	case endedByFarEnd(err) || isClosed(s.line.Done()):
		if p == PromptCode && s.line.Err() == nil {
			// Play's own error may name the digit's prompt and becomes
			// the cause: keep only what ended the line.
			switch {
			case errors.Is(err, ErrMediaTimeout):
				err = ErrMediaTimeout
			case errors.Is(err, ErrHungUp):
				err = ErrHungUp
			default:
				err = errPlayCode
			}
		}
		return lineEnded, s.lineErr(err)
	case stopped && errors.Is(err, context.Canceled):
		return played, nil
	}
	if p == PromptCode {
		// The line's error is left out: it may name the digit's prompt,
		// and the cause goes to the audit trail and the webhook.
		return playFailed, errPlayCode
	}
	return playFailed, fmt.Errorf("enroll: play %s: %w", p, err)
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// lineErr is why the line ended: Line.Err, or else what Play said.
func (s *session) lineErr(playErr error) error {
	if err := s.line.Err(); err != nil {
		return err
	}
	return playErr
}

// receive records a key and, unless the outcome is decided, queues it for
// the sequence. It reports whether the key counts.
func (s *session) receive(k KeyPress) bool {
	now := time.Now()
	if k.At.IsZero() {
		k.At = now
	}
	ok := !s.final && s.armed && k.Key.Valid() && len(s.pending) < maxPending
	st := Step{Kind: StepKey, At: k.At, Key: k.Key, Source: k.Source, Ignored: !ok}
	if s.masked(k.Key) {
		st.Key, st.Masked = 0, true
	}
	i := s.res.add(st)
	s.cfg.Logger.Debug("enroll: key", "key", s.logKey(k.Key), "source", k.Source, "ignored", !ok)
	if ok {
		s.pendingRx[len(s.pending)] = now
		s.pendingStep[len(s.pending)] = i
		s.pending = append(s.pending, k.Key)
	}
	return ok
}

// feed moves pending keys into the sequence until it is complete (it ends
// with # or holds maxSequence keys), and reports whether it is.
func (s *session) feed() bool {
	n := 0
	complete := false
	for n < len(s.pending) && !complete {
		s.seq = append(s.seq, s.pending[n])
		s.lastKey = s.pendingRx[n]
		complete = s.pending[n] == '#' || len(s.seq) == maxSequence
		n++
	}
	m := copy(s.pending, s.pending[n:])
	copy(s.pendingRx[:], s.pendingRx[n:n+m])
	copy(s.pendingStep[:], s.pendingStep[n:n+m])
	s.pending = s.pending[:m]
	return complete
}

// take judges the sequence and starts a new one.
func (s *session) take() verdict {
	v := s.judge(s.seq)
	if s.challenge {
		if v == verdictVerify || v == verdictWrong {
			s.res.add(Step{Kind: StepChallenge, At: time.Now(), Correct: v == verdictVerify})
		}
		s.cfg.Logger.Debug("enroll: sequence", "verdict", v)
	} else {
		s.cfg.Logger.Debug("enroll: sequence", "keys", string(s.seq), "verdict", v)
	}
	s.seq = s.seq[:0]
	return v
}

// judge classifies a finished sequence, in challenge mode against the
// code.
func (s *session) judge(keys []dtmf.Key) verdict {
	if s.challenge {
		return classify(keys, s.code[:s.cfg.ChallengeDigits])
	}
	return classify(keys, nil)
}

// collect waits for a complete sequence, or for its timeout, and judges it.
func (s *session) collect() (verdict, playEnd, error) {
	waitFrom := time.Now()
	for {
		if s.feed() {
			return s.take(), played, nil
		}
		var deadline time.Time
		switch {
		case len(s.seq) == 0:
			deadline = waitFrom.Add(s.cfg.PostGreetingWait)
		case len(s.seq) == 1 && s.seq[0] == '*':
			deadline = s.lastKey.Add(s.cfg.PostGreetingWait)
		default:
			deadline = s.lastKey.Add(s.cfg.InterKeyTimeout)
		}
		timer := time.NewTimer(time.Until(deadline))
		select {
		case k, ok := <-s.keys:
			timer.Stop()
			if !ok {
				s.keys = nil
				continue
			}
			s.receive(k)
		case <-timer.C:
			return s.take(), played, nil
		case <-s.line.Done():
			timer.Stop()
			return verdictNone, lineEnded, s.line.Err()
		case <-s.ctx.Done():
			timer.Stop()
			return verdictNone, cancelled, context.Cause(s.ctx)
		}
	}
}

// finish decides the outcome, plays the final prompt and hangs up.
func (s *session) finish(o Outcome, p PromptID) {
	s.res.Outcome, s.final = o, true
	s.ignorePending()
	end, err := s.play(p)
	switch end {
	case lineEnded:
		s.res.add(Step{Kind: StepHangup, At: time.Now(), Remote: true, Err: err})
	case playFailed:
		s.cfg.Logger.Warn("enroll: final prompt failed", "prompt", p, "outcome", o, "err", err)
		s.hangup()
	default: // played, or cancelled: the outcome stands, the call is ended politely
		s.hangup()
	}
}

// ignorePending marks the keys received but not yet judged as ignored:
// pressed after the outcome was decided, or in challenge mode before this
// round's code was read out.
func (s *session) ignorePending() {
	for i := range s.pending {
		if j := s.pendingStep[i]; j >= 0 {
			s.res.Timeline[j].Ignored = true
		}
	}
	s.pending = s.pending[:0]
}

// abort ends a dialogue that had not decided its outcome.
func (s *session) abort(end playEnd, err error) {
	if end == lineEnded {
		s.poll()
		s.res.add(Step{Kind: StepHangup, At: time.Now(), Remote: true, Err: err})
		s.lineEnded(err)
		return
	}
	s.res.Outcome, s.res.Cause = OutcomeFailed, err
	s.hangup()
	// Play may fail with the transport's own error (a closed media
	// session) as the far end hangs up, just before the line reports its
	// end. Once we have hung up, the line's Err tells: the far end's
	// hang-up or media timeout decides, not the Play error.
	if end == playFailed {
		if lerr := s.line.Err(); endedByFarEnd(lerr) {
			s.poll()
			s.lineEnded(lerr)
		}
	}
}

// endedByFarEnd reports whether err is a line's end the far end caused:
// its hang-up, or its media stopping.
func endedByFarEnd(err error) bool {
	return errors.Is(err, ErrHungUp) || errors.Is(err, ErrMediaTimeout)
}

// lineEnded decides the outcome of a call the line ended, with err the
// line's error: keys already delivered still count (a complete # or 0#
// decides) under the live dialogue's rules: no sequence after the
// MaxWrongTries-th wrong one, and in challenge mode none after a wrong
// one (its code would have changed), so that keys sent just before a
// hang-up get no more guesses than the live dialogue gives. Else a BYE is
// hung-up, and media stopping is wrong-input when a wrong sequence was
// heard, hung-up otherwise; any other end of the line is failed.
func (s *session) lineEnded(err error) {
	for s.feed() {
		switch s.take() {
		case verdictVerify:
			s.res.Outcome, s.res.Cause = OutcomeVerified, nil
			s.ignorePending()
			return
		case verdictFraud:
			s.res.Outcome, s.res.Cause = OutcomeFraudReported, nil
			s.ignorePending()
			return
		case verdictWrong:
			s.wrong++
			if s.cfg.ChallengeDigits > 0 || s.wrong >= s.cfg.MaxWrongTries {
				s.ignorePending()
			}
		}
	}
	if len(s.seq) > 0 { // begun, cut off by the end: wrong unless # would make it right
		if s.judge(append(s.seq, '#')) == verdictWrong {
			s.wrong++
		}
		s.seq = s.seq[:0]
	}
	switch {
	case err == nil:
		s.res.Outcome, s.res.Cause = OutcomeFailed, errEndedHere
	case errors.Is(err, ErrMediaTimeout) && s.wrong > 0:
		s.res.Outcome, s.res.Cause = OutcomeWrongInput, err
	case endedByFarEnd(err):
		s.res.Outcome, s.res.Cause = OutcomeHungUp, err
	default:
		s.res.Outcome, s.res.Cause = OutcomeFailed, err
	}
}

// hangup ends the call from our side, unless it has ended already.
func (s *session) hangup() {
	if isClosed(s.line.Done()) {
		s.res.add(Step{Kind: StepHangup, At: time.Now(), Remote: true, Err: s.line.Err()})
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), s.cfg.HangupTimeout)
	defer cancel()
	err := s.line.Hangup(ctx)
	s.res.add(Step{Kind: StepHangup, At: time.Now(), Err: err})
	if err != nil {
		s.cfg.Logger.Warn("enroll: hangup failed", "err", err)
	}
}
