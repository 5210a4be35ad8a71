package enroll

import (
	"context"
	"fmt"
	"time"
)

// Defaults of Limits.
const (
	DefaultCallsPerNumber    = 3  // per hour
	DefaultCallsPerUser      = 5  // per hour
	DefaultCallsPerIP        = 10 // per hour
	DefaultCallsPerMinuteAll = 60 // per minute, the whole deployment
)

// Limits bounds how many verification calls may be placed: toll fraud
// (making us call premium or foreign numbers many times) is the main cost
// of an outbound-call service. Each limit is a count per fixed window
// (the clock hour, or the clock minute for the global one) kept in the
// Store's counters, so that limits survive restarts and are shared by all
// nodes on the same database.
//
// A call is counted when StartCall is accepted. A call refused by any
// limit does not count against the others (the counts it took are given
// back), nor does one refused because another request started the call
// first. A fixed window lets up to twice a limit through around a window
// boundary; that is accepted for its simplicity across nodes.
//
// For each field, zero means the default and a negative value means no
// limit (calls are still counted).
type Limits struct {
	// PerNumber: calls to one number per hour. Zero means 3.
	PerNumber int
	// PerUser: calls for one UserID per hour. Zero means 5.
	PerUser int
	// PerIP: calls for enrollments requested from one client IP per hour
	// (enrollments with no ClientIP are not counted). Zero means 10.
	PerIP int
	// GlobalPerMinute: calls per minute in all. Zero means 60.
	GlobalPerMinute int
}

// withDefaults fills in zero fields.
func (l Limits) withDefaults() Limits {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&l.PerNumber, DefaultCallsPerNumber)
	def(&l.PerUser, DefaultCallsPerUser)
	def(&l.PerIP, DefaultCallsPerIP)
	def(&l.GlobalPerMinute, DefaultCallsPerMinuteAll)
	return l
}

// LimitError is a call refused by a limit. It wraps ErrLimit.
type LimitError struct {
	// Limit is "number", "user", "ip" or "global" for calls, and
	// "app-password-check" for a user's failed app-password checks.
	Limit string
	// Max calls (or failed checks) per Window.
	Max    int
	Window time.Duration
	// RetryAfter is how long until the window ends.
	RetryAfter time.Duration
}

func (e *LimitError) Error() string {
	what := "calls"
	if e.Limit == limitAppPasswordCheck {
		what = "failed checks"
	}
	return fmt.Sprintf("enroll: limit reached: at most %d %s per %v per %s; retry after %v",
		e.Max, what, e.Window, e.Limit, e.RetryAfter)
}

// limitAppPasswordCheck is the LimitError.Limit of CheckAppPassword.
const limitAppPasswordCheck = "app-password-check"

// Unwrap returns ErrLimit.
func (e *LimitError) Unwrap() error { return ErrLimit }

// bucket is one counter a call takes from.
type bucket struct {
	limit  string
	key    string
	max    int
	window time.Duration
}

// buckets lists the counters a call for e takes from, in the order they
// are taken: the narrowest first, so that a refused call touches the
// global counter least. Calls are counted even under a limit that is off
// (max < 0), so that turning it on, or a node configured otherwise, sees
// the calls already made.
func (l Limits) buckets(e *Enrollment) []bucket {
	var bs []bucket
	add := func(limit, key string, max int, window time.Duration) {
		bs = append(bs, bucket{limit, "calls:" + limit + ":" + key, max, window})
	}
	add("number", e.Phone, l.PerNumber, time.Hour)
	add("user", e.UserID, l.PerUser, time.Hour)
	if e.ClientIP != "" {
		add("ip", e.ClientIP, l.PerIP, time.Hour)
	}
	add("global", "all", l.GlobalPerMinute, time.Minute)
	return bs
}

// takeCall counts one call for e in every bucket, or none: when a limit
// refuses, the counts already taken are given back and the error is a
// *LimitError. On success it returns a function that gives them back (for
// a call that then does not start).
func (l Limits) takeCall(ctx context.Context, st Store, e *Enrollment, now time.Time) (refund func(context.Context), err error) {
	type taken struct {
		key    string
		window time.Time
	}
	var got []taken
	giveBack := func(ctx context.Context) {
		for _, t := range got {
			// Best effort: a count not given back only makes the
			// limit stricter for the rest of its window.
			_, _ = st.AddCounter(ctx, t.key, t.window, -1)
		}
	}
	for _, b := range l.buckets(e) {
		w := now.Truncate(b.window)
		n, err := st.AddCounter(ctx, b.key, w, 1)
		if err != nil {
			giveBack(context.WithoutCancel(ctx))
			return nil, fmt.Errorf("enroll: rate-limit counter: %w", err)
		}
		got = append(got, taken{b.key, w})
		if b.max > 0 && n > int64(b.max) {
			giveBack(context.WithoutCancel(ctx))
			return nil, &LimitError{Limit: b.limit, Max: b.max, Window: b.window, RetryAfter: w.Add(b.window).Sub(now)}
		}
	}
	return giveBack, nil
}
