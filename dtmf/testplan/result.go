package testplan

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"

	"denwa/dtmf"
)

// Heard is one key the far end heard.
type Heard struct {
	Key    dtmf.Key
	Source dtmf.Source
	// AtMs is when the key started, in ms on the sender's timeline (the
	// same origin as the [Slot] times): the receiver's start of the key,
	// moved onto the sender's clock by the caller.
	AtMs float64
	// DelayMs is AtMs minus the start of the case it was assigned to
	// ([Assign] fills it in).
	DelayMs float64
	// DurationMs is the key's length as the receiver measured it (0 when
	// it does not know, e.g. a SIP INFO without Duration).
	DurationMs float64
}

type heardJSON struct {
	Key        string  `json:"key"`
	Source     string  `json:"source"`
	AtMs       float64 `json:"at_ms"`
	DelayMs    float64 `json:"delay_ms"`
	DurationMs float64 `json:"duration_ms"`
}

// MarshalJSON writes the key and source as text.
func (h Heard) MarshalJSON() ([]byte, error) {
	return json.Marshal(heardJSON{keyText(h.Key), h.Source.String(), round3(h.AtMs), round3(h.DelayMs), round3(h.DurationMs)})
}

// UnmarshalJSON reads what MarshalJSON writes (a far end's report).
func (h *Heard) UnmarshalJSON(b []byte) error {
	var j heardJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	k, err := parseKey(j.Key)
	if err != nil {
		return err
	}
	src, err := ParseSource(j.Source)
	if err != nil {
		return err
	}
	*h = Heard{Key: k, Source: src, AtMs: j.AtMs, DelayMs: j.DelayMs, DurationMs: j.DurationMs}
	return nil
}

// ParseSource reads a source as dtmf.Source.String writes it.
func ParseSource(s string) (dtmf.Source, error) {
	for _, src := range []dtmf.Source{dtmf.SourceInband, dtmf.SourceRFC4733, dtmf.SourceSIPInfo, dtmf.SourceUnknown} {
		if s == src.String() {
			return src, nil
		}
	}
	return 0, fmt.Errorf("testplan: source %q: want inband, rfc4733, sip-info or unknown", s)
}

// round3 rounds to the microsecond, for readable JSON.
func round3(v float64) float64 { return math.Round(v*1000) / 1000 }

// Slot is where one case sits on the sender's timeline, in ms.
type Slot struct {
	Key dtmf.Key
	// StartMs is when the press starts; EndMs when the case's span ends
	// (the press, its break and the gap after it: the next case's start
	// when the cases are laid end to end).
	StartMs, EndMs float64
}

// Schedule lays cases end to end from startMs, each taking its
// [Case.SpanMs].
func Schedule(cases []Case, startMs float64) []Slot {
	slots := make([]Slot, len(cases))
	t := startMs
	for i := range cases {
		span := float64(cases[i].SpanMs())
		slots[i] = Slot{Key: cases[i].Key, StartMs: t, EndMs: t + span}
		t += span
	}
	return slots
}

// Window widens each slot when assigning keys: a key heard from
// StartMs−BeforeMs to EndMs+AfterMs may belong to the slot. AfterMs covers
// the path's delay and the receiver's own lag; BeforeMs clock error.
type Window struct {
	BeforeMs, AfterMs float64
}

// Assign gives each heard key to the case it belongs to: among the slots
// whose window holds its AtMs, those of the same key first; among them the
// one that started last, by AtMs+BeforeMs (a key belongs to the press
// before it, its delay being the path's), else the earliest. It sets each
// assigned key's DelayMs and returns the keys per slot (in the order
// heard) and those no window holds. heard need not be sorted.
func Assign(slots []Slot, heard []Heard, w Window) (perSlot [][]Heard, unmatched []Heard) {
	perSlot = make([][]Heard, len(slots))
	hs := append([]Heard(nil), heard...)
	sort.SliceStable(hs, func(i, j int) bool { return hs[i].AtMs < hs[j].AtMs })
	for _, h := range hs {
		best := -1
		for pass := 0; pass < 2 && best < 0; pass++ {
			for i, s := range slots {
				if h.AtMs < s.StartMs-w.BeforeMs || h.AtMs >= s.EndMs+w.AfterMs {
					continue
				}
				if pass == 0 && s.Key != h.Key {
					continue
				}
				if best < 0 || better(s, slots[best], h.AtMs+w.BeforeMs) {
					best = i
				}
			}
		}
		if best < 0 {
			unmatched = append(unmatched, h)
			continue
		}
		h.DelayMs = h.AtMs - slots[best].StartMs
		perSlot[best] = append(perSlot[best], h)
	}
	return perSlot, unmatched
}

// better reports whether slot a is a better home than b for a key heard
// by t: one that had started beats one that had not; of two that had, the
// later; of two that had not, the earlier.
func better(a, b Slot, t float64) bool {
	aStarted, bStarted := a.StartMs <= t, b.StartMs <= t
	switch {
	case aStarted != bStarted:
		return aStarted
	case aStarted:
		return a.StartMs > b.StartMs
	default:
		return a.StartMs < b.StartMs
	}
}

// Judge tells whether what was heard for a case meets its expectation:
// detect passes when exactly one key was heard and it is the case's key;
// reject when nothing was heard; either always.
func Judge(c *Case, heard []Heard) bool {
	switch c.Expect {
	case ExpectDetect:
		return len(heard) == 1 && heard[0].Key == c.Key
	case ExpectReject:
		return len(heard) == 0
	case ExpectEither:
		return true
	}
	return false
}

// CaseResult is one row of a report.
type CaseResult struct {
	ID     string  `json:"id"`
	Mode   Mode    `json:"mode"`
	Expect Expect  `json:"expect"`
	Sent   Sent    `json:"sent"`
	Heard  []Heard `json:"heard"`
	Pass   bool    `json:"pass"`
	Note   string  `json:"note,omitempty"`
}

// Summary counts a report's cases.
type Summary struct {
	Cases  int `json:"cases"`
	Passed int `json:"passed"`
	Failed int `json:"failed"`
	// Unmatched counts heard keys that belong to no case (each one also
	// fails the report).
	Unmatched int  `json:"unmatched"`
	Pass      bool `json:"pass"`
}

// Report is the result of running a plan in one mode (or "all").
type Report struct {
	Plan  string       `json:"plan"`
	Mode  string       `json:"mode"`
	Cases []CaseResult `json:"cases"`
	// Unmatched holds heard keys that no case's window holds.
	Unmatched []Heard `json:"unmatched"`
	Summary   Summary `json:"summary"`
}

// NewReport judges each case against what was heard for it (perCase[i]
// belongs to cases[i], as [Assign] returns it) and sums up. Keys no case
// holds go in Unmatched and fail the report.
func NewReport(plan, mode string, cases []Case, perCase [][]Heard, unmatched []Heard) Report {
	r := Report{Plan: plan, Mode: mode, Cases: make([]CaseResult, len(cases)), Unmatched: unmatched}
	for i := range cases {
		c := &cases[i]
		var h []Heard
		if i < len(perCase) {
			h = perCase[i]
		}
		if h == nil {
			h = []Heard{}
		}
		r.Cases[i] = CaseResult{ID: c.ID, Mode: c.Mode, Expect: c.Expect, Sent: c.Sent(), Heard: h, Pass: Judge(c, h), Note: c.Note}
	}
	if r.Unmatched == nil {
		r.Unmatched = []Heard{}
	}
	r.sum()
	return r
}

func (r *Report) sum() {
	s := Summary{Cases: len(r.Cases), Unmatched: len(r.Unmatched)}
	for _, c := range r.Cases {
		if c.Pass {
			s.Passed++
		} else {
			s.Failed++
		}
	}
	s.Pass = s.Failed == 0 && s.Unmatched == 0
	r.Summary = s
}

// Pass reports whether every case passed and no key was heard outside them.
func (r *Report) Pass() bool { return r.Summary.Pass }

// Combine joins reports of the same plan run in several modes into one
// (mode "all"), in order.
func Combine(plan string, rs ...Report) Report {
	out := Report{Plan: plan, Mode: "all", Cases: []CaseResult{}, Unmatched: []Heard{}}
	for _, r := range rs {
		out.Cases = append(out.Cases, r.Cases...)
		out.Unmatched = append(out.Unmatched, r.Unmatched...)
	}
	out.sum()
	return out
}
