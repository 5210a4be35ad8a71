package testplan

import (
	"fmt"

	"denwa/dtmf"
)

// Japan is the plan for the Japanese network's push-button (PB) signal
// limits, as a terminal must send them in Japan (the Terminal Equipment
// Rules, 端末設備等規則, PB dial signal conditions; NTT's line interface
// follows them):
//
//   - frequency within ±1.5 % of Q.23 → detect (each tone alone, both ways);
//   - level at the terminal: low group −15.4 to −3.5 dBm, high group −14 to
//     −2.5 dBm, the two within 5 dB, the high tone not weaker than the low
//     one; and the same 7 dB quieter (the line loss L the rules allow
//     for). docs/dtmf.md and the detector also accept 5 dB of normal twist
//     on these lines → detect;
//   - timing: signal ≥ 50 ms, minimum pause ≥ 30 ms, period ≥ 120 ms: every
//     key at 50 ms on / 70 ms off and at 90 ms on / 30 ms off, and one key
//     pressed four times 30 ms apart → each detected;
//   - the 400 Hz dial tone under the key → detect.
//
// RFC 4733 and SIP INFO cases send every key with the same timing
// (50 ms presses, 70 ms and 30 ms apart) → detect.
//
// The levels are dBm at the terminal, used here as dBm0 (a digital trunk
// with the usual 0 dB relative level at the exchange).
func Japan() Plan {
	p := Plan{Name: "japan"}
	add := func(c Case) { p.Cases = append(p.Cases, c) }
	tone := func(id string, k dtmf.Key, lo, hi float64, dur, gap int, note string) *Case {
		p.Cases = append(p.Cases, Case{ID: "japan/" + id, Mode: ModeInband, Key: k, Expect: ExpectDetect,
			DurationMs: dur, GapMs: gap, Note: note, Inband: &Inband{LowDBm0: lo, HighDBm0: hi}})
		return &p.Cases[len(p.Cases)-1]
	}

	for _, t := range []string{"low", "high"} {
		for _, dev := range []float64{1.5, -1.5} {
			for _, k := range probeKeys {
				c := tone(fmt.Sprintf("freq/%s%+.1f%%/%s", t, dev, k), k, -8, -7, 60, 70, "PB signal: frequency within ±1.5 %")
				if t == "low" {
					c.Inband.LowDevPct = dev
				} else {
					c.Inband.HighDevPct = dev
				}
			}
		}
	}

	levels := []struct {
		name   string
		lo, hi float64
		note   string
	}{
		{"loudest", -3.5, -2.5, "PB signal: low −3.5 dBm, high −2.5 dBm (the top of the range)"},
		{"quietest", -15.4, -14, "PB signal: low −15.4 dBm, high −14 dBm (the bottom of the range)"},
		{"reverse5", -15.4, -10.4, "PB signal: the high tone 5 dB above the low one"},
		{"flat", -8, -8, "PB signal: both tones equal"},
		{"normal5", -8, -13, "5 dB of normal twist, which NTT lines also show"},
		{"loss7/quietest", -22.4, -21, "the quietest signal after 7 dB of line loss"},
		{"loss7/reverse5", -22.4, -17.4, "5 dB reverse twist after 7 dB of line loss"},
	}
	for _, l := range levels {
		for _, k := range probeKeys {
			tone(fmt.Sprintf("level/%s/%s", l.name, k), k, l.lo, l.hi, 60, 70, l.note)
		}
	}

	for _, k := range dtmf.Keys {
		tone("timing/50on70off/"+string(k), k, -8, -7, 50, 70, "PB signal: 50 ms signal, 120 ms period")
	}
	for _, k := range dtmf.Keys {
		tone("timing/90on30off/"+string(k), k, -8, -7, 90, 30, "PB signal: 30 ms minimum pause, 120 ms period")
	}
	for _, k := range probeKeys {
		for i := 1; i <= 4; i++ {
			tone(fmt.Sprintf("timing/repeat30/%s/%d", k, i), k, -8, -7, 90, 30, "one key pressed again after the 30 ms minimum pause")
		}
	}
	for _, k := range probeKeys {
		c := tone("dialtone/jp/"+string(k), k, -8, -7, 60, 70, "a key pressed over the 400 Hz dial tone")
		c.Inband.DialTone, c.Inband.DialToneDBm0 = DialToneJapan, -18
	}

	for _, gap := range []int{70, 30} {
		for _, k := range dtmf.Keys {
			add(Case{ID: fmt.Sprintf("japan/rfc4733/50on%doff/%s", gap, k), Mode: ModeRFC4733, Key: k, Expect: ExpectDetect,
				DurationMs: 50, GapMs: gap, Note: "PB timing as telephone-events", RFC4733: &RFC4733{Volume: 8}})
		}
	}
	for _, k := range dtmf.Keys {
		add(Case{ID: "japan/sip-info/" + string(k), Mode: ModeSIPInfo, Key: k, Expect: ExpectDetect,
			DurationMs: 50, GapMs: 70, Note: "PB timing as SIP INFO", SIPInfo: &SIPInfo{Format: dtmf.InfoDTMFRelay}})
	}
	return p
}
