package testplan

import (
	"fmt"

	"denwa/dtmf"
)

// probeKeys are four keys that between them use each of the eight DTMF
// frequencies once (one per row and column of the Q.23 grid).
var probeKeys = []dtmf.Key{'1', '5', '9', 'D'}

// Nominal in-band press of the q24 plan: −10 dBm0 per tone, 60 ms, then
// 61 ms of silence (the odd millisecond moves each press to another phase
// of a receiver's 20 ms frames and 5 ms analysis blocks).
const (
	q24Level = -10
	q24Dur   = 60
	q24Gap   = 61
)

// Q24 is the ITU-T Q.23/Q.24 reception plan. In-band:
//
//   - frequency: each tone alone 1.5 % off either way → detect, 3.5 % off
//     → reject, on keys that use all eight frequencies; both tones 1.5 %
//     off, the same or opposite ways → detect;
//   - twist: the high tone from 8 dB below to 4 dB above the low one →
//     detect; 12 dB below or 9 dB above → reject; 8 dB normal and 4 dB
//     reverse twist at −36 dBm0 and near 0 dBm0 → detect;
//   - level: 0 to −36 dBm0 per tone → detect; −50 and −55 dBm0 → reject
//     (−40 and −45: either, between the operate and non-operate levels);
//   - duration: 40 ms → detect, 25 ms → reject, 30 ms → either (Q.24
//     leaves 25–40 ms open);
//   - pauses: presses of one key 40 ms apart → each detected; a press
//     broken for 10 ms or 5 ms → one key;
//   - white noise (band-limited to 300–3400 Hz) at 20, 15 and 12 dB SNR →
//     detect, at 6 dB → either;
//   - dial tone under the key, 10 dB below it: 400 Hz (Japan) and
//     350+440 Hz (ITU-T E.180, North America) → detect.
//
// RFC 4733 (what a receiver must accept under RFC 4733 §2.5, with the senders
// found in the field): events of 0 to 500 ms (RFC 4733 sets no minimum
// duration: a 25 ms event is a key), volumes 0 to 36 → detect and 63 →
// either (RFC 4733 sets no threshold), no marker bit, END packets only,
// one or five ENDs, every END lost (the key ends on the receiver's
// timeout), updates every 50 ms, presses of one key 40 ms apart → each
// detected once.
//
// SIP INFO: every key as application/dtmf-relay (with and without
// Duration, * and # also as event codes 10 and 11) and as application/dtmf
// → detect.
func Q24() Plan {
	p := Plan{Name: "q24"}
	add := func(c Case) { p.Cases = append(p.Cases, c) }
	nominal := func(id string, k dtmf.Key, e Expect, note string) Case {
		return Case{ID: "q24/" + id, Mode: ModeInband, Key: k, Expect: e, DurationMs: q24Dur, GapMs: q24Gap, Note: note,
			Inband: &Inband{LowDBm0: q24Level, HighDBm0: q24Level}}
	}

	// Frequency offsets, each tone alone.
	for _, tone := range []string{"low", "high"} {
		for _, dev := range []float64{1.5, -1.5, 3.5, -3.5} {
			e, note := ExpectDetect, "Q.24: accept a tone 1.5 % off"
			if dev == 3.5 || dev == -3.5 {
				e, note = ExpectReject, "Q.24: reject a tone 3.5 % off"
			}
			for _, k := range probeKeys {
				c := nominal(fmt.Sprintf("freq/%s%+.1f%%/%s", tone, dev, k), k, e, note)
				if tone == "low" {
					c.Inband.LowDevPct = dev
				} else {
					c.Inband.HighDevPct = dev
				}
				add(c)
			}
		}
	}

	// Both tones off at once, the same way and opposite ways.
	for _, d := range [][2]float64{{1.5, 1.5}, {-1.5, -1.5}, {1.5, -1.5}, {-1.5, 1.5}} {
		for _, k := range probeKeys {
			c := nominal(fmt.Sprintf("freq/both%+.1f%%%+.1f%%/%s", d[0], d[1], k), k, ExpectDetect, "Q.24: accept both tones 1.5 % off")
			c.Inband.LowDevPct, c.Inband.HighDevPct = d[0], d[1]
			add(c)
		}
	}

	// Twist, both directions; the low tone at −10 dBm0.
	for _, tw := range []float64{-8, -6, -4, 0, 2, 4, -12, 9} {
		e, note := ExpectDetect, "Q.24: twist from 8 dB normal to 4 dB reverse"
		if tw < -8 || tw > 5 {
			e, note = ExpectReject, "twist well beyond Q.24's limits"
		}
		for _, k := range probeKeys {
			c := nominal(fmt.Sprintf("twist/%+gdB/%s", tw, k), k, e, note)
			c.Inband.HighDBm0 = q24Level + tw
			add(c)
		}
	}

	// Levels per tone.
	for _, lv := range []float64{0, -3, -10, -20, -30, -36, -40, -45, -50, -55} {
		e, note := ExpectDetect, "Q.24: operate from 0 to −36 dBm0 per tone"
		switch {
		case lv <= -50:
			e, note = ExpectReject, "below the non-operate level"
		case lv < -36:
			e, note = ExpectEither, "between the operate and non-operate levels"
		}
		for _, k := range probeKeys {
			c := nominal(fmt.Sprintf("level/%gdBm0/%s", lv, k), k, e, note)
			c.Inband.LowDBm0, c.Inband.HighDBm0 = lv, lv
			add(c)
		}
	}

	// The corners of the operating range: twist at the weakest and the
	// loudest levels.
	for _, lv := range [][2]float64{{-36, -44}, {-36, -32}, {-3, -11}, {-7, -3}} {
		for _, k := range probeKeys {
			c := nominal(fmt.Sprintf("corner/%g%gdBm0/%s", lv[0], lv[1], k), k, ExpectDetect, "Q.24: twist limits hold across the level range")
			c.Inband.LowDBm0, c.Inband.HighDBm0 = lv[0], lv[1]
			add(c)
		}
	}

	// Durations: every key at 40 and 25 ms.
	for _, d := range []int{40, 25} {
		e, note := ExpectDetect, "Q.24: recognise a 40 ms signal"
		if d == 25 {
			e, note = ExpectReject, "Q.24: reject a 25 ms signal"
		}
		for _, k := range dtmf.Keys {
			c := nominal(fmt.Sprintf("duration/%dms/%s", d, k), k, e, note)
			c.DurationMs = d
			add(c)
		}
	}
	for _, k := range probeKeys {
		c := nominal(fmt.Sprintf("duration/30ms/%s", k), k, ExpectEither, "Q.24 leaves 25–40 ms open")
		c.DurationMs = 30
		add(c)
	}

	// Pauses: one key pressed three times, 40 ms on, 40 ms off.
	for _, k := range probeKeys {
		for i := 1; i <= 3; i++ {
			c := nominal(fmt.Sprintf("pause/40ms/%s/%d", k, i), k, ExpectDetect, "Q.24: a 40 ms pause separates two presses")
			c.DurationMs, c.GapMs = 40, 40
			add(c)
		}
	}
	// Breaks inside one press.
	for _, br := range []int{10, 5} {
		for _, k := range probeKeys {
			c := nominal(fmt.Sprintf("break/%dms/%s", br, k), k, ExpectDetect, "Q.24: a break of 10 ms or less does not split a press")
			c.DurationMs = 40
			c.Inband.BreakMs = br
			add(c)
		}
	}

	// White noise; the key at −20 dBm0 per tone.
	for _, snr := range []float64{20, 15, 12, 6} {
		e, note := ExpectDetect, "recognise a key in white noise"
		if snr < 12 {
			e, note = ExpectEither, "noise this loud may hide a key"
		}
		for _, k := range probeKeys {
			c := nominal(fmt.Sprintf("noise/%gdB/%s", snr, k), k, e, note)
			c.Inband.LowDBm0, c.Inband.HighDBm0 = -20, -20
			c.Inband.SNRdB = ptr(snr)
			add(c)
		}
	}

	// Dial tone underneath, 10 dB below the key's tones.
	for _, dt := range []DialTone{DialToneJapan, DialToneITU} {
		for _, k := range probeKeys {
			c := nominal(fmt.Sprintf("dialtone/%s/%s", dt, k), k, ExpectDetect, "a key pressed over dial tone")
			c.Inband.DialTone, c.Inband.DialToneDBm0 = dt, q24Level-10
			add(c)
		}
	}

	// RFC 4733.
	ev := func(id string, k dtmf.Key, dur int, r RFC4733, e Expect, note string) {
		add(Case{ID: "q24/rfc4733/" + id, Mode: ModeRFC4733, Key: k, Expect: e, DurationMs: dur, GapMs: 60, Note: note, RFC4733: &r})
	}
	for _, d := range []int{500, 100, 40, 25, 10} {
		for _, k := range probeKeys {
			ev(fmt.Sprintf("duration/%dms/%s", d, k), k, d, RFC4733{Volume: 10}, ExpectDetect, "RFC 4733 sets no minimum duration: every event is a key")
		}
	}
	for _, k := range probeKeys {
		ev(fmt.Sprintf("duration/0ms/%s", k), k, 0, RFC4733{Volume: 10}, ExpectDetect, "duration 0, as some senders do: still one key")
	}
	for _, v := range []uint8{0, 20, 36, 63} {
		e, note := ExpectDetect, "the volume field does not gate a key"
		if v == 63 {
			e, note = ExpectEither, "RFC 4733 sets no volume threshold; −63 dBm0 may be dropped"
		}
		for _, k := range probeKeys {
			ev(fmt.Sprintf("volume/%d/%s", v, k), k, 100, RFC4733{Volume: v}, e, note)
		}
	}
	quirks := []struct {
		name string
		r    RFC4733
		note string
	}{
		{"no-marker", RFC4733{Volume: 10, NoMarker: true}, "RFC 4733 §2.5: an event is known by its timestamp; the marker may be lost with the first packet"},
		{"end-only", RFC4733{Volume: 10, EndOnly: true}, "a sender that sends only the END packets"},
		{"end-x1", RFC4733{Volume: 10, EndRepeats: 1}, "one END packet instead of three"},
		{"end-x5", RFC4733{Volume: 10, EndRepeats: 5}, "five END packets: still one key"},
		{"ends-lost", RFC4733{Volume: 10, EndsLost: true}, "every END lost: the receiver ends the key on its own timeout (RFC 4733 §2.5)"},
		{"interval-50ms", RFC4733{Volume: 10, IntervalMs: 50}, "updates every 50 ms (RFC 4733 §2.5.1.2 allows it)"},
	}
	for _, q := range quirks {
		for _, k := range probeKeys {
			ev(q.name+"/"+string(k), k, 100, q.r, ExpectDetect, q.note)
		}
	}
	for _, k := range probeKeys {
		for i := 1; i <= 3; i++ {
			c := Case{ID: fmt.Sprintf("q24/rfc4733/repeat/%s/%d", k, i), Mode: ModeRFC4733, Key: k, Expect: ExpectDetect,
				DurationMs: 40, GapMs: 40, Note: "presses of one key are events with their own timestamps", RFC4733: &RFC4733{Volume: 10}}
			add(c)
		}
	}

	// SIP INFO.
	info := func(id string, k dtmf.Key, dur int, s SIPInfo) {
		add(Case{ID: "q24/sip-info/" + id, Mode: ModeSIPInfo, Key: k, Expect: ExpectDetect, DurationMs: dur, GapMs: 100,
			Note: "a key in a SIP INFO body", SIPInfo: &s})
	}
	for _, k := range dtmf.Keys {
		info("dtmf-relay/"+string(k), k, 100, SIPInfo{Format: dtmf.InfoDTMFRelay})
	}
	for _, k := range dtmf.Keys {
		info("dtmf/"+string(k), k, 100, SIPInfo{Format: dtmf.InfoDTMF})
	}
	for _, k := range probeKeys {
		info("dtmf-relay/no-duration/"+string(k), k, 0, SIPInfo{Format: dtmf.InfoDTMFRelay})
	}
	for _, k := range []dtmf.Key{'*', '#', 'A', 'D'} {
		info("dtmf-relay/code/"+string(k), k, 100, SIPInfo{Format: dtmf.InfoDTMFRelay, SignalCode: true})
	}
	return p
}
