package sip

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Log lines about what strangers send are bounded two ways: each is cut to
// a few hundred bytes (maxLogValue per value, quoted so that no control
// byte reaches the log), and each kind of line is rate-limited by a
// logLimit: the first few of an interval are written, the rest counted
// and summed up in one line when the next interval begins.

// maxLogValue bounds a string value in a line about received bytes.
const maxLogValue = 160

// logBurst lines of one kind are written per logInterval; the rest are
// counted.
const (
	logBurst    = 5
	logInterval = 10 * time.Second
)

// quoteCut renders b for a log value: Go escapes for every byte that is
// not printable ASCII (and for quotes and backslashes), without the
// surrounding quotes, cut to maxLogValue characters and then saying how
// long b was. No control byte, and no more than a few hundred bytes,
// reach the log whatever b holds.
func quoteCut(b []byte) string {
	q := strconv.QuoteToASCII(string(b[:min(len(b), maxLogValue)]))
	q = q[1 : len(q)-1]
	if len(q) <= maxLogValue && len(b) <= maxLogValue {
		return q
	}
	if len(q) > maxLogValue {
		q = q[:maxLogValue]
		if i := strings.LastIndexByte(q, '\\'); i >= 0 && i > maxLogValue-10 {
			q = q[:i] // not inside an escape
		}
	}
	return q + "…(len=" + strconv.Itoa(len(b)) + ")"
}

// logLimit lets logBurst lines through per logInterval. It is safe for
// concurrent use.
type logLimit struct {
	mu         sync.Mutex
	start      time.Time // of the interval
	n          int       // lines written in it
	suppressed int       // lines counted and not written in it
}

// allow reports whether a line may be written now; when an interval ends
// with lines suppressed, it also returns their count, to be written once
// (before the line, whether or not that is allowed).
func (l *logLimit) allow(now time.Time) (ok bool, suppressed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.start) >= logInterval {
		suppressed = l.suppressed
		l.start, l.n, l.suppressed = now, 0, 0
	}
	if l.n < logBurst {
		l.n++
		return true, suppressed
	}
	l.suppressed++
	return false, suppressed
}

// libLogger is the logger sipgo gets: one level quieter than ours (its
// Info lines are our Debug), with every string value cut to maxLogValue
// bytes and each message rate-limited by its text (sipgo's messages are
// constants: "failed to parse", "Read filter error"), so that no one can
// fill the log by sending what sipgo complains about.
func libLogger(l *slog.Logger) *slog.Logger {
	return slog.New(&libHandler{h: l.Handler(), limits: &libLimits{m: map[string]*logLimit{}}, now: time.Now})
}

// libLimits holds a logLimit per message, at most maxLibMessages of them.
type libLimits struct {
	mu sync.Mutex
	m  map[string]*logLimit
}

const maxLibMessages = 256

func (ls *libLimits) get(msg string) *logLimit {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	l := ls.m[msg]
	if l == nil {
		if len(ls.m) >= maxLibMessages {
			msg = "" // one shared limit for the rest
			if l = ls.m[msg]; l != nil {
				return l
			}
		}
		l = &logLimit{}
		ls.m[msg] = l
	}
	return l
}

type libHandler struct {
	h      slog.Handler
	limits *libLimits // shared by the handlers WithAttrs and WithGroup make
	now    func() time.Time
}

func (q *libHandler) Enabled(ctx context.Context, lv slog.Level) bool {
	return q.h.Enabled(ctx, lv-4)
}

func (q *libHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelInfo { // our Debug and above; sipgo's Debug is below
		ok, suppressed := q.limits.get(r.Message).allow(q.now())
		if suppressed > 0 {
			s := slog.NewRecord(r.Time, r.Level-4, r.Message+" (repeated)", 0)
			s.AddAttrs(slog.Int("suppressed", suppressed), slog.Duration("interval", logInterval))
			_ = q.h.Handle(ctx, s)
		}
		if !ok {
			return nil
		}
	}
	out := slog.NewRecord(r.Time, r.Level-4, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(cutAttr(a))
		return true
	})
	return q.h.Handle(ctx, out)
}

func (q *libHandler) WithAttrs(as []slog.Attr) slog.Handler {
	cut := make([]slog.Attr, len(as))
	for i, a := range as {
		cut[i] = cutAttr(a)
	}
	return &libHandler{h: q.h.WithAttrs(cut), limits: q.limits, now: q.now}
}

func (q *libHandler) WithGroup(n string) slog.Handler {
	return &libHandler{h: q.h.WithGroup(n), limits: q.limits, now: q.now}
}

// cutAttr cuts a long string value (sipgo logs a datagram it cannot parse
// whole, as "data") and quotes it; an error's text likewise.
func cutAttr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		if s := v.String(); len(s) > maxLogValue {
			return slog.String(a.Key, quoteCut([]byte(s)))
		}
	case slog.KindAny:
		if err, ok := v.Any().(error); ok {
			if s := err.Error(); len(s) > maxLogValue {
				return slog.String(a.Key, quoteCut([]byte(s)))
			}
		}
	case slog.KindGroup:
		as := v.Group()
		cut := make([]slog.Attr, len(as))
		for i, g := range as {
			cut[i] = cutAttr(g)
		}
		return slog.Attr{Key: a.Key, Value: slog.GroupValue(cut...)}
	}
	return slog.Attr{Key: a.Key, Value: v}
}
