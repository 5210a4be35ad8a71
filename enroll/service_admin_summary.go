package enroll

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"
)

// The summary of the calls for a window of time: what the console's
// "today at a glance" page draws and `denwa admin summary` prints.

// SummaryQuery asks for a Summary. A zero To means now; a zero From means
// DefaultSummaryWindow before To; a zero Bucket picks the smallest of 1
// and 5, 15 and 30 minutes, 1, 3, 6 and 12 hours and a day that cuts the
// window into at most 48 buckets.
type SummaryQuery struct {
	From, To time.Time
	Bucket   time.Duration
}

// Summary tells how the calls that ended in a window went.
type Summary struct {
	From, To time.Time
	// Calls is how many calls ended in the window (a call lost with its
	// node included, as failed).
	Calls int
	// Outcomes counts those calls by outcome; only outcomes that occurred
	// appear.
	Outcomes map[Outcome]int
	// KeySources counts the verified and fraud-reported calls by how the
	// deciding key arrived ("rfc4733", "inband", "sip-info").
	KeySources map[string]int
	// Causes counts the failed calls (outcome failed) by cause, most
	// frequent first, at most MaxSummaryCauses.
	Causes []CauseCount
	// AnswerToKey is how long people took, from the answer to the
	// deciding key, on the verified calls that know both times.
	AnswerToKey Durations
	// InProgress is how many enrollments are in calling now, on every
	// node.
	InProgress int
	// Bucket is the width of each of Series' buckets.
	Bucket time.Duration
	// Series counts the outcomes per bucket, from From on, for a chart:
	// bucket i starts at From + i·Bucket (the last may end after To).
	Series []SummaryBucket
}

// MaxSummaryCauses bounds Summary.Causes.
const MaxSummaryCauses = 10

// CauseCount is how many failed calls had one cause.
type CauseCount struct {
	Cause string
	Count int
}

// Durations summarises a set of durations: their count, median and 95th
// percentile (nearest rank); zero when Count is 0.
type Durations struct {
	Count       int
	Median, P95 time.Duration
}

// SummaryBucket is one bucket of Summary.Series.
type SummaryBucket struct {
	Start    time.Time
	Calls    int
	Outcomes map[Outcome]int
}

var summaryBuckets = []time.Duration{
	time.Minute, 5 * time.Minute, 15 * time.Minute, 30 * time.Minute,
	time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour,
}

// summaryPage is how many audit events Summary reads at a time.
const summaryPage = 1000

// Summary summarises the calls that ended in [From, To). Errors:
// ErrInvalidInput (a window that is empty or longer than
// MaxSummaryWindow, a bucket under MinSummaryBucket or one that makes
// more than MaxSummaryBuckets).
func (a *Admin) Summary(ctx context.Context, q SummaryQuery) (Summary, error) {
	if q.To.IsZero() {
		q.To = a.clock()
	}
	if q.From.IsZero() {
		q.From = q.To.Add(-DefaultSummaryWindow)
	}
	q.From, q.To = Now(q.From), Now(q.To)
	window := q.To.Sub(q.From)
	switch {
	case window <= 0:
		return Summary{}, checkWindow(q.From, q.To)
	case window > MaxSummaryWindow:
		return Summary{}, fmt.Errorf("%w: window %v is longer than %d days", ErrInvalidInput, window, MaxSummaryWindow/(24*time.Hour))
	case q.Bucket < 0 || (q.Bucket > 0 && q.Bucket < MinSummaryBucket):
		return Summary{}, fmt.Errorf("%w: bucket %v: want at least %v", ErrInvalidInput, q.Bucket, MinSummaryBucket)
	}
	if q.Bucket == 0 {
		q.Bucket = summaryBuckets[len(summaryBuckets)-1]
		for _, b := range summaryBuckets {
			if (window+b-1)/b <= 48 {
				q.Bucket = b
				break
			}
		}
	}
	n := int((window + q.Bucket - 1) / q.Bucket)
	if n > MaxSummaryBuckets {
		return Summary{}, fmt.Errorf("%w: bucket %v cuts the window into %d buckets, more than %d", ErrInvalidInput, q.Bucket, n, MaxSummaryBuckets)
	}
	s := Summary{
		From: q.From, To: q.To, Bucket: q.Bucket,
		Outcomes: map[Outcome]int{}, KeySources: map[string]int{},
		Series: make([]SummaryBucket, n),
	}
	for i := range s.Series {
		s.Series[i] = SummaryBucket{Start: q.From.Add(time.Duration(i) * q.Bucket), Outcomes: map[Outcome]int{}}
	}
	causes := map[string]int{}
	var waits []time.Duration
	for _, action := range []string{ActionCallEnd, ActionRecover} {
		err := a.eachAudit(ctx, AuditFilter{Action: action, From: q.From, To: q.To}, func(ev AuditEvent) {
			s.Calls++
			s.Outcomes[ev.Outcome]++
			b := &s.Series[ev.At.Sub(q.From)/q.Bucket]
			b.Calls++
			b.Outcomes[ev.Outcome]++
			if ev.KeySource != "" {
				s.KeySources[ev.KeySource]++
			}
			if ev.Outcome == OutcomeFailed {
				causes[ev.Cause]++
			}
			if ev.Outcome == OutcomeVerified && !ev.AnsweredAt.IsZero() && !ev.KeyAt.IsZero() && !ev.KeyAt.Before(ev.AnsweredAt) {
				waits = append(waits, ev.KeyAt.Sub(ev.AnsweredAt))
			}
		})
		if err != nil {
			return Summary{}, err
		}
	}
	for c, k := range causes {
		s.Causes = append(s.Causes, CauseCount{Cause: c, Count: k})
	}
	slices.SortFunc(s.Causes, func(x, y CauseCount) int {
		return cmp.Or(cmp.Compare(y.Count, x.Count), cmp.Compare(x.Cause, y.Cause))
	})
	s.Causes = s.Causes[:min(len(s.Causes), MaxSummaryCauses)]
	s.AnswerToKey = summarise(waits)
	var err error
	if s.InProgress, err = a.countCalling(ctx); err != nil {
		return Summary{}, err
	}
	return s, nil
}

// eachAudit calls fn for every audit event f picks, a page at a time.
func (a *Admin) eachAudit(ctx context.Context, f AuditFilter, fn func(AuditEvent)) error {
	f.Limit = summaryPage
	for {
		evs, err := a.st.ListAuditEvents(ctx, f)
		if err != nil {
			return fmt.Errorf("enroll: summary: %w", err)
		}
		for _, ev := range evs {
			fn(ev)
		}
		if len(evs) < summaryPage {
			return nil
		}
		last := evs[len(evs)-1]
		f.AfterAt, f.AfterID = last.At, last.ID
	}
}

// countCalling counts the enrollments in calling.
func (a *Admin) countCalling(ctx context.Context) (int, error) {
	f := EnrollmentFilter{State: StateCalling, Limit: summaryPage}
	n := 0
	for {
		es, err := a.st.ListEnrollments(ctx, f)
		if err != nil {
			return 0, fmt.Errorf("enroll: summary: calls in progress: %w", err)
		}
		n += len(es)
		if len(es) < summaryPage {
			return n, nil
		}
		last := es[len(es)-1]
		f.AfterCreated, f.AfterID = last.CreatedAt, last.ID
	}
}

// summarise returns the count, median and 95th percentile of ds (sorted
// in place), by nearest rank.
func summarise(ds []time.Duration) Durations {
	if len(ds) == 0 {
		return Durations{}
	}
	slices.Sort(ds)
	rank := func(p int) time.Duration { // the smallest value with at least p% at or below it
		i := (p*len(ds) + 99) / 100
		return ds[max(i, 1)-1]
	}
	return Durations{Count: len(ds), Median: rank(50), P95: rank(95)}
}
