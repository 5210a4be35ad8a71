package console

import (
	"net/http"
	"sort"
	"time"

	"denwa/enroll"
)

// windows are the periods the overview offers, by their ?window= name:
// how far back, the width of the chart's bars, and how a bar is labelled.
var windows = map[string]struct {
	span, bucket time.Duration
	label        string
}{
	"24h": {24 * time.Hour, time.Hour, "15:04"},
	"7d":  {7 * 24 * time.Hour, 6 * time.Hour, "01/02 15h"},
	"30d": {30 * 24 * time.Hour, 24 * time.Hour, "01/02"},
}

// chartOrder is the order the outcomes are stacked in, bottom up: the
// good one first, then fraud, then the rest.
var chartOrder = []enroll.Outcome{
	enroll.OutcomeVerified, enroll.OutcomeFraudReported, enroll.OutcomeNoAnswer, enroll.OutcomeBusy,
	enroll.OutcomeRejected, enroll.OutcomeUnreachable, enroll.OutcomeNoInput, enroll.OutcomeWrongInput,
	enroll.OutcomeHungUp, enroll.OutcomeFailed,
}

type overviewView struct {
	Window      string
	Windows     []string
	From, To    string
	Calls       int
	InProgress  int
	Verified    int
	Fraud       int
	Failed      int
	Chart       chartView
	Outcomes    []countRow // the failures by outcome
	Causes      []countRow // the failed calls by cause
	KeySources  []countRow
	AnswerToKey enroll.Durations
	Median, P95 string
}

type countRow struct {
	Name  string
	Count int
}

// getOverview is "today at a glance": the calls of a window (24 hours by
// default) by outcome over time, calls in progress, failures by cause.
func (s *Server) getOverview(q *req) error {
	name := q.r.URL.Query().Get("window")
	if _, ok := windows[name]; !ok {
		name = "24h"
	}
	w := windows[name]
	to := s.bucketEnd(s.now(), w.bucket)
	sum, err := s.admin.Summary(q.r.Context(), enroll.SummaryQuery{From: to.Add(-w.span), To: to, Bucket: w.bucket})
	if err != nil {
		return s.serviceError(q, err)
	}
	v := overviewView{Window: name, Windows: []string{"24h", "7d", "30d"},
		From: s.timeText(sum.From), To: s.timeText(sum.To),
		Calls: sum.Calls, InProgress: sum.InProgress, AnswerToKey: sum.AnswerToKey,
		Verified: sum.Outcomes[enroll.OutcomeVerified], Fraud: sum.Outcomes[enroll.OutcomeFraudReported]}
	v.Failed = sum.Calls - v.Verified - v.Fraud
	if sum.AnswerToKey.Count > 0 {
		v.Median, v.P95 = seconds(sum.AnswerToKey.Median), seconds(sum.AnswerToKey.P95)
	}
	c := chart{}
	for _, b := range sum.Series {
		c.Labels = append(c.Labels, b.Start.In(s.cfg.Location).Format(w.label))
	}
	for _, o := range chartOrder {
		if sum.Outcomes[o] == 0 {
			continue
		}
		sr := series{Name: q.t.outcomeText(o), Class: "o-" + o.String(), Values: make([]int, len(sum.Series))}
		for i, b := range sum.Series {
			sr.Values[i] = b.Outcomes[o]
		}
		c.Series = append(c.Series, sr)
		if o != enroll.OutcomeVerified {
			v.Outcomes = append(v.Outcomes, countRow{q.t.outcomeText(o), sum.Outcomes[o]})
		}
	}
	v.Chart = c.layout("outcomes-chart", q.t.ChartTitle)
	for _, cc := range sum.Causes {
		v.Causes = append(v.Causes, countRow{cc.Cause, cc.Count})
	}
	for src, n := range sum.KeySources {
		v.KeySources = append(v.KeySources, countRow{src, n})
	}
	sort.Slice(v.KeySources, func(i, j int) bool { return v.KeySources[i].Name < v.KeySources[j].Name })
	p := s.newPage(q, q.t.OverviewTitle)
	p.Nav, p.Data = "overview", v
	s.render(q, http.StatusOK, "overview", p)
	return nil
}

// bucketEnd is the end of the bucket (of width d, aligned to midnight in
// the console's time zone) that now falls in.
func (s *Server) bucketEnd(now time.Time, d time.Duration) time.Time {
	local := now.In(s.cfg.Location)
	midnight := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, s.cfg.Location)
	return midnight.Add((now.Sub(midnight)/d + 1) * d)
}

func seconds(d time.Duration) string {
	return d.Round(100 * time.Millisecond).String()
}
