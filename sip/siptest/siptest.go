// Package siptest helps test code that places calls with package sip, in
// the manner of net/http/httptest: a simulated phone on loopback that
// answers, presses keys and reports each call, and a progress recorder.
package siptest

import (
	"sync"
	"testing"
	"time"

	"denwa/sip"
)

// Phone is a sip.Phone on 127.0.0.1 for one test, closed at its end.
type Phone struct {
	*sip.Phone
	// Calls receives a report for every call once it has ended.
	Calls <-chan sip.PhoneCall
}

// NewPhone starts a sip.Phone listening on 127.0.0.1 (an ephemeral
// port unless cfg.Listen says otherwise) and closes it when t ends.
// cfg.Calls is replaced by the returned Phone's Calls.
func NewPhone(t testing.TB, cfg sip.PhoneConfig) *Phone {
	t.Helper()
	calls := make(chan sip.PhoneCall, 16)
	cfg.Calls = calls
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	p, err := sip.NewPhone(cfg)
	if err != nil {
		t.Fatalf("siptest: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return &Phone{Phone: p, Calls: calls}
}

// Next waits up to timeout for the next call report.
func (p *Phone) Next(t testing.TB, timeout time.Duration) sip.PhoneCall {
	t.Helper()
	select {
	case pc := <-p.Calls:
		return pc
	case <-time.After(timeout):
		t.Fatalf("siptest: no call reported in %v", timeout)
	}
	return sip.PhoneCall{}
}

// ProgressRecorder records what Dial reports; its Record method is the
// onProgress callback. Safe for concurrent use.
type ProgressRecorder struct {
	mu     sync.Mutex
	events []sip.Progress
}

// Record appends p.
func (r *ProgressRecorder) Record(p sip.Progress) {
	r.mu.Lock()
	r.events = append(r.events, p)
	r.mu.Unlock()
}

// Kinds returns the kinds recorded, in order.
func (r *ProgressRecorder) Kinds() []sip.ProgressKind {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]sip.ProgressKind, len(r.events))
	for i, e := range r.events {
		out[i] = e.Kind
	}
	return out
}

// Events returns a copy of everything recorded.
func (r *ProgressRecorder) Events() []sip.Progress {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]sip.Progress(nil), r.events...)
}
