package testplan

import (
	"encoding/json"
	"fmt"

	"denwa/dtmf"
)

// Mode is how a case sends its key.
type Mode string

const (
	ModeInband  Mode = "inband"   // tones in the audio (ITU-T Q.23)
	ModeRFC4733 Mode = "rfc4733"  // telephone-event packets (RFC 4733)
	ModeSIPInfo Mode = "sip-info" // a SIP INFO request in the dialog (RFC 6086)
)

// Modes lists the modes in the order plans and reports use.
var Modes = []Mode{ModeInband, ModeRFC4733, ModeSIPInfo}

// Valid reports whether m is one of [Modes].
func (m Mode) Valid() bool {
	return m == ModeInband || m == ModeRFC4733 || m == ModeSIPInfo
}

// Source is the dtmf key source a receiver reports for keys of this mode
// (dtmf.SourceUnknown for an invalid mode).
func (m Mode) Source() dtmf.Source { return modeSources[m] }

var modeSources = map[Mode]dtmf.Source{
	ModeInband:  dtmf.SourceInband,
	ModeRFC4733: dtmf.SourceRFC4733,
	ModeSIPInfo: dtmf.SourceSIPInfo,
}

// Expect is what a correct receiver does with a case.
type Expect string

const (
	// ExpectDetect: the key is heard exactly once (no more, no other key).
	ExpectDetect Expect = "detect"
	// ExpectReject: nothing is heard.
	ExpectReject Expect = "reject"
	// ExpectEither: the standard leaves it open; anything passes, and what
	// was heard is still reported.
	ExpectEither Expect = "either"
)

// Valid reports whether e is detect, reject or either.
func (e Expect) Valid() bool {
	return e == ExpectDetect || e == ExpectReject || e == ExpectEither
}

// Plan is a named list of cases. Cases of several modes may share a plan;
// a sender runs those of one mode at a time ([Plan.Only]).
type Plan struct {
	Name  string `json:"name"`
	Cases []Case `json:"cases"`
}

// Only returns a copy of p holding only the cases of mode m (all of them
// when m is empty).
func (p Plan) Only(m Mode) Plan {
	if m == "" {
		return Plan{Name: p.Name, Cases: append([]Case(nil), p.Cases...)}
	}
	out := Plan{Name: p.Name}
	for _, c := range p.Cases {
		if c.Mode == m {
			out.Cases = append(out.Cases, c)
		}
	}
	return out
}

// Case is one key sent one way, and what a correct receiver must do with it.
// Exactly the mode's own spec (Inband, RFC4733 or SIPInfo) is set; a nil spec
// of the case's mode means that spec's zero value.
type Case struct {
	// ID names the case, stable across runs and versions of a plan, e.g.
	// "q24/freq/low+1.5%/5". It also seeds the case's noise.
	ID     string
	Mode   Mode
	Key    dtmf.Key
	Expect Expect
	// DurationMs is how long the key is pressed: the tone (in-band), the
	// event (RFC 4733), the Duration a dtmf-relay body announces (SIP INFO,
	// 0: none).
	DurationMs int
	// GapMs is the quiet time after the press before the next case starts:
	// silence (in-band; under the case's noise and dial tone), no packets
	// (RFC 4733), the time to the next request (SIP INFO).
	GapMs int
	// Note says why the case expects what it does (the clause it tests).
	Note string

	Inband  *Inband
	RFC4733 *RFC4733
	SIPInfo *SIPInfo
}

// Inband describes a tone pair. Levels are per tone, in dBm0.
type Inband struct {
	LowDBm0  float64 `json:"low_dbm0"`
	HighDBm0 float64 `json:"high_dbm0"`
	// LowDevPct and HighDevPct offset each tone's frequency, in percent of
	// the nominal Q.23 frequency (+1.5: 1.5 % high).
	LowDevPct  float64 `json:"low_dev_pct,omitempty"`
	HighDevPct float64 `json:"high_dev_pct,omitempty"`
	// BreakMs, when not 0, interrupts the press: the pair sounds for
	// DurationMs, stops for BreakMs and sounds for DurationMs again, as
	// one press whose tone dropped out (Q.24: a break of 10 ms or less
	// must not make two keys).
	BreakMs int `json:"break_ms,omitempty"`
	// SNRdB, when set, adds Gaussian noise band-limited to 300–3400 Hz
	// (white across the telephone band) over the whole case, the gap
	// included, SNRdB below the tone pair's power.
	SNRdB *float64 `json:"snr_db,omitempty"`
	// DialTone, when set, sounds under the whole case at DialToneDBm0
	// (per tone for the two-tone ITU dial tone).
	DialTone     DialTone `json:"dial_tone,omitempty"`
	DialToneDBm0 float64  `json:"dial_tone_dbm0,omitempty"`
}

// TwistDB is the level of the high-group tone relative to the low-group
// tone: negative is normal twist (high tone weaker), positive reverse.
func (in Inband) TwistDB() float64 { return in.HighDBm0 - in.LowDBm0 }

// DialTone names a dial tone played under a key.
type DialTone string

const (
	DialToneNone  DialTone = ""
	DialToneJapan DialTone = "jp"  // 400 Hz continuous (NTT)
	DialToneITU   DialTone = "itu" // 350 + 440 Hz (North American precise dial tone, ITU-T E.180)
)

// RFC4733 describes a telephone-event as a sender puts it on the wire.
type RFC4733 struct {
	// PT is the payload type to send; 0 means the negotiated
	// telephone-event type (what a correct sender uses).
	PT uint8 `json:"pt,omitempty"`
	// Volume is the power level field, 0–63 (−dBm0). The built-in plans
	// set it; 0 here is 0 dBm0, as on the wire.
	Volume uint8 `json:"volume"`
	// IntervalMs is the time between update packets; 0 means 20 ms.
	IntervalMs int `json:"interval_ms,omitempty"`
	// NoMarker clears the marker bit of the first packet.
	NoMarker bool `json:"no_marker,omitempty"`
	// EndOnly sends only the END packets, no updates before them.
	EndOnly bool `json:"end_only,omitempty"`
	// EndRepeats is how many END packets are sent; 0 means 3 (RFC 4733
	// §2.5.1.4).
	EndRepeats int `json:"end_repeats,omitempty"`
	// EndsLost drops every END packet (the receiver must end the key on its
	// own timeout).
	EndsLost bool `json:"ends_lost,omitempty"`
}

// SIPInfo describes a key sent as a SIP INFO request.
type SIPInfo struct {
	// Format is the body format: dtmf.InfoDTMFRelay ("Signal=5\r\n
	// Duration=160\r\n") or dtmf.InfoDTMF ("5\r\n"). In JSON,
	// "application/dtmf-relay" or "application/dtmf".
	Format dtmf.InfoFormat `json:"-"`
	// SignalCode writes the Signal of a dtmf-relay body as the RFC 4733
	// event code (10 for *, 11 for #), as some gateways do.
	SignalCode bool `json:"signal_code,omitempty"`
}

// caseJSON is Case's JSON form: the key and the format as text.
type caseJSON struct {
	ID         string   `json:"id"`
	Mode       Mode     `json:"mode"`
	Key        string   `json:"key"`
	Expect     Expect   `json:"expect"`
	DurationMs int      `json:"duration_ms"`
	GapMs      int      `json:"gap_ms"`
	Note       string   `json:"note,omitempty"`
	Inband     *Inband  `json:"inband,omitempty"`
	RFC4733    *RFC4733 `json:"rfc4733,omitempty"`
	SIPInfo    *struct {
		Format     string `json:"format"`
		SignalCode bool   `json:"signal_code,omitempty"`
	} `json:"sip_info,omitempty"`
}

// MarshalJSON writes the case as in a plan file.
func (c Case) MarshalJSON() ([]byte, error) {
	j := caseJSON{ID: c.ID, Mode: c.Mode, Key: keyText(c.Key), Expect: c.Expect,
		DurationMs: c.DurationMs, GapMs: c.GapMs, Note: c.Note, Inband: c.Inband, RFC4733: c.RFC4733}
	if c.SIPInfo != nil {
		j.SIPInfo = &struct {
			Format     string `json:"format"`
			SignalCode bool   `json:"signal_code,omitempty"`
		}{c.SIPInfo.Format.String(), c.SIPInfo.SignalCode}
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads a case as in a plan file. It checks only the form of
// the key and the format; [Plan.Validate] checks the rest.
func (c *Case) UnmarshalJSON(b []byte) error {
	var j caseJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	k, err := parseKey(j.Key)
	if err != nil {
		return fmt.Errorf("case %q: %w", j.ID, err)
	}
	*c = Case{ID: j.ID, Mode: j.Mode, Key: k, Expect: j.Expect, DurationMs: j.DurationMs,
		GapMs: j.GapMs, Note: j.Note, Inband: j.Inband, RFC4733: j.RFC4733}
	if j.SIPInfo != nil {
		f := dtmf.InfoFormatOf(j.SIPInfo.Format)
		if f == dtmf.InfoUnknown {
			return fmt.Errorf("case %q: sip_info.format %q: want application/dtmf-relay or application/dtmf", j.ID, j.SIPInfo.Format)
		}
		c.SIPInfo = &SIPInfo{Format: f, SignalCode: j.SIPInfo.SignalCode}
	}
	return nil
}

// keyText is a key as JSON text: its character, "" for no key.
func keyText(k dtmf.Key) string {
	if !k.Valid() {
		return ""
	}
	return k.String()
}

func parseKey(s string) (dtmf.Key, error) {
	if len(s) != 1 {
		return 0, fmt.Errorf("key %q: want one of 0-9 * # A-D", s)
	}
	ks, err := dtmf.ParseKeys(s)
	if err != nil {
		return 0, fmt.Errorf("key %q: want one of 0-9 * # A-D", s)
	}
	return ks[0], nil
}

// inband returns the case's in-band spec (its zero value when nil).
func (c *Case) inband() Inband {
	if c.Inband == nil {
		return Inband{}
	}
	return *c.Inband
}

func (c *Case) rfc4733() RFC4733 {
	if c.RFC4733 == nil {
		return RFC4733{}
	}
	return *c.RFC4733
}

func (c *Case) sipInfo() SIPInfo {
	if c.SIPInfo == nil {
		return SIPInfo{Format: dtmf.InfoDTMFRelay}
	}
	return *c.SIPInfo
}

// SpanMs is how long the case occupies the line: the press (twice, with
// its break, for an interrupted in-band press) and the gap after it.
func (c *Case) SpanMs() int {
	d := c.DurationMs
	if c.Mode == ModeInband && c.Inband != nil && c.Inband.BreakMs > 0 {
		d = 2*c.DurationMs + c.Inband.BreakMs
	}
	return d + c.GapMs
}
