package sip

import (
	"log/slog"
	"strings"
	"testing"
	"time"
)

// sipgo's messages through libLogger: a level quieter, long values cut,
// each message at most logBurst times an interval and then one line that
// counts the rest.
func TestLibLogger(t *testing.T) {
	var buf syncBuffer
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	l := libLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	l.Handler().(*libHandler).now = func() time.Time { return now }
	l = l.With("caller", "Transport<UDP>")
	data := strings.Repeat("\x01é", 30000) // 90 KB, as a datagram sipgo cannot parse
	for range 100 {
		l.Error("failed to parse", "data", data, "error", "x")
	}
	l.Debug("below our debug") // sipgo's debug is not ours
	now = now.Add(logInterval)
	l.Error("failed to parse", "data", "short")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != logBurst+2 {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), logBurst+2, buf.String())
	}
	for i, ln := range lines[:logBurst] {
		if !strings.Contains(ln, "level=WARN") || !strings.Contains(ln, `caller=Transport<UDP>`) || !strings.Contains(ln, "…(len=90000)") || len(ln) > 400 {
			t.Errorf("line %d (%d bytes): %s", i, len(ln), ln)
		}
	}
	if s := lines[logBurst]; !strings.Contains(s, `msg="failed to parse (repeated)"`) || !strings.Contains(s, "suppressed=95") {
		t.Errorf("summary %s", s)
	}
	if s := lines[logBurst+1]; !strings.Contains(s, "data=short") {
		t.Errorf("after the interval %s", s)
	}
}
