package testplan

import (
	"fmt"
	"hash/fnv"
	"math"

	"denwa/dtmf"
	"denwa/dtmf/dtmftest"
)

// samplesPerMs is the number of samples in a millisecond at 8000 Hz.
const samplesPerMs = dtmf.SampleRate / 1000

// Seed is the noise seed of a case: a hash of its ID, so that a case sounds
// the same in every run, in every plan that holds it.
func (c *Case) Seed() uint64 {
	h := fnv.New64a()
	h.Write([]byte(c.ID))
	return h.Sum64()
}

// SampleCount is the number of samples [Case.AppendSamples] appends: the
// case's span at 8000 Hz.
func (c *Case) SampleCount() int { return c.SpanMs() * samplesPerMs }

// AppendSamples appends the case's in-band audio to dst: 16-bit linear
// samples at 8000 Hz, [Case.SampleCount] of them, starting with the press
// and ending with the gap. The tone pair has exactly the case's levels and
// frequency offsets; noise and dial tone, when asked for, cover the whole
// span. The result depends only on the case (noise is seeded by its ID).
// It returns an error for a case that is not in-band or does not validate.
func (c *Case) AppendSamples(dst []int16) ([]int16, error) {
	if c.Mode != ModeInband {
		return dst, fmt.Errorf("testplan: case %q is %s, not in-band", c.ID, c.Mode)
	}
	if err := c.validate(); err != nil {
		return dst, err
	}
	in := c.inband()
	n0 := len(dst)
	dst = append(dst, make([]int16, c.SampleCount())...)
	x := dst[n0:]
	// Sum in float so that nothing saturates twice.
	v := make([]float64, len(x))
	dur := c.DurationMs * samplesPerMs
	tone := dtmf.Tone{Key: c.Key, Level: in.LowDBm0, Twist: in.TwistDB(),
		LowDev: in.LowDevPct / 100, HighDev: in.HighDevPct / 100, Duration: dur}
	addTone(v, tone)
	if in.BreakMs > 0 {
		// The second part goes on with the phase the tone would have had:
		// the same oscillators, silenced for the break.
		second := tone
		at := dur + in.BreakMs*samplesPerMs
		fl, fh, _ := dtmf.KeyFreqs(c.Key)
		second.LowPhase = 2 * math.Pi * fl * (1 + tone.LowDev) * float64(at) / dtmf.SampleRate
		second.HighPhase = 2 * math.Pi * fh * (1 + tone.HighDev) * float64(at) / dtmf.SampleRate
		addTone(v[at:], second)
	}
	if in.SNRdB != nil {
		p := pairPower(in.LowDBm0, in.HighDBm0) / math.Pow(10, *in.SNRdB/10)
		noise := make([]int16, len(x))
		dtmftest.NewNoise(c.Seed(), p).AddTo(noise)
		for i, s := range noise {
			v[i] += float64(s)
		}
	}
	switch in.DialTone {
	case DialToneJapan:
		addSine(v, 400, in.DialToneDBm0)
	case DialToneITU:
		addSine(v, 350, in.DialToneDBm0)
		addSine(v, 440, in.DialToneDBm0)
	}
	for i := range x {
		x[i] = dtmftest.Sat16(v[i])
	}
	return dst, nil
}

// addTone adds t's samples (from its first) into v.
func addTone(v []float64, t dtmf.Tone) {
	fl, fh, _ := dtmf.KeyFreqs(t.Key)
	wl := 2 * math.Pi * fl * (1 + t.LowDev) / dtmf.SampleRate
	wh := 2 * math.Pi * fh * (1 + t.HighDev) / dtmf.SampleRate
	al, ah := dtmf.Amplitude(t.Level), dtmf.Amplitude(t.Level+t.Twist)
	for i := range min(len(v), t.Duration) {
		n := float64(i)
		v[i] += al*math.Cos(wl*n+t.LowPhase) + ah*math.Cos(wh*n+t.HighPhase)
	}
}

// addSine adds a continuous sine of f Hz at level dBm0 into v.
func addSine(v []float64, f, dBm0 float64) {
	a := dtmf.Amplitude(dBm0)
	w := 2 * math.Pi * f / dtmf.SampleRate
	for i := range v {
		v[i] += a * math.Sin(w*float64(i))
	}
}

// pairPower is the mean square of a tone pair at the given levels.
func pairPower(low, high float64) float64 {
	al, ah := dtmf.Amplitude(low), dtmf.Amplitude(high)
	return (al*al + ah*ah) / 2
}

// AppendEvents appends to dst the telephone-event packets a sender puts on
// the wire for an RFC 4733 case, in send order, quirks applied: Timestamp
// and Time are in samples (timestamp units) from the case's start, so a
// sender adds its own base timestamp and sends each packet Time/8 ms after
// the case's start. The payloads' Volume is the case's; the sender adds
// the sequence numbers, SSRC and payload type (the case's PT, or the
// negotiated one). A case whose every packet was dropped (END only, ENDs
// lost) is refused by validation. It returns an error for a case that is
// not RFC 4733 or does not validate.
func (c *Case) AppendEvents(dst []dtmf.EventPacket) ([]dtmf.EventPacket, error) {
	if c.Mode != ModeRFC4733 {
		return dst, fmt.Errorf("testplan: case %q is %s, not rfc4733", c.ID, c.Mode)
	}
	if err := c.validate(); err != nil {
		return dst, err
	}
	r := c.rfc4733()
	cfg := dtmf.EventGenConfig{Interval: int64(r.IntervalMs * samplesPerMs), EndRepeats: r.EndRepeats, Volume: r.Volume}
	if cfg.Volume == 0 {
		// EventGenConfig reads 0 as its default; build 0 dBm0 by hand below.
		cfg.Volume = 1
	}
	n0 := len(dst)
	dst, err := dtmf.GenerateEvent(dst, c.Key, 0, int64(c.DurationMs*samplesPerMs), cfg)
	if err != nil {
		return dst[:n0], fmt.Errorf("testplan: case %q: %w", c.ID, err)
	}
	out := dst[:n0]
	first := true
	for _, p := range dst[n0:] {
		p.Payload.Volume = r.Volume
		if r.EndOnly && !p.Payload.End {
			continue
		}
		if r.EndsLost && p.Payload.End {
			continue
		}
		p.Marker = first && !r.NoMarker
		first = false
		out = append(out, p)
	}
	return out, nil
}

// InfoBody returns the Content-Type and body of a SIP INFO case's request.
// It returns an error for a case that is not SIP INFO or does not validate.
func (c *Case) InfoBody() (contentType string, body []byte, err error) {
	if c.Mode != ModeSIPInfo {
		return "", nil, fmt.Errorf("testplan: case %q is %s, not sip-info", c.ID, c.Mode)
	}
	if err := c.validate(); err != nil {
		return "", nil, err
	}
	s := c.sipInfo()
	switch s.Format {
	case dtmf.InfoDTMF:
		return s.Format.String(), []byte(c.Key.String() + "\r\n"), nil
	default:
		if !s.SignalCode {
			body, err = dtmf.AppendDTMFRelay(nil, c.Key, int64(c.DurationMs*samplesPerMs))
			return dtmf.InfoDTMFRelay.String(), body, err
		}
		code, _ := c.Key.Code()
		b := fmt.Appendf(nil, "Signal=%d\r\n", code)
		if c.DurationMs > 0 {
			b = fmt.Appendf(b, "Duration=%d\r\n", c.DurationMs)
		}
		return dtmf.InfoDTMFRelay.String(), b, nil
	}
}
