package enrolltest

import (
	"context"
	"fmt"
	"sync"

	"denwa/enroll"
)

// FakeDialer is an [enroll.Dialer] for tests. Each Dial records the
// number, then asks the answer function (SetAnswer) what happens: an
// answered call (a *FakeLine, usually) or an error, typically an
// *enroll.OutcomeError for busy, no-answer and the like. The answer
// function may block to model ringing; it should return when ctx is
// cancelled, as a real dialer gives the call up then.
//
// Without SetAnswer, every call rings out: an *enroll.OutcomeError with
// enroll.OutcomeNoAnswer. A FakeDialer is safe for concurrent use.
type FakeDialer struct {
	mu      sync.Mutex
	answer  func(ctx context.Context, n int, e164 string) (enroll.Line, error)
	calls   []string
	active  int
	changed chan struct{} // closed and replaced on every Dial start and end
}

// NewFakeDialer returns a FakeDialer whose calls ring out until SetAnswer.
func NewFakeDialer() *FakeDialer {
	return &FakeDialer{changed: make(chan struct{})}
}

// SetAnswer sets what happens on each Dial: f gets Dial's context, the
// call's number among all Dials (1-based) and the number dialled.
func (d *FakeDialer) SetAnswer(f func(ctx context.Context, n int, e164 string) (enroll.Line, error)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.answer = f
}

// AnswerWith makes every Dial answer with a new FakeLine that script
// prepares (script may be nil: the far end then does nothing).
func (d *FakeDialer) AnswerWith(script func(l *FakeLine)) {
	d.SetAnswer(func(ctx context.Context, n int, e164 string) (enroll.Line, error) {
		l := NewFakeLine()
		if script != nil {
			script(l)
		}
		return l, nil
	})
}

// Fail makes every Dial fail with outcome o (and cause, for
// enroll.OutcomeFailed), as a refused or unanswered call does.
func (d *FakeDialer) Fail(o enroll.Outcome, cause error) {
	d.SetAnswer(func(context.Context, int, string) (enroll.Line, error) {
		return nil, &enroll.OutcomeError{Outcome: o, Cause: cause}
	})
}

// Dial implements enroll.Dialer.
func (d *FakeDialer) Dial(ctx context.Context, e164 string) (enroll.Line, error) {
	d.mu.Lock()
	d.calls = append(d.calls, e164)
	n := len(d.calls)
	d.active++
	f := d.answer
	d.notifyLocked()
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		d.active--
		d.notifyLocked()
		d.mu.Unlock()
	}()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("enrolltest: dial: %w", err)
	}
	if f == nil {
		return nil, &enroll.OutcomeError{Outcome: enroll.OutcomeNoAnswer}
	}
	return f(ctx, n, e164)
}

func (d *FakeDialer) notifyLocked() {
	close(d.changed)
	d.changed = make(chan struct{})
}

// Calls returns the numbers dialled, in order. The slice is new.
func (d *FakeDialer) Calls() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.calls...)
}

// Dialling returns how many Dials are in progress (ringing).
func (d *FakeDialer) Dialling() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.active
}

// WaitCalls waits until at least n Dials have begun, or ctx ends.
func (d *FakeDialer) WaitCalls(ctx context.Context, n int) error {
	for {
		d.mu.Lock()
		got, ch := len(d.calls), d.changed
		d.mu.Unlock()
		if got >= n {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("enrolltest: %d calls dialled, waiting for %d: %w", got, n, ctx.Err())
		}
	}
}
