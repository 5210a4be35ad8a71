package testplan

import (
	"fmt"
	"strings"
)

// Sent describes what a case sent, for reports: a flat, JSON-friendly
// record with only the fields of the case's mode.
type Sent struct {
	Key        string `json:"key"`
	DurationMs int    `json:"duration_ms"`
	GapMs      int    `json:"gap_ms"`

	// In-band.
	LowDBm0      *float64 `json:"low_dbm0,omitempty"`
	HighDBm0     *float64 `json:"high_dbm0,omitempty"`
	TwistDB      *float64 `json:"twist_db,omitempty"`
	LowDevPct    *float64 `json:"low_dev_pct,omitempty"`
	HighDevPct   *float64 `json:"high_dev_pct,omitempty"`
	BreakMs      int      `json:"break_ms,omitempty"`
	SNRdB        *float64 `json:"snr_db,omitempty"`
	DialTone     DialTone `json:"dial_tone,omitempty"`
	DialToneDBm0 *float64 `json:"dial_tone_dbm0,omitempty"`

	// RFC 4733.
	PT     *uint8   `json:"pt,omitempty"` // 0: the negotiated type
	Volume *uint8   `json:"volume,omitempty"`
	Quirks []string `json:"quirks,omitempty"`

	// SIP INFO.
	Format string `json:"format,omitempty"`
}

func ptr[T any](v T) *T { return &v }

// Sent returns the description of what c sends.
func (c *Case) Sent() Sent {
	s := Sent{Key: keyText(c.Key), DurationMs: c.DurationMs, GapMs: c.GapMs}
	switch c.Mode {
	case ModeInband:
		in := c.inband()
		s.LowDBm0, s.HighDBm0, s.TwistDB = ptr(in.LowDBm0), ptr(in.HighDBm0), ptr(round3(in.TwistDB()))
		s.LowDevPct, s.HighDevPct = ptr(in.LowDevPct), ptr(in.HighDevPct)
		s.BreakMs, s.SNRdB, s.DialTone = in.BreakMs, in.SNRdB, in.DialTone
		if in.DialTone != DialToneNone {
			s.DialToneDBm0 = ptr(in.DialToneDBm0)
		}
	case ModeRFC4733:
		r := c.rfc4733()
		s.PT, s.Volume, s.Quirks = ptr(r.PT), ptr(r.Volume), r.quirks()
	case ModeSIPInfo:
		si := c.sipInfo()
		s.Format = si.Format.String()
		if si.SignalCode {
			s.Quirks = []string{"signal as event code"}
		}
	}
	return s
}

// quirks names the departures from a textbook sender.
func (r RFC4733) quirks() []string {
	var q []string
	if r.NoMarker {
		q = append(q, "no marker")
	}
	if r.EndOnly {
		q = append(q, "END only")
	}
	if r.EndsLost {
		q = append(q, "ENDs lost")
	} else if r.EndRepeats != 0 && r.EndRepeats != 3 {
		q = append(q, fmt.Sprintf("END ×%d", r.EndRepeats))
	}
	if r.IntervalMs != 0 && r.IntervalMs != 20 {
		q = append(q, fmt.Sprintf("every %d ms", r.IntervalMs))
	}
	return q
}

// String is the report table's "sent" column.
func (s Sent) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %dms", s.Key, s.DurationMs)
	if s.BreakMs > 0 {
		fmt.Fprintf(&b, "+%dms break+%dms", s.BreakMs, s.DurationMs)
	}
	fmt.Fprintf(&b, " gap %dms", s.GapMs)
	if s.LowDBm0 != nil {
		fmt.Fprintf(&b, " %g/%g dBm0 twist %+g", *s.LowDBm0, *s.HighDBm0, round3(*s.TwistDB))
		if *s.LowDevPct != 0 || *s.HighDevPct != 0 {
			fmt.Fprintf(&b, " dev %+g%%/%+g%%", *s.LowDevPct, *s.HighDevPct)
		}
	}
	if s.SNRdB != nil {
		fmt.Fprintf(&b, " SNR %gdB", *s.SNRdB)
	}
	if s.DialTone != DialToneNone {
		fmt.Fprintf(&b, " dial %s %g dBm0", s.DialTone, *s.DialToneDBm0)
	}
	if s.Volume != nil {
		if *s.PT != 0 {
			fmt.Fprintf(&b, " PT %d", *s.PT)
		}
		fmt.Fprintf(&b, " vol -%d", *s.Volume)
	}
	if s.Format != "" {
		b.WriteString(" " + s.Format)
	}
	if len(s.Quirks) > 0 {
		b.WriteString(" [" + strings.Join(s.Quirks, ", ") + "]")
	}
	return b.String()
}
