package dtmf

import (
	"errors"
	"testing"
)

// cstep is one Collector call: a key (key != 0) from start to start+400,
// or Advance to now.
type cstep struct {
	key   Key
	start int64
	now   int64
}

func k(key Key, start int64) cstep { return cstep{key: key, start: start} }
func at(now int64) cstep           { return cstep{now: now} }

func TestCollector(t *testing.T) {
	hash := CollectorConfig{Terminators: "#", FirstTimeout: 40000, InterTimeout: 24000}
	tests := []struct {
		name       string
		cfg        CollectorConfig
		steps      []cstep
		wantKeys   string
		wantDigits string
		wantReason CollectReason
		wantAt     int64
		wantStep   int // the step that finished it
	}{
		{"# alone", hash, []cstep{k('#', 8000)}, "#", "", CollectTerminated, 8400, 0},
		{"*#", hash, []cstep{k('*', 8000), at(12000), k('#', 16000)}, "*#", "*", CollectTerminated, 16400, 2},
		{"0#", hash, []cstep{k('0', 8000), k('#', 9600)}, "0#", "0", CollectTerminated, 10000, 1},
		{"nothing: first-key timeout", hash, []cstep{at(39999), at(40000)}, "", "", CollectFirstTimeout, 40000, 1},
		{"1 then silence: inter-key timeout", hash, []cstep{k('1', 8000), at(8400 + 23999), at(8400 + 24000)}, "1", "1", CollectInterTimeout, 32400, 2},
		{"key after the first deadline is not taken", hash, []cstep{k('#', 40000)}, "", "", CollectFirstTimeout, 40000, 0},
		{"late key that began in time still counts", hash, []cstep{k('5', 39999), at(70000)}, "5", "5", CollectInterTimeout, 39999 + 400 + 24000, 1},
		{"max digits", CollectorConfig{Terminators: "#", MaxDigits: 3}, []cstep{k('1', 100), k('2', 1000), k('3', 2000), k('4', 3000)}, "123", "123", CollectMaxDigits, 2400, 2},
		{"terminator beats max digits", CollectorConfig{Terminators: "#", MaxDigits: 2}, []cstep{k('1', 100), k('#', 1000)}, "1#", "1", CollectTerminated, 1400, 1},
		{"terminator not counted in max digits", CollectorConfig{Terminators: "#", MaxDigits: 1}, []cstep{k('#', 100)}, "#", "", CollectTerminated, 500, 0},
		{"several terminators", CollectorConfig{Terminators: "#*"}, []cstep{k('1', 100), k('*', 1000)}, "1*", "1", CollectTerminated, 1400, 1},
		{"no terminator: # is a key", CollectorConfig{MaxDigits: 2}, []cstep{k('#', 100), k('#', 1000)}, "##", "##", CollectMaxDigits, 1400, 1},
		{"no timeouts", CollectorConfig{Terminators: "#", FirstTimeout: -1, InterTimeout: -1}, []cstep{at(1 << 40), k('1', 1<<41), at(1 << 50), k('#', 1<<51)}, "1#", "1", CollectTerminated, 1<<51 + 400, 3},
		{"default timeouts", CollectorConfig{Terminators: "#"}, []cstep{k('1', 100), at(500 + DefaultInterKeyTimeout)}, "1", "1", CollectInterTimeout, 500 + DefaultInterKeyTimeout, 1},
		{"keys past MaxCollectKeys end by max digits", CollectorConfig{}, func() []cstep {
			var s []cstep
			for i := range MaxCollectKeys + 2 {
				s = append(s, k('9', int64(i)*1000))
			}
			return s
		}(), "99999999999999999999999999999999", "99999999999999999999999999999999", CollectMaxDigits, 31*1000 + 400, MaxCollectKeys - 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewCollector(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			c.Start(0)
			var res CollectResult
			doneAt := -1
			for i, s := range tt.steps {
				var r CollectResult
				var ok bool
				if s.key != 0 {
					r, ok = c.Add(Event{Key: s.key, Source: SourceRFC4733, Start: s.start, End: s.start + 400})
				} else {
					r, ok = c.Advance(s.now)
				}
				if ok {
					if doneAt >= 0 {
						t.Fatalf("step %d: finished again (%v) after step %d", i, r, doneAt)
					}
					res, doneAt = r, i
				}
			}
			if doneAt != tt.wantStep {
				t.Fatalf("finished at step %d (%v), want step %d", doneAt, res, tt.wantStep)
			}
			if string(res.Keys()) != tt.wantKeys || string(res.Digits()) != tt.wantDigits || res.Reason != tt.wantReason || res.At != tt.wantAt {
				t.Errorf("got keys %q digits %q %s at %d; want %q %q %s at %d",
					string(res.Keys()), string(res.Digits()), res.Reason, res.At, tt.wantKeys, tt.wantDigits, tt.wantReason, tt.wantAt)
			}
			if r2, ok := c.Result(); !ok || r2 != res {
				t.Errorf("Result() = %v, %v", r2, ok)
			}
		})
	}
}

func TestCollectorLifecycle(t *testing.T) {
	var c Collector // zero value: no terminator, default limits
	if _, ok := c.Add(Event{Key: '1', Start: 0, End: 400}); ok || len(c.Collected()) != 0 {
		t.Fatal("a key before Start was taken")
	}
	c.Start(1000)
	c.Add(Event{Key: '#', Start: 1000, End: 1400})
	c.Add(Event{Key: 'x', Start: 1500, End: 1600}) // invalid: ignored
	if got := string(c.Collected()); got != "#" {
		t.Fatalf("Collected = %q", got)
	}
	if _, ok := c.Result(); ok {
		t.Fatal("finished without a terminator")
	}
	r, ok := c.Advance(1400 + DefaultInterKeyTimeout)
	if !ok || r.Reason != CollectInterTimeout || r.String() != `"#" inter-timeout` {
		t.Fatalf("Advance = %v, %v", r, ok)
	}
	if _, ok := c.Add(Event{Key: '2', Start: 99999, End: 99999}); ok {
		t.Fatal("a key after the end finished it again")
	}
	c.Start(200000) // a new collection
	if len(c.Collected()) != 0 {
		t.Fatal("Start did not forget")
	}
	if _, ok := c.Result(); ok {
		t.Fatal("Result after Start")
	}
}

func TestCollectorConfigErrors(t *testing.T) {
	for _, cfg := range []CollectorConfig{{MaxDigits: -1}, {MaxDigits: MaxCollectKeys + 1}} {
		if _, err := NewCollector(cfg); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%+v: %v", cfg, err)
		}
	}
	if _, err := NewCollector(CollectorConfig{Terminators: "#x"}); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("bad terminator: %v", err)
	}
}

func TestCollectReasonString(t *testing.T) {
	want := map[CollectReason]string{
		CollectUnknown: "unknown", CollectTerminated: "terminated", CollectFirstTimeout: "first-timeout",
		CollectInterTimeout: "inter-timeout", CollectMaxDigits: "max-digits", 99: "unknown",
	}
	for r, s := range want {
		if r.String() != s {
			t.Errorf("%d: %q, want %q", r, r.String(), s)
		}
	}
}

func TestCollectorAllocs(t *testing.T) {
	c, _ := NewCollector(CollectorConfig{Terminators: "#"})
	allocs := testing.AllocsPerRun(1000, func() {
		c.Start(0)
		c.Add(Event{Key: '1', Start: 100, End: 500})
		c.Advance(600)
		c.Add(Event{Key: '#', Start: 1000, End: 1400})
	})
	if allocs != 0 {
		t.Fatalf("Collector allocates %v times per run", allocs)
	}
}

// TestPipeline: a gateway sends "*#" both as RFC 4733 packets and as tones
// (the in-band keys here stand in for the Detector's). The decoder, merger
// and collector together report each press once: "*#", terminated.
func TestPipeline(t *testing.T) {
	type press struct {
		key        Key
		start, dur int64
	}
	presses := []press{{'*', 16000, 960}, {'#', 24000, 800}}
	var pkts []EventPacket
	for _, p := range presses {
		pkts, _ = GenerateEvent(pkts, p.key, p.start, p.dur, EventGenConfig{})
	}
	dec := NewEventDecoder(EventDecoderConfig{})
	var mrg Merger
	col, _ := NewCollector(CollectorConfig{Terminators: "#"})
	col.Start(8000)

	var evs, out []Event
	var payload []byte
	var res CollectResult
	finished := false
	feed := func(keys []Event) {
		for _, e := range keys {
			if r, ok := col.Add(e); ok {
				res, finished = r, true
			}
		}
	}
	next := 0
	for now := int64(8000); now < 40000 && !finished; now += 160 { // 20 ms ticks
		for ; next < len(pkts) && pkts[next].Time <= now; next++ {
			p := pkts[next]
			payload, _ = p.Payload.AppendTo(payload[:0])
			evs, _ = dec.Decode(evs[:0], uint16(next), p.Timestamp, p.Marker, payload)
			for _, e := range evs {
				out = mrg.Add(out[:0], e)
				feed(out)
			}
		}
		// The in-band twins, reported by the detector 40 ms after the tone ends.
		for _, p := range presses {
			if now == p.start+p.dur+320 {
				out = mrg.Add(out[:0], Event{p.key, SourceInband, p.start + 80, p.start + p.dur + 80})
				feed(out)
			}
		}
		evs = dec.Advance(evs[:0], now)
		for _, e := range evs {
			out = mrg.Add(out[:0], e)
			feed(out)
		}
		out = mrg.Advance(out[:0], now)
		feed(out)
		if r, ok := col.Advance(now); ok {
			res, finished = r, true
		}
	}
	if !finished || res.String() != `"*#" terminated` || res.At != 24800 {
		t.Fatalf("result %v at %d (finished %v)", res, res.At, finished)
	}
}
