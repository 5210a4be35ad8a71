package testplan

import (
	"strings"
	"testing"

	"denwa/dtmf"
	"denwa/dtmf/dtmftest"
)

// TestRunBuiltins: the built-in detectors meet every case of every built-in
// plan, offline. A failing case is printed with what was heard.
func TestRunBuiltins(t *testing.T) {
	eachBuiltin(t, func(t *testing.T, p Plan) {
		r, err := Run(p, RunConfig{})
		if err != nil {
			t.Fatal(err)
		}
		if r.Summary.Cases != len(p.Cases) || r.Mode != "all" {
			t.Errorf("%d cases in the report, want %d; mode %q", r.Summary.Cases, len(p.Cases), r.Mode)
		}
		for _, c := range r.Cases {
			if !c.Pass {
				t.Errorf("%s: %s", c.ID, heardText(c.Heard))
			}
		}
		for _, h := range r.Unmatched {
			t.Errorf("key outside every case: %s", unmatchedText(h))
		}
		t.Log(r.Summary.Line(r.Plan, r.Mode))
	})
}

// TestRunCountsPerPlan keeps the numbers docs/dtmf.md states honest.
func TestRunCountsPerPlan(t *testing.T) {
	want := map[string]map[Mode]int{
		"q24":   {ModeInband: 216, ModeRFC4733: 76, ModeSIPInfo: 40},
		"japan": {ModeInband: 100, ModeRFC4733: 32, ModeSIPInfo: 16},
		"quick": {ModeInband: 16, ModeRFC4733: 16, ModeSIPInfo: 16},
	}
	for name, modes := range want {
		p, _ := Builtin(name)
		for m, n := range modes {
			if got := len(p.Only(m).Cases); got != n {
				t.Errorf("%s %s: %d cases, want %d", name, m, got, n)
			}
		}
	}
}

// TestRunHeardTimes: a key's delay and duration are what the receivers
// measured against the schedule.
func TestRunHeardTimes(t *testing.T) {
	p := Quick()
	r, err := Run(p, RunConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range r.Cases {
		h := c.Heard[0]
		if h.Source != Mode(c.Mode).Source() || h.Key != dtmf.Key(c.Sent.Key[0]) {
			t.Errorf("%s: heard %+v", c.ID, h)
		}
		if h.DelayMs < -3 || h.DelayMs > 3 || h.DurationMs < 97 || h.DurationMs > 103 {
			t.Errorf("%s: delay %.1f ms, duration %.1f ms; want about 0 and 100", c.ID, h.DelayMs, h.DurationMs)
		}
	}
}

// TestRunBrokenPath: a path that attenuates the audio by 30 dB fails the
// quiet cases, and the report shows them as failures instead of hiding
// them; the rest still pass.
func TestRunBrokenPath(t *testing.T) {
	p := Q24().Only(ModeInband)
	r, err := Run(p, RunConfig{Channel: func(f []int16) { dtmftest.Scale(f, -30) }})
	if err != nil {
		t.Fatal(err)
	}
	if r.Pass() || r.Summary.Failed == 0 || r.Summary.Passed == 0 {
		t.Fatalf("summary %+v", r.Summary)
	}
	failed := map[string]bool{}
	for _, c := range r.Cases {
		if !c.Pass {
			failed[c.ID] = true
			if c.Expect != ExpectDetect || len(c.Heard) != 0 {
				t.Errorf("%s failed as %s with %v: an attenuated path only loses keys", c.ID, c.Expect, c.Heard)
			}
		}
	}
	for _, id := range []string{"q24/level/-30dBm0/5", "q24/level/-36dBm0/D", "q24/noise/20dB/1"} {
		if !failed[id] {
			t.Errorf("%s passed through a 30 dB loss", id)
		}
	}
	for _, id := range []string{"q24/level/0dBm0/5", "q24/freq/low+3.5%/9", "q24/duration/25ms/#"} {
		if failed[id] {
			t.Errorf("%s failed through a 30 dB loss", id)
		}
	}
	var b strings.Builder
	if err := r.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(b.String(), "\nFAIL "); n != r.Summary.Failed {
		t.Errorf("table shows %d FAIL rows, summary %d", n, r.Summary.Failed)
	}
	if !strings.HasSuffix(b.String(), ": FAIL\n") {
		t.Error("summary line does not say FAIL")
	}
}

// TestRunExtraKeys: a path that adds a 50 ms '0' right after every press
// fails every case but the '0' (whose tone it only lengthens), and those
// before the first case and after the last show as keys outside every
// case.
func TestRunExtraKeys(t *testing.T) {
	p := Quick().Only(ModeInband)
	// Frames of 20 ms: 5 of lead-in silence, then per case 5 of tone and
	// 5 of pause, then 25 of silence. The '0' goes into frames 1–3 of
	// every 10: the lead-in, the start of every pause and twice the tail.
	n := 0
	add := func(f []int16) {
		n++
		if i := n % 10; i >= 1 && i <= 3 {
			tn := dtmf.Tone{Key: '0', Level: -10, Duration: 400}
			tn.AddTo(f, (i-1)*len(f))
		}
	}
	r, err := Run(p, RunConfig{Channel: add})
	if err != nil {
		t.Fatal(err)
	}
	if r.Pass() || r.Summary.Failed != len(p.Cases)-1 || r.Summary.Unmatched != 3 {
		t.Fatalf("summary %+v, want all cases but the 0 failed and three keys outside them", r.Summary)
	}
	for _, c := range r.Cases {
		if c.Sent.Key == "0" {
			if !c.Pass {
				t.Errorf("%s: heard %v, want one 0", c.ID, c.Heard)
			}
			continue
		}
		if c.Pass || len(c.Heard) != 2 || c.Heard[1].Key != '0' {
			t.Errorf("%s: heard %v, want its key and an extra 0", c.ID, c.Heard)
		}
	}
}

func TestRunInvalid(t *testing.T) {
	if _, err := Run(Plan{Name: "x"}, RunConfig{}); err == nil {
		t.Error("empty plan ran")
	}
	if _, err := Run(Quick(), RunConfig{Detector: dtmf.Config{MinHits: 99}}); err == nil {
		t.Error("bad detector config ran")
	}
	one := Plan{Name: "one", Cases: Quick().Cases[:1]}
	r, err := Run(one, RunConfig{})
	if err != nil || r.Mode != "inband" || !r.Pass() {
		t.Errorf("one in-band case: mode %q, %+v, %v", r.Mode, r.Summary, err)
	}
}
