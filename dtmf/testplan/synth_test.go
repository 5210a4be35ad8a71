package testplan

import (
	"bytes"
	"math"
	"slices"
	"testing"

	"denwa/dtmf"
	"denwa/dtmf/dtmftest"
)

func inbandCase(id string, k dtmf.Key, dur, gap int, in Inband) Case {
	return Case{ID: id, Mode: ModeInband, Key: k, Expect: ExpectDetect, DurationMs: dur, GapMs: gap, Inband: &in}
}

func samples(t *testing.T, c Case) []int16 {
	t.Helper()
	x, err := c.AppendSamples(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(x) != c.SampleCount() {
		t.Fatalf("%s: %d samples, want %d", c.ID, len(x), c.SampleCount())
	}
	return x
}

// zeroCrossingHz estimates the frequency of a single sine from its
// upward zero crossings, interpolated between samples.
func zeroCrossingHz(x []int16) float64 {
	var first, last float64
	n := 0
	for i := 1; i < len(x); i++ {
		if x[i-1] < 0 && x[i] >= 0 {
			at := float64(i-1) + float64(-x[i-1])/float64(x[i]-x[i-1])
			if n == 0 {
				first = at
			}
			last = at
			n++
		}
	}
	return float64(n-1) * dtmf.SampleRate / (last - first)
}

// TestSamplesLevels: each tone at its level (the other at −90 dBm0, below
// the rounding noise), the pair at the sum of their powers, twist from
// the two levels.
func TestSamplesLevels(t *testing.T) {
	for _, lv := range []float64{0, -3, -20, -36} {
		lo := samples(t, inbandCase("lo", '5', 500, 0, Inband{LowDBm0: lv, HighDBm0: -90}))
		hi := samples(t, inbandCase("hi", '5', 500, 0, Inband{LowDBm0: -90, HighDBm0: lv}))
		for name, x := range map[string][]int16{"low": lo, "high": hi} {
			if got := dtmftest.PowerDBm0(x); math.Abs(got-lv) > 0.2 {
				t.Errorf("%s tone at %g dBm0 measures %.3f dBm0", name, lv, got)
			}
		}
	}
	pair := samples(t, inbandCase("pair", '#', 500, 0, Inband{LowDBm0: -20, HighDBm0: -14}))
	want := 10 * math.Log10(math.Pow(10, -2)+math.Pow(10, -1.4))
	if got := dtmftest.PowerDBm0(pair); math.Abs(got-want) > 0.2 {
		t.Errorf("pair −20/−14 dBm0 measures %.3f dBm0, want %.3f", got, want)
	}
	if tw := (Inband{LowDBm0: -20, HighDBm0: -14}).TwistDB(); tw != 6 {
		t.Errorf("twist %g, want +6", tw)
	}
}

// TestSamplesFrequency: each tone's frequency offset, measured.
func TestSamplesFrequency(t *testing.T) {
	for _, dev := range []float64{0, 1.5, -1.5, 3.5, -3.5} {
		for _, k := range []dtmf.Key{'1', 'D'} {
			fl, fh, _ := dtmf.KeyFreqs(k)
			lo := samples(t, inbandCase("lo", k, 1000, 0, Inband{LowDBm0: -20, HighDBm0: -90, LowDevPct: dev}))
			hi := samples(t, inbandCase("hi", k, 1000, 0, Inband{LowDBm0: -90, HighDBm0: -20, HighDevPct: dev}))
			for _, m := range []struct {
				x    []int16
				want float64
			}{{lo, fl * (1 + dev/100)}, {hi, fh * (1 + dev/100)}} {
				if got := zeroCrossingHz(m.x); math.Abs(got-m.want) > m.want*0.0005 {
					t.Errorf("%c dev %+g%%: measured %.2f Hz, want %.2f", k, dev, got, m.want)
				}
			}
		}
	}
}

// TestSamplesTiming: the tone fills exactly its duration, then silence for
// the gap; a break silences the middle, and the tone resumes in phase.
func TestSamplesTiming(t *testing.T) {
	x := samples(t, inbandCase("t", '0', 40, 25, Inband{LowDBm0: -10, HighDBm0: -10}))
	if len(x) != 65*8 {
		t.Fatalf("%d samples, want %d", len(x), 65*8)
	}
	if p := dtmftest.PowerDBm0(x[:320]); math.Abs(p-(-10+3.0103)) > 0.2 {
		t.Errorf("tone part %.2f dBm0", p)
	}
	if slices.ContainsFunc(x[320:], func(v int16) bool { return v != 0 }) {
		t.Error("the gap is not silent")
	}
	if x[319] == 0 && x[318] == 0 {
		t.Error("the tone stops early")
	}

	br := samples(t, inbandCase("b", '0', 40, 20, Inband{LowDBm0: -10, HighDBm0: -10, BreakMs: 10}))
	whole := samples(t, inbandCase("w", '0', 90, 20, Inband{LowDBm0: -10, HighDBm0: -10}))
	if len(br) != len(whole) {
		t.Fatalf("break case %d samples, want %d", len(br), len(whole))
	}
	for i := range br {
		want := whole[i]
		if i >= 320 && i < 400 {
			want = 0
		}
		if br[i] != want {
			t.Fatalf("break case sample %d = %d, want %d (a 90 ms tone silenced for 40–50 ms)", i, br[i], want)
		}
	}
}

// TestSamplesNoiseAndDialTone: noise at the SNR below the pair, over the
// whole span; dial tones at their level; all deterministic by case ID.
func TestSamplesNoiseAndDialTone(t *testing.T) {
	snr := 12.0
	c := inbandCase("q24/noise/12dB/5", '5', 100, 900, Inband{LowDBm0: -20, HighDBm0: -20, SNRdB: &snr})
	x := samples(t, c)
	noise := dtmftest.PowerDBm0(x[800:])
	if want := -20 + 3.0103 - snr; math.Abs(noise-want) > 0.5 {
		t.Errorf("noise in the gap %.2f dBm0, want %.2f", noise, want)
	}
	if !slices.Equal(x, samples(t, c)) {
		t.Error("the same case gives other samples")
	}
	c2 := c
	c2.ID = "other"
	if slices.Equal(x, samples(t, c2)) {
		t.Error("another case ID gives the same noise")
	}

	for _, m := range []struct {
		dt   DialTone
		want float64
	}{{DialToneJapan, -20}, {DialToneITU, -20 + 3.0103}} {
		x := samples(t, inbandCase("d", '5', 50, 500, Inband{LowDBm0: -10, HighDBm0: -10, DialTone: m.dt, DialToneDBm0: -20}))
		if got := dtmftest.PowerDBm0(x[400:]); math.Abs(got-m.want) > 0.2 {
			t.Errorf("dial tone %s: %.2f dBm0, want %.2f", m.dt, got, m.want)
		}
	}
	jp := samples(t, inbandCase("d", '5', 50, 1000, Inband{LowDBm0: -90, HighDBm0: -90, DialTone: DialToneJapan, DialToneDBm0: -20}))
	if f := zeroCrossingHz(jp[400:]); math.Abs(f-400) > 0.5 {
		t.Errorf("Japanese dial tone at %.2f Hz", f)
	}
}

func TestSamplesWrongMode(t *testing.T) {
	c := Case{ID: "r", Mode: ModeRFC4733, Key: '1', Expect: ExpectDetect, DurationMs: 40}
	if _, err := c.AppendSamples(nil); err == nil {
		t.Error("AppendSamples of an RFC 4733 case: no error")
	}
	if _, _, err := c.InfoBody(); err == nil {
		t.Error("InfoBody of an RFC 4733 case: no error")
	}
	in := inbandCase("i", '1', 40, 0, Inband{})
	if _, err := in.AppendEvents(nil); err == nil {
		t.Error("AppendEvents of an in-band case: no error")
	}
}

func TestEvents(t *testing.T) {
	ev := func(dur int, r RFC4733) []dtmf.EventPacket {
		t.Helper()
		c := Case{ID: "e", Mode: ModeRFC4733, Key: '#', Expect: ExpectDetect, DurationMs: dur, RFC4733: &r}
		p, err := c.AppendEvents(nil)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	ends := func(ps []dtmf.EventPacket) (n int) {
		for _, p := range ps {
			if p.Payload.End {
				n++
			}
		}
		return n
	}

	nom := ev(100, RFC4733{Volume: 10})
	if len(nom) != 4+3 {
		t.Fatalf("100 ms event: %d packets, want 4 updates and 3 ENDs", len(nom))
	}
	for i, p := range nom {
		if p.Marker != (i == 0) || p.Timestamp != 0 || p.Payload.Code != 11 || p.Payload.Volume != 10 {
			t.Errorf("packet %d: %+v", i, p)
		}
		if i > 0 && p.Time <= nom[i-1].Time {
			t.Errorf("packet %d sent at %d, not after %d", i, p.Time, nom[i-1].Time)
		}
	}
	if last := nom[len(nom)-1]; !last.Payload.End || last.Payload.Duration != 800 || nom[0].Time != 160 {
		t.Errorf("first sent at %d, last %+v", nom[0].Time, last)
	}

	if p := ev(100, RFC4733{Volume: 10, NoMarker: true}); slices.ContainsFunc(p, func(p dtmf.EventPacket) bool { return p.Marker }) {
		t.Error("no-marker case has a marker")
	}
	if p := ev(100, RFC4733{EndOnly: true}); len(p) != 3 || ends(p) != 3 || !p[0].Marker || p[0].Payload.Volume != 0 {
		t.Errorf("END only, volume 0: %+v", p)
	}
	if p := ev(100, RFC4733{EndsLost: true}); len(p) != 4 || ends(p) != 0 || !p[0].Marker {
		t.Errorf("ENDs lost: %+v", p)
	}
	if p := ev(100, RFC4733{EndRepeats: 5}); ends(p) != 5 {
		t.Errorf("5 ENDs: %+v", p)
	}
	if p := ev(100, RFC4733{IntervalMs: 50}); len(p) != 1+3 || p[0].Payload.Duration != 400 {
		t.Errorf("every 50 ms: %+v", p)
	}
	if p := ev(0, RFC4733{}); len(p) != 3 || p[0].Payload.Duration != 0 || !p[0].Payload.End {
		t.Errorf("duration 0: %+v", p)
	}
}

func TestInfoBody(t *testing.T) {
	for _, c := range []struct {
		key  dtmf.Key
		dur  int
		s    SIPInfo
		ct   string
		body string
	}{
		{'5', 100, SIPInfo{Format: dtmf.InfoDTMFRelay}, "application/dtmf-relay", "Signal=5\r\nDuration=100\r\n"},
		{'5', 0, SIPInfo{Format: dtmf.InfoDTMFRelay}, "application/dtmf-relay", "Signal=5\r\n"},
		{'#', 250, SIPInfo{Format: dtmf.InfoDTMFRelay, SignalCode: true}, "application/dtmf-relay", "Signal=11\r\nDuration=250\r\n"},
		{'A', 100, SIPInfo{Format: dtmf.InfoDTMF}, "application/dtmf", "A\r\n"},
	} {
		cs := Case{ID: "i", Mode: ModeSIPInfo, Key: c.key, Expect: ExpectDetect, DurationMs: c.dur, SIPInfo: &c.s}
		ct, body, err := cs.InfoBody()
		if err != nil || ct != c.ct || !bytes.Equal(body, []byte(c.body)) {
			t.Errorf("%c %+v: %q %q %v, want %q %q", c.key, c.s, ct, body, err, c.ct, c.body)
		}
		k, err := dtmf.ParseInfo(dtmf.InfoFormatOf(ct), body)
		if err != nil || k.Key != c.key || k.Duration != int64(c.dur*8) && c.s.Format == dtmf.InfoDTMFRelay {
			t.Errorf("%q reads back as %+v %v", body, k, err)
		}
	}
}
