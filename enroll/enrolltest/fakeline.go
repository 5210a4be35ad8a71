// Package enrolltest provides fakes for testing code built on package
// enroll, in the style of net/http/httptest: a scriptable [FakeLine] that
// stands in for an answered call.
package enrolltest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"denwa/dtmf"
	"denwa/enroll"
)

// DefaultPromptLength is how long a prompt plays on a FakeLine unless
// SetPromptLength says otherwise.
const DefaultPromptLength = 4 * time.Second

// KeyBuffer is the capacity of a FakeLine's key channel; keys pressed while
// it is full are dropped (and counted), as a real line drops them.
const KeyBuffer = 32

// Play records one call of FakeLine.Play.
type Play struct {
	Prompt enroll.PromptID
	// Start and End are when Play was called and when it returned, as
	// durations since NewFakeLine.
	Start, End time.Duration
	// Interrupted: Play returned before the prompt's length, because its
	// context was cancelled, the line ended, or FailPlay made it fail.
	Interrupted bool
	// Err is what Play returned.
	Err error
}

func (p Play) String() string {
	s := fmt.Sprintf("%s [%v, %v]", p.Prompt, p.Start, p.End)
	if p.Interrupted {
		s += " interrupted"
	}
	return s
}

type playKey struct {
	prompt enroll.PromptID
	nth    int // 1-based; 0 matches every play
}

type reaction struct {
	after time.Duration
	f     func()
}

// FakeLine is an [enroll.Line] for tests. The test scripts what the far
// end does, with times measured from NewFakeLine (At, PressAt, HangUpAt)
// or from the start of a given prompt (OnPlay), then hands the line to the
// code under test and reads back what was played (Plays, Prompts) and
// whether it was hung up (Hangups).
//
// Time comes from the time package, so inside a [testing/synctest] bubble
// (create the FakeLine inside it) every time is exact and the test takes
// no real time. Outside a bubble it runs in real time.
//
// Each prompt plays for its length (SetPromptLength, else
// DefaultPromptLength) unless its context is cancelled or the line ends
// first. A FakeLine is safe for concurrent use. Close stops actions
// scheduled but not yet run.
type FakeLine struct {
	start time.Time
	keys  chan enroll.KeyPress
	done  chan struct{}

	mu          sync.Mutex
	lengths     map[enroll.PromptID]time.Duration
	reactions   map[playKey][]reaction
	failures    map[playKey]error
	hangupErr   error
	counts      map[enroll.PromptID]int
	plays       []Play
	playing     int
	overlapped  bool
	hangups     int
	ended       bool
	err         error
	keysClosed  bool
	dropped     int
	timers      []*time.Timer
	closedTimer bool
}

// NewFakeLine returns an answered line with nothing scripted: its clock
// starts now.
func NewFakeLine() *FakeLine {
	return &FakeLine{
		start:     time.Now(),
		keys:      make(chan enroll.KeyPress, KeyBuffer),
		done:      make(chan struct{}),
		lengths:   map[enroll.PromptID]time.Duration{},
		reactions: map[playKey][]reaction{},
		failures:  map[playKey]error{},
		counts:    map[enroll.PromptID]int{},
	}
}

// Since returns how long ago NewFakeLine was called: the time base of the
// script and of Plays.
func (l *FakeLine) Since() time.Duration { return time.Since(l.start) }

// SetPromptLength sets how long prompt p plays.
func (l *FakeLine) SetPromptLength(p enroll.PromptID, d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lengths[p] = d
}

// At runs f at d after NewFakeLine, in a goroutine of its own.
func (l *FakeLine) At(d time.Duration, f func()) {
	l.schedule(d-time.Since(l.start), f)
}

func (l *FakeLine) schedule(d time.Duration, f func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closedTimer {
		return
	}
	l.timers = append(l.timers, time.AfterFunc(d, f))
}

// OnPlay runs f at after from the start of the nth play (1 for the first)
// of prompt p, or of every play of p when nth is 0, in a goroutine of its
// own. It runs even if the prompt has stopped by then, like a person who
// was about to press a key anyway.
func (l *FakeLine) OnPlay(p enroll.PromptID, nth int, after time.Duration, f func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := playKey{p, nth}
	l.reactions[k] = append(l.reactions[k], reaction{after, f})
}

// FailPlay makes the nth play of p (every play when nth is 0) return err
// at once.
func (l *FakeLine) FailPlay(p enroll.PromptID, nth int, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failures[playKey{p, nth}] = err
}

// FailHangup makes Hangup return err (it still ends the line).
func (l *FakeLine) FailHangup(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.hangupErr = err
}

// Press makes the far end press keys now, given as a string such as "*#",
// delivered as RFC 4733 events. It panics if keys holds a character that is
// not a DTMF key. Keys pressed after the line ended are not delivered.
func (l *FakeLine) Press(keys string) { l.PressFrom(dtmf.SourceRFC4733, keys) }

// PressFrom is Press with the given source.
func (l *FakeLine) PressFrom(src dtmf.Source, keys string) {
	ks, err := dtmf.ParseKeys(keys)
	if err != nil {
		panic("enrolltest: " + err.Error())
	}
	for _, k := range ks {
		l.Send(enroll.KeyPress{Key: k, Source: src, At: time.Now()})
	}
}

// Send delivers one key press as it is, valid or not, unless the line has
// ended or its key channel is full.
func (l *FakeLine) Send(k enroll.KeyPress) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ended || l.keysClosed {
		return
	}
	select {
	case l.keys <- k:
	default:
		l.dropped++
	}
}

// PressAt presses keys at d after NewFakeLine.
func (l *FakeLine) PressAt(d time.Duration, keys string) {
	l.At(d, func() { l.Press(keys) })
}

// HangUp makes the far end hang up now: the line ends with
// [enroll.ErrHungUp].
func (l *FakeLine) HangUp() { l.End(enroll.ErrHungUp) }

// HangUpAt makes the far end hang up at d after NewFakeLine.
func (l *FakeLine) HangUpAt(d time.Duration) { l.At(d, l.HangUp) }

// End ends the line now with err as its Err (for example
// [enroll.ErrMediaTimeout]); a Play in progress returns err. Ending an
// ended line does nothing.
func (l *FakeLine) End(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.endLocked(err)
}

func (l *FakeLine) endLocked(err error) {
	if l.ended {
		return
	}
	l.ended, l.err = true, err
	close(l.done)
}

// CloseKeys closes the key channel, as a line may once the call is over.
// Keys pressed afterwards are not delivered.
func (l *FakeLine) CloseKeys() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.keysClosed {
		l.keysClosed = true
		close(l.keys)
	}
}

// Close stops the actions scheduled with At, PressAt, HangUpAt and OnPlay
// that have not run yet, and schedules no more. It does not end the line.
func (l *FakeLine) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closedTimer = true
	for _, t := range l.timers {
		t.Stop()
	}
	l.timers = nil
}

// Play implements [enroll.Line]: it plays for the prompt's length, or
// returns ctx.Err() when ctx is cancelled first, or the line's Err when it
// ends first (ErrHungUp for an end without error).
func (l *FakeLine) Play(ctx context.Context, p enroll.PromptID) error {
	l.mu.Lock()
	if l.playing > 0 {
		l.overlapped = true
	}
	l.playing++
	l.counts[p]++
	n := l.counts[p]
	i := len(l.plays)
	l.plays = append(l.plays, Play{Prompt: p, Start: time.Since(l.start)})
	for _, k := range []playKey{{p, n}, {p, 0}} {
		for _, r := range l.reactions[k] {
			if !l.closedTimer {
				l.timers = append(l.timers, time.AfterFunc(r.after, r.f))
			}
		}
	}
	fail := l.failures[playKey{p, n}]
	if fail == nil {
		fail = l.failures[playKey{p, 0}]
	}
	length, ok := l.lengths[p]
	if !ok {
		length = DefaultPromptLength
	}
	l.mu.Unlock()

	var err error
	if fail != nil {
		err = fail
	} else {
		t := time.NewTimer(length)
		select {
		case <-t.C:
		case <-ctx.Done():
			err = ctx.Err()
		case <-l.done:
			if err = l.Err(); err == nil {
				err = enroll.ErrHungUp
			}
		}
		t.Stop()
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	l.playing--
	pl := &l.plays[i]
	pl.End, pl.Interrupted, pl.Err = time.Since(l.start), err != nil, err
	return err
}

// Keys implements [enroll.Line].
func (l *FakeLine) Keys() <-chan enroll.KeyPress { return l.keys }

// Hangup implements [enroll.Line]: it counts the call and ends the line
// with a nil Err (unless it had ended), and returns what FailHangup set.
func (l *FakeLine) Hangup(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.hangups++
	l.endLocked(nil)
	return l.hangupErr
}

// Done implements [enroll.Line].
func (l *FakeLine) Done() <-chan struct{} { return l.done }

// Err implements [enroll.Line].
func (l *FakeLine) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// Plays returns every Play call so far, in order.
func (l *FakeLine) Plays() []Play {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Play(nil), l.plays...)
}

// Prompts returns the prompts played so far, in order.
func (l *FakeLine) Prompts() []enroll.PromptID {
	l.mu.Lock()
	defer l.mu.Unlock()
	ps := make([]enroll.PromptID, len(l.plays))
	for i, p := range l.plays {
		ps[i] = p.Prompt
	}
	return ps
}

// Playing returns how many Play calls are in progress.
func (l *FakeLine) Playing() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.playing
}

// Overlapped reports whether Play was ever called while another Play was
// in progress (enroll.Line does not ask a line to support that).
func (l *FakeLine) Overlapped() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.overlapped
}

// Hangups returns how many times Hangup was called.
func (l *FakeLine) Hangups() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.hangups
}

// Dropped returns how many key presses were dropped because the key
// channel was full.
func (l *FakeLine) Dropped() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.dropped
}

var _ enroll.Line = (*FakeLine)(nil)

// Codes returns the challenge codes read out so far, in order: each run
// of consecutive digit prompts (enroll.PromptDigit) is one reading, so a
// round that reads its code twice gives it twice. This is what a person
// on the line heard.
func (l *FakeLine) Codes() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var codes []string
	var cur strings.Builder
	for _, p := range l.plays {
		if d, ok := strings.CutPrefix(string(p.Prompt), "digit-"); ok && len(d) == 1 {
			cur.WriteString(d)
			continue
		}
		if cur.Len() > 0 {
			codes = append(codes, cur.String())
			cur.Reset()
		}
	}
	if cur.Len() > 0 {
		codes = append(codes, cur.String())
	}
	return codes
}

// LastCode returns the last of Codes, or "" when none was read out.
func (l *FakeLine) LastCode() string {
	c := l.Codes()
	if len(c) == 0 {
		return ""
	}
	return c[len(c)-1]
}
