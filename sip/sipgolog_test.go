package sip

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	sipgo_sip "github.com/emiago/sipgo/sip"
)

// recorder is a slog.Handler that keeps every record's level and message.
type recorder struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	r.recs = append(r.recs, rec)
	r.mu.Unlock()
	return nil
}
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recorder) WithGroup(string) slog.Handler      { return r }

func (r *recorder) find(msg string) (slog.Level, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	i := slices.IndexFunc(r.recs, func(rec slog.Record) bool { return rec.Message == msg })
	if i < 0 {
		return 0, false
	}
	return r.recs[i].Level, true
}

func (r *recorder) above(lv slog.Level) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, rec := range r.recs {
		if rec.Level > lv {
			out = append(out, rec.Level.String()+" "+rec.Message)
		}
	}
	return out
}

// TestSipgoRefWarningAtDebug: a TCP call between a Dialer and a Phone, both
// closed with the connection open, makes sipgo release the connection's
// reference twice ("TCP ref went negative", see sipgolog.go); that line,
// and everything else on sipgo's package logger, reaches slog.Default() at
// Debug, never above.
func TestSipgoRefWarningAtDebug(t *testing.T) {
	rec := &recorder{}
	old := slog.Default()
	slog.SetDefault(slog.New(rec))
	t.Cleanup(func() { slog.SetDefault(old) })

	phone, calls := newTestPhone(t, PhoneConfig{Network: "tcp", Keys: "#", KeyDelay: 100 * time.Millisecond, HangupAfter: 600 * time.Millisecond})
	d := newTestDialer(t, Config{Trunk: phone.URI()})
	verifyCall(t, d, calls)
	d.Close()
	phone.Close()
	// The read goroutines sipgo leaves behind log as they go.
	deadline := time.Now().Add(5 * time.Second)
	for {
		if lv, ok := rec.find("TCP ref went negative"); ok {
			if lv != slog.LevelDebug {
				t.Errorf("logged at %v", lv)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("sipgo never logged its TCP reference warning (fixed upstream? then sipgolog.go's comment is out of date)")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if l := rec.above(slog.LevelDebug); len(l) > 0 {
		t.Errorf("sipgo logged above Debug: %v", l)
	}
	// Its other levels too.
	sipgo_sip.DefaultLogger().Error("an error")
	if lv, _ := rec.find("an error"); lv != slog.LevelDebug {
		t.Errorf("an Error line came out at %v", lv)
	}
}
