package enrolltest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"denwa/enroll"
	"denwa/enroll/enrolltest"
)

func TestFakeDialer(t *testing.T) {
	d := enrolltest.NewFakeDialer()
	ctx := t.Context()
	var oe *enroll.OutcomeError
	if _, err := d.Dial(ctx, "+81312345678"); !errors.As(err, &oe) || oe.Outcome != enroll.OutcomeNoAnswer {
		t.Fatalf("default Dial: %v, want no-answer", err)
	}
	d.Fail(enroll.OutcomeBusy, nil)
	if _, err := d.Dial(ctx, "+81312345679"); !errors.As(err, &oe) || oe.Outcome != enroll.OutcomeBusy {
		t.Fatalf("Fail(busy) Dial: %v", err)
	}
	d.AnswerWith(func(l *enrolltest.FakeLine) { l.Press("#") })
	line, err := d.Dial(ctx, "+81312345670")
	if err != nil {
		t.Fatal(err)
	}
	if k := <-line.Keys(); k.Key != '#' {
		t.Fatalf("key %v", k)
	}
	if got := d.Calls(); len(got) != 3 || got[2] != "+81312345670" {
		t.Fatalf("Calls = %v", got)
	}

	// A ringing call: WaitCalls sees it, Dialling counts it, cancelling
	// gives it up.
	d.SetAnswer(func(ctx context.Context, n int, _ string) (enroll.Line, error) {
		<-ctx.Done()
		return nil, &enroll.OutcomeError{Outcome: enroll.OutcomeFailed, Cause: ctx.Err()}
	})
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { _, err := d.Dial(cctx, "+81312345671"); done <- err }()
	if err := d.WaitCalls(ctx, 4); err != nil {
		t.Fatal(err)
	}
	if n := d.Dialling(); n != 1 {
		t.Fatalf("Dialling = %d", n)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Dial: %v", err)
	}
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer wcancel()
	if err := d.WaitCalls(wctx, 5); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitCalls for a call never made: %v", err)
	}
}
