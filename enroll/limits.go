package enroll

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Defaults of Limits.
const (
	DefaultCallsPerNumber    = 3  // per hour
	DefaultCallsPerUser      = 5  // per hour
	DefaultCallsPerIP        = 10 // per hour
	DefaultCallsPerMinuteAll = 60 // per minute, the whole deployment
)

// Limits bounds how many verification calls may be placed and how many
// app-password checks may fail (Checks). Toll fraud (making us call
// premium or foreign numbers many times) is the main cost of an
// outbound-call service. Each limit is a count per fixed window (the
// clock hour, or the clock minute for the global one) kept in the Store's
// counters, so that limits survive restarts and are shared by all nodes
// on the same database.
//
// A call is counted when StartCall is accepted. A call refused by any
// limit does not count against the others (the counts are taken together
// or not at all, Store.AddCounters), nor does one refused because another
// request started the call first. A fixed window lets up to twice a limit
// through around a window boundary; that is accepted for its simplicity
// across nodes.
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

	// Checks bounds the failed app-password checks; see CheckLimits.
	Checks CheckLimits
}

// Defaults of CheckLimits: failed app-password checks per clock minute.
const (
	DefaultCheckFailuresPerSourceUser = 10
	DefaultCheckFailuresPerSource     = 100
	DefaultCheckFailuresPerUser       = 50
	DefaultCheckFailuresPerMinuteAll  = 1000
)

// CheckLimits bounds failed app-password checks (Service.CheckAppPassword)
// so that guessing stays slow everywhere and no one can lock a user out by
// failing on purpose. The source of a check is the IP address of the
// client that tried the password (an IPv6 address counts as its /64), as
// the caller of the check (a mail gateway) reports it.
//
// A check is counted as a failure before its hash is computed, in one
// atomic step with the limits' test (Store.AddCounters), and the count is
// given back when the password matches: of any number of concurrent
// checks, no more are computed than the limits allow. Each count is per
// clock minute; a check past a limit is refused with a *LimitError
// (429) without computing a hash, until the minute ends:
//
//   - PerSourceUser: failures for one user from one source. A source that
//     guesses at a user is stopped here first, and only for that user:
//     the user, from their own address, is not affected.
//   - PerSource: failures from one source for all users together: one
//     address trying many users.
//   - PerUser: failures for one user from all sources together, which
//     bounds guessing at one user from many addresses. Past it, a source
//     is refused only if it has already failed for this user this minute
//     (and a check without a source is refused): a source with no failure
//     for the user is still checked, so that no attacker, from one
//     address or many, can lock the user out of their own; each attacking
//     address gets at most one more guess per minute.
//   - GlobalPerMinute: failures in all, every user and source: the bound
//     on guessing across the deployment. Past it, as with PerUser, only
//     sources that have already failed this minute (for any user), and
//     checks without a source, are refused: a user at an address that has
//     not failed is still checked, however many addresses attack.
//
// Zero means the default named on the field; negative means no limit
// (failures are still counted).
type CheckLimits struct {
	// PerSourceUser: failures per user and source per minute. Zero means
	// 10.
	PerSourceUser int
	// PerSource: failures per source per minute. Zero means 100.
	PerSource int
	// PerUser: failures per user per minute, past which only sources
	// with no failure for the user are checked. Zero means 50.
	PerUser int
	// GlobalPerMinute: failures per minute in all, past which only
	// sources with no failure this minute are checked. Zero means 1000.
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
	def(&l.Checks.PerSourceUser, DefaultCheckFailuresPerSourceUser)
	def(&l.Checks.PerSource, DefaultCheckFailuresPerSource)
	def(&l.Checks.PerUser, DefaultCheckFailuresPerUser)
	def(&l.Checks.GlobalPerMinute, DefaultCheckFailuresPerMinuteAll)
	return l
}

// LimitError is a call or an app-password check refused by a limit. It
// wraps ErrLimit.
type LimitError struct {
	// Limit is "number", "user", "ip" or "global" for calls, and
	// "check-source-user", "check-source", "check-user" or
	// "check-global" for failed app-password checks.
	Limit string
	// Max calls (or failed checks) per Window.
	Max    int
	Window time.Duration
	// RetryAfter is how long until the window ends.
	RetryAfter time.Duration
}

func (e *LimitError) Error() string {
	what := "calls"
	if strings.HasPrefix(e.Limit, checkLimitPrefix) {
		what = "failed checks"
	}
	return fmt.Sprintf("enroll: limit reached: at most %d %s per %v per %s; retry after %v",
		e.Max, what, e.Window, e.Limit, e.RetryAfter)
}

// Unwrap returns ErrLimit.
func (e *LimitError) Unwrap() error { return ErrLimit }

// bucket is one counter a call or a check takes from.
type bucket struct {
	limit  string
	key    string
	max    int
	window time.Duration
}

// buckets lists the counters a call for e takes from, in the order they
// are taken: the narrowest first. Calls are counted even under a limit
// that is off (max < 0), so that turning it on, or a node configured
// otherwise, sees the calls already made.
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
// refuses, nothing is counted and the error is a *LimitError. On success
// it returns a function that gives the counts back (for a call that then
// does not start).
func (l Limits) takeCall(ctx context.Context, st Store, e *Enrollment, now time.Time) (refund func(context.Context), err error) {
	_, refund, err = take(ctx, st, l.buckets(e), now)
	return refund, err
}

// AppPasswordCheckWindow is the window of the failure limits of
// CheckAppPassword: the clock minute.
const AppPasswordCheckWindow = time.Minute

// checkLimitPrefix starts the LimitError.Limit of every check limit.
const checkLimitPrefix = "check-"

// The LimitError.Limit of each check limit.
const (
	limitCheckSourceUser = checkLimitPrefix + "source-user"
	limitCheckSource     = checkLimitPrefix + "source"
	limitCheckUser       = checkLimitPrefix + "user"
	limitCheckGlobal     = checkLimitPrefix + "global"
)

// takeCheck counts one failed check of user's password from source (the
// zero Addr when unknown) in every bucket, before the hash is computed,
// and applies the rule of CheckLimits. It returns a function that gives
// the counts back, for a check that then succeeds.
func (c CheckLimits) takeCheck(ctx context.Context, st Store, user string, source netip.Addr, now time.Time) (refund func(context.Context), err error) {
	src := sourceKey(source)
	var bs []bucket
	add := func(limit, key string, max int) {
		bs = append(bs, bucket{limit, "checks:" + strings.TrimPrefix(limit, checkLimitPrefix) + ":" + key, max, AppPasswordCheckWindow})
	}
	// The per-user and global limits spare the sources that have not
	// failed yet (see CheckLimits), so AddCounters cannot apply them: they
	// are counted unbounded and decided below from the counts taken.
	add(limitCheckGlobal, "all", -1)
	if src != "" {
		add(limitCheckSource, src, c.PerSource)
		add(limitCheckSourceUser, src+" "+user, c.PerSourceUser)
	}
	add(limitCheckUser, user, -1)
	counts, refund, err := take(ctx, st, bs, now)
	if err != nil {
		return nil, err
	}
	n := len(counts)
	globalCount, userCount := counts[0], counts[n-1]
	failedForUser := src == "" || counts[n-2] > 1 // this source, this user
	failedAnywhere := src == "" || counts[1] > 1  // this source, any user
	refuse := func(limit string, max int) error {
		refund(context.WithoutCancel(ctx))
		w := now.Truncate(AppPasswordCheckWindow)
		return &LimitError{Limit: limit, Max: max, Window: AppPasswordCheckWindow, RetryAfter: w.Add(AppPasswordCheckWindow).Sub(now)}
	}
	if c.PerUser > 0 && userCount > int64(c.PerUser) && failedForUser {
		return nil, refuse(limitCheckUser, c.PerUser)
	}
	if c.GlobalPerMinute > 0 && globalCount > int64(c.GlobalPerMinute) && failedAnywhere {
		return nil, refuse(limitCheckGlobal, c.GlobalPerMinute)
	}
	return refund, nil
}

// sourceKey is the counter key of a check's source: the IPv4 address, or
// the /64 of an IPv6 one (one subscriber's network); "" when unknown.
func sourceKey(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	a = a.Unmap()
	if a.Is4() {
		return a.String()
	}
	p, _ := a.Prefix(64)
	return p.String()
}

// take counts one in every bucket in one step (Store.AddCounters): when a
// bucket's limit refuses, nothing is counted and the error is a
// *LimitError. On success it returns the new counts, in the order of bs,
// and a function that gives them back.
func take(ctx context.Context, st Store, bs []bucket, now time.Time) (counts []int64, refund func(context.Context), err error) {
	changes := make([]CounterChange, len(bs))
	for i, b := range bs {
		changes[i] = CounterChange{Bucket: b.key, Window: now.Truncate(b.window), Delta: 1, Max: int64(max(b.max, 0))}
	}
	counts, ok, err := st.AddCounters(ctx, changes)
	if err != nil {
		return nil, nil, fmt.Errorf("enroll: rate-limit counter: %w", err)
	}
	if !ok {
		b := bs[len(counts)-1]
		w := now.Truncate(b.window)
		return counts, nil, &LimitError{Limit: b.limit, Max: b.max, Window: b.window, RetryAfter: w.Add(b.window).Sub(now)}
	}
	refund = func(ctx context.Context) {
		back := make([]CounterChange, len(changes))
		for i, c := range changes {
			back[i] = CounterChange{Bucket: c.Bucket, Window: c.Window, Delta: -1}
		}
		// Best effort: a count not given back only makes the limit
		// stricter for the rest of its window.
		_, _, _ = st.AddCounters(ctx, back)
	}
	return counts, refund, nil
}
