package testplan

import (
	"fmt"

	"denwa/dtmf"
)

// Japan is the plan for the Japanese network's push-button (PB) signal
// limits: the PB dial signal conditions of the Terminal Equipment Rules
// (端末設備等規則, 別表第二号), which terminals on NTT lines meet, as they
// are commonly quoted:
//
//   - frequency within ±1.5 % of Q.23 → detect (each tone alone, both ways);
//   - level sent by the terminal, with L the line loss at 1500 Hz from the
//     exchange to the terminal: low group −16.5+0.8L to −6.5+0.8L dBm (at
//     most −3.5), high group −16+L to −6.5+L dBm (at most −2.5). At the
//     exchange, L dB lower: the plan takes L = 0 and L = 7 (low −16.5 to
//     −6.5 and −17.9 to −10.5, high −16 to −6.5 and −16 to −9.5), the
//     corners of each range and twist of 5 dB either way within it (the
//     twist docs/dtmf.md gives for NTT lines) → detect;
//   - timing: signal ≥ 50 ms, minimum pause ≥ 30 ms, period ≥ 120 ms: every
//     key at 50 ms on / 70 ms off and at 90 ms on / 30 ms off, and one key
//     pressed four times 30 ms apart → each detected;
//   - the 400 Hz dial tone under the key → detect.
//
// RFC 4733 and SIP INFO cases send every key with the same timing
// (50 ms presses, 70 ms and 30 ms apart) → detect.
//
// The levels are dBm at the exchange, used here as dBm0 (a digital trunk
// with the usual 0 dB relative level there). The level ranges alone would
// let a terminal send the low tone at its minimum and the high tone at its
// maximum (up to 10 dB of reverse twist at L = 0); the plan keeps to 5 dB.
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
				c := tone(fmt.Sprintf("freq/%s%+.1f%%/%s", t, dev, k), k, -8, -7, 60, 71, "PB signal: frequency within ±1.5 %")
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
		{"L0/max", -6.5, -6.5, "PB signal, no line loss: both tones at their maximum"},
		{"L0/min", -16.5, -16, "PB signal, no line loss: both tones at their minimum"},
		{"L0/normal5", -11, -16, "PB signal, no line loss: high tone at its minimum, 5 dB below the low one"},
		{"L0/reverse5", -16.5, -11.5, "PB signal, no line loss: low tone at its minimum, 5 dB below the high one"},
		{"L7/max", -10.5, -9.5, "PB signal after 7 dB of line loss: both tones at their maximum"},
		{"L7/min", -17.9, -16, "PB signal after 7 dB of line loss: both tones at their minimum"},
		{"L7/normal5", -10.5, -15.5, "PB signal after 7 dB of line loss: 5 dB normal twist"},
		{"L7/reverse5", -14.5, -9.5, "PB signal after 7 dB of line loss: 5 dB reverse twist"},
	}
	for _, l := range levels {
		for _, k := range probeKeys {
			tone(fmt.Sprintf("level/%s/%s", l.name, k), k, l.lo, l.hi, 60, 71, l.note)
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
		c := tone("dialtone/jp/"+string(k), k, -8, -7, 60, 71, "a key pressed over the 400 Hz dial tone")
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
