package testplan

import (
	"fmt"
	"sort"

	"denwa/dtmf"
)

// RunConfig tunes [Run]. The zero value runs the default detector on the
// linear samples.
type RunConfig struct {
	// Detector configures the in-band detector; the zero value is what
	// `denwa detect` and a live call use.
	Detector dtmf.Config
	// Decoder configures the RFC 4733 decoder; the zero value is what
	// `denwa detect` and a live call use.
	Decoder dtmf.EventDecoderConfig
	// Channel, when not nil, changes each 20 ms frame of in-band audio in
	// place before the detector hears it: a G.711 round trip, a loss, an
	// attenuation. nil passes the samples as synthesized.
	Channel func(frame []int16)
	// Window widens each case's slot when heard keys are assigned; the
	// zero value allows 20 ms of early start (the detector's edge
	// estimate) and nothing after a case's span.
	Window *Window
}

// leadMs is the silence before the first case and tailMs after the last.
const (
	leadMs = 100
	tailMs = 500
)

// Run is the offline conformance run: it sends every case of p through
// the real receivers, with no network, and reports what they heard. The
// in-band cases of the plan are laid end to end (after 100 ms of
// silence, in 20 ms frames) and go through one dtmf.Detector, as one
// call's audio would; the RFC 4733 cases are one stream of
// telephone-events through one dtmf.EventDecoder, each packet at its send
// time; each SIP INFO body goes through dtmf.ParseInfo. The report holds
// the plan's modes in the order of [Modes], combined as mode "all" when
// there are several.
func Run(p Plan, cfg RunConfig) (Report, error) {
	if err := p.Validate(); err != nil {
		return Report{}, err
	}
	w := Window{BeforeMs: 20}
	if cfg.Window != nil {
		w = *cfg.Window
	}
	var reports []Report
	for _, m := range Modes {
		cases := p.Only(m).Cases
		if len(cases) == 0 {
			continue
		}
		var heard []Heard
		var err error
		switch m {
		case ModeInband:
			heard, err = runInband(cases, cfg)
		case ModeRFC4733:
			heard, err = runRFC4733(cases, cfg)
		case ModeSIPInfo:
			heard = runSIPInfo(cases)
		}
		if err != nil {
			return Report{}, err
		}
		per, unmatched := Assign(Schedule(cases, 0), heard, w)
		reports = append(reports, NewReport(p.Name, string(m), cases, per, unmatched))
	}
	if len(reports) == 1 {
		return reports[0], nil
	}
	return Combine(p.Name, reports...), nil
}

// frameLen is one 20 ms frame at 8000 Hz.
const frameLen = 160

func runInband(cases []Case, cfg RunConfig) ([]Heard, error) {
	det, err := dtmf.NewDetector(cfg.Detector)
	if err != nil {
		return nil, fmt.Errorf("testplan: %w", err)
	}
	lead := leadMs * samplesPerMs
	x := make([]int16, lead, lead+(tailMs*samplesPerMs))
	for i := range cases {
		if x, err = cases[i].AppendSamples(x); err != nil {
			return nil, err
		}
	}
	x = append(x, make([]int16, tailMs*samplesPerMs)...)
	var evs []dtmf.Event
	frame := make([]int16, frameLen)
	for at := 0; at < len(x); at += frameLen {
		n := copy(frame, x[at:])
		f := frame[:n]
		if cfg.Channel != nil {
			cfg.Channel(f)
		}
		evs = det.Process(evs, f)
	}
	evs = det.Flush(evs)
	heard := make([]Heard, 0, len(evs))
	for _, e := range evs {
		heard = append(heard, Heard{Key: e.Key, Source: e.Source,
			AtMs: float64(e.Start-int64(lead)) / samplesPerMs, DurationMs: float64(e.Duration()) / samplesPerMs})
	}
	return heard, nil
}

// timedPacket is a telephone-event packet on the stream's timeline.
type timedPacket struct {
	dtmf.EventPacket
	order int
}

func runRFC4733(cases []Case, cfg RunConfig) ([]Heard, error) {
	lead := int64(leadMs * samplesPerMs)
	slots := Schedule(cases, 0)
	var pkts []timedPacket
	var buf []dtmf.EventPacket
	for i := range cases {
		var err error
		if buf, err = cases[i].AppendEvents(buf[:0]); err != nil {
			return nil, err
		}
		base := lead + int64(slots[i].StartMs)*samplesPerMs
		for _, p := range buf {
			p.Time += base
			p.Timestamp += base
			pkts = append(pkts, timedPacket{p, len(pkts)})
		}
	}
	sort.SliceStable(pkts, func(i, j int) bool { return pkts[i].Time < pkts[j].Time })
	dec := dtmf.NewEventDecoder(cfg.Decoder)
	var evs []dtmf.Event
	var payload [dtmf.EventPayloadLen]byte
	seq := uint16(1000)
	var end int64
	for _, p := range pkts {
		evs = dec.Advance(evs, p.Time)
		if _, err := p.Payload.MarshalTo(payload[:]); err != nil {
			return nil, fmt.Errorf("testplan: %w", err)
		}
		var err error
		if evs, err = dec.Decode(evs, seq, p.Timestamp, p.Marker, payload[:]); err != nil {
			return nil, fmt.Errorf("testplan: %w", err)
		}
		seq++
		end = max(end, p.Time)
	}
	// The stream goes on (audio keeps the clock running) past the end of
	// the plan, long enough for a key whose END was lost to time out.
	evs = dec.Advance(evs, end+int64(tailMs*samplesPerMs)+dtmf.DefaultEventTimeout)
	evs = dec.Flush(evs)
	heard := make([]Heard, 0, len(evs))
	for _, e := range evs {
		heard = append(heard, Heard{Key: e.Key, Source: e.Source,
			AtMs: float64(e.Start-lead) / samplesPerMs, DurationMs: float64(e.Duration()) / samplesPerMs})
	}
	return heard, nil
}

func runSIPInfo(cases []Case) []Heard {
	slots := Schedule(cases, 0)
	var heard []Heard
	for i := range cases {
		ct, body, err := cases[i].InfoBody()
		if err != nil {
			continue
		}
		k, err := dtmf.ParseInfo(dtmf.InfoFormatOf(ct), body)
		if err != nil {
			continue // nothing heard; the case's verdict says so
		}
		heard = append(heard, Heard{Key: k.Key, Source: dtmf.SourceSIPInfo, AtMs: slots[i].StartMs,
			DurationMs: float64(k.Duration) / samplesPerMs})
	}
	return heard
}
