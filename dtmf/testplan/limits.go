package testplan

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"unicode/utf8"

	"denwa/dtmf"
)

// Limits on what a plan may ask for. A plan file comes from anyone; these
// keep a mistaken or hostile one from asking for hours of audio or gigabytes
// of packets, and every value within them is one a sender can produce.
const (
	MaxFileBytes   = 4 << 20 // plan file size
	MaxCases       = 5000    // cases per plan
	MaxIDLen       = 128     // bytes of a case ID
	MaxNoteLen     = 512     // bytes of a case note
	MaxDurationMs  = 10000   // a press (RFC 4733 events stay in one segment)
	MaxGapMs       = 10000   // the quiet time after a press
	MaxBreakMs     = 1000    // an interruption inside an in-band press
	MaxTotalMs     = 30 * 60 * 1000
	MinLevelDBm0   = -90.0 // quieter than any line's noise
	MaxLevelDBm0   = 3.17  // the G.711 maximum
	MaxDevPct      = 10.0  // frequency offset either way (neighbouring tones are 9 % apart)
	MinSNRdB       = -20.0
	MaxSNRdB       = 90.0
	MaxEndRepeats  = 10
	MinIntervalMs  = 5
	MaxIntervalMs  = 100
	maxVolume      = 63
	maxPayloadType = 127
)

// ErrPlan is wrapped by every error about a plan's content; the message
// names the case and the field.
var ErrPlan = errors.New("testplan: invalid plan")

// Parse reads a plan file (JSON: {"name": …, "cases": [{…}, …]}, as
// [Plan] marshals), refusing unknown fields, trailing data, files over
// [MaxFileBytes] and any plan [Plan.Validate] refuses.
func Parse(r io.Reader) (Plan, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxFileBytes+1))
	if err != nil {
		return Plan{}, fmt.Errorf("testplan: reading the plan: %w", err)
	}
	if len(b) > MaxFileBytes {
		return Plan{}, fmt.Errorf("%w: file larger than %d bytes", ErrPlan, MaxFileBytes)
	}
	if !utf8.Valid(b) {
		return Plan{}, fmt.Errorf("%w: not UTF-8 text", ErrPlan)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var p Plan
	if err := dec.Decode(&p); err != nil {
		return Plan{}, fmt.Errorf("%w: %v", ErrPlan, err)
	}
	if dec.More() {
		return Plan{}, fmt.Errorf("%w: data after the plan object", ErrPlan)
	}
	if err := p.Validate(); err != nil {
		return Plan{}, err
	}
	return p, nil
}

// Validate reports the first problem of the plan: a missing name, no
// cases, too many, a duplicate ID, or a case [Case.Validate] refuses.
func (p *Plan) Validate() error {
	switch {
	case p.Name == "":
		return fmt.Errorf("%w: no name", ErrPlan)
	case len(p.Name) > MaxIDLen || !printable(p.Name):
		return fmt.Errorf("%w: name: want up to %d printable characters", ErrPlan, MaxIDLen)
	case len(p.Cases) == 0:
		return fmt.Errorf("%w: %q has no cases", ErrPlan, p.Name)
	case len(p.Cases) > MaxCases:
		return fmt.Errorf("%w: %d cases, at most %d", ErrPlan, len(p.Cases), MaxCases)
	}
	seen := make(map[string]int, len(p.Cases))
	total := 0
	for i := range p.Cases {
		c := &p.Cases[i]
		if err := c.validate(); err != nil {
			return fmt.Errorf("case %d: %w", i+1, err)
		}
		if j, ok := seen[c.ID]; ok {
			return fmt.Errorf("%w: case %d: id %q already used by case %d", ErrPlan, i+1, c.ID, j+1)
		}
		seen[c.ID] = i
		total += c.SpanMs()
	}
	if total > MaxTotalMs {
		return fmt.Errorf("%w: the cases last %d s together, at most %d s", ErrPlan, total/1000, MaxTotalMs/1000)
	}
	return nil
}

// Validate reports the first field of c out of range, as an error that
// wraps [ErrPlan] and names the case.
func (c *Case) Validate() error { return c.validate() }

func (c *Case) validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: case %q: %s", ErrPlan, c.ID, fmt.Sprintf(format, a...))
	}
	switch {
	case c.ID == "" || len(c.ID) > MaxIDLen || !printable(c.ID):
		return fmt.Errorf("%w: case id %q: want 1 to %d printable characters", ErrPlan, c.ID, MaxIDLen)
	case !c.Mode.Valid():
		return bad("mode %q: want inband, rfc4733 or sip-info", c.Mode)
	case !c.Key.Valid():
		return bad("no key (want one of 0-9 * # A-D)")
	case !c.Expect.Valid():
		return bad("expect %q: want detect, reject or either", c.Expect)
	case c.DurationMs < 0 || c.DurationMs > MaxDurationMs:
		return bad("duration_ms %d: want 0 to %d", c.DurationMs, MaxDurationMs)
	case c.GapMs < 0 || c.GapMs > MaxGapMs:
		return bad("gap_ms %d: want 0 to %d", c.GapMs, MaxGapMs)
	case len(c.Note) > MaxNoteLen:
		return bad("note longer than %d bytes", MaxNoteLen)
	}
	specs := 0
	for _, set := range []bool{c.Inband != nil, c.RFC4733 != nil, c.SIPInfo != nil} {
		if set {
			specs++
		}
	}
	if specs > 1 || (c.Inband != nil && c.Mode != ModeInband) || (c.RFC4733 != nil && c.Mode != ModeRFC4733) || (c.SIPInfo != nil && c.Mode != ModeSIPInfo) {
		return bad("only the %s spec may be given", c.Mode)
	}
	switch c.Mode {
	case ModeInband:
		in := c.inband()
		switch {
		case c.DurationMs == 0:
			return bad("in-band duration_ms 0: want 1 to %d", MaxDurationMs)
		case !inRange(in.LowDBm0, MinLevelDBm0, MaxLevelDBm0) || !inRange(in.HighDBm0, MinLevelDBm0, MaxLevelDBm0):
			return bad("tone levels %g/%g dBm0: want %g to %g", in.LowDBm0, in.HighDBm0, MinLevelDBm0, MaxLevelDBm0)
		case !inRange(in.LowDevPct, -MaxDevPct, MaxDevPct) || !inRange(in.HighDevPct, -MaxDevPct, MaxDevPct):
			return bad("frequency offsets %g%%/%g%%: want within ±%g%%", in.LowDevPct, in.HighDevPct, MaxDevPct)
		case in.BreakMs < 0 || in.BreakMs > MaxBreakMs:
			return bad("break_ms %d: want 0 to %d", in.BreakMs, MaxBreakMs)
		case in.SNRdB != nil && !inRange(*in.SNRdB, MinSNRdB, MaxSNRdB):
			return bad("snr_db %g: want %g to %g", *in.SNRdB, MinSNRdB, MaxSNRdB)
		case in.DialTone != DialToneNone && in.DialTone != DialToneJapan && in.DialTone != DialToneITU:
			return bad("dial_tone %q: want jp or itu", in.DialTone)
		case in.DialTone == DialToneNone && in.DialToneDBm0 != 0:
			return bad("dial_tone_dbm0 without dial_tone")
		case in.DialTone != DialToneNone && !inRange(in.DialToneDBm0, MinLevelDBm0, MaxLevelDBm0):
			return bad("dial_tone_dbm0 %g: want %g to %g", in.DialToneDBm0, MinLevelDBm0, MaxLevelDBm0)
		}
	case ModeRFC4733:
		r := c.rfc4733()
		switch {
		case r.PT > maxPayloadType:
			return bad("pt %d: want 0 (negotiated) to %d", r.PT, maxPayloadType)
		case r.Volume > maxVolume:
			return bad("volume %d: want 0 to %d", r.Volume, maxVolume)
		case r.IntervalMs != 0 && (r.IntervalMs < MinIntervalMs || r.IntervalMs > MaxIntervalMs):
			return bad("interval_ms %d: want 0 (20) or %d to %d", r.IntervalMs, MinIntervalMs, MaxIntervalMs)
		case r.EndRepeats < 0 || r.EndRepeats > MaxEndRepeats:
			return bad("end_repeats %d: want 0 (3) to %d", r.EndRepeats, MaxEndRepeats)
		case r.EndOnly && r.EndsLost:
			return bad("end_only with ends_lost sends nothing")
		case r.EndsLost && c.DurationMs <= r.interval():
			return bad("ends_lost on a press no longer than one packet interval sends nothing")
		}
	case ModeSIPInfo:
		s := c.sipInfo()
		switch {
		case s.Format != dtmf.InfoDTMFRelay && s.Format != dtmf.InfoDTMF:
			return bad("sip_info format: want application/dtmf-relay or application/dtmf")
		case s.Format == dtmf.InfoDTMF && s.SignalCode:
			return bad("signal_code applies to application/dtmf-relay only")
		}
	}
	return nil
}

// interval is the update interval in ms.
func (r RFC4733) interval() int {
	if r.IntervalMs == 0 {
		return 20
	}
	return r.IntervalMs
}

func inRange(v, lo, hi float64) bool {
	return !math.IsNaN(v) && v >= lo && v <= hi
}

// printable: no control characters (IDs and names end up in tables, JSON
// and XML).
func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return false
		}
	}
	return true
}
