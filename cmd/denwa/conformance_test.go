package main

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"denwa/dtmf/dtmftest"
	"denwa/dtmf/testplan"
)

// TestConformanceBuiltins: `denwa detect --conformance` passes every case
// of every built-in plan (the detector hearing μ-law, as on a call), one
// table row per case, and exits 0.
func TestConformanceBuiltins(t *testing.T) {
	for _, name := range testplan.BuiltinNames() {
		out, errOut, code := runCLI(t, "detect", "--conformance", "--plan", name)
		p, _ := testplan.Builtin(name)
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		if code != 0 || errOut != "" {
			t.Errorf("%s: exit %d, stderr %q\n%s", name, code, errOut, failRows(out))
		}
		if len(lines) != len(p.Cases)+2 || !strings.HasSuffix(lines[len(lines)-1], "failed: PASS") {
			t.Errorf("%s: %d lines for %d cases; last %q", name, len(lines), len(p.Cases), lines[len(lines)-1])
		}
	}
}

func failRows(table string) string {
	var b strings.Builder
	for _, l := range strings.Split(table, "\n") {
		if strings.HasPrefix(l, "FAIL") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

func TestConformanceJSONAndJUnit(t *testing.T) {
	junit := filepath.Join(t.TempDir(), "q24.xml")
	out, errOut, code := runCLI(t, "detect", "--conformance", "--plan", "q24", "--mode", "rfc4733", "--json", "--junit", junit)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var r struct {
		Plan, Mode string
		Cases      []struct {
			ID     string          `json:"id"`
			Expect string          `json:"expect"`
			Sent   json.RawMessage `json:"sent"`
			Heard  []struct {
				Key    string `json:"key"`
				Source string `json:"source"`
			} `json:"heard"`
			Pass *bool `json:"pass"`
		}
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if r.Plan != "q24" || r.Mode != "rfc4733" || len(r.Cases) != len(testplan.Q24().Only(testplan.ModeRFC4733).Cases) {
		t.Fatalf("plan %q mode %q, %d cases", r.Plan, r.Mode, len(r.Cases))
	}
	for _, c := range r.Cases {
		if c.ID == "" || c.Expect == "" || len(c.Sent) == 0 || c.Pass == nil || !*c.Pass {
			t.Errorf("case %+v", c)
		}
		for _, h := range c.Heard {
			if h.Source != "rfc4733" {
				t.Errorf("%s: heard from %q", c.ID, h.Source)
			}
		}
	}
	b, err := os.ReadFile(junit)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
	}
	if err := xml.Unmarshal(b, &doc); err != nil || doc.Tests != len(r.Cases) || doc.Failures != 0 {
		t.Errorf("JUnit %+v %v", doc, err)
	}
}

// TestConformanceBrokenPath: a path that loses 30 dB makes the command
// print the failing cases and exit 1.
func TestConformanceBrokenPath(t *testing.T) {
	var out bytes.Buffer
	err := runConformance(&out, conformanceOptions{on: true, plan: "q24", mode: "inband",
		channel: func(f []int16) { dtmftest.Scale(f, -30) }})
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != exitDetectMismatch || !strings.HasSuffix(ee.msg, ": FAIL") {
		t.Fatalf("error %v, want exit 1 with the summary", err)
	}
	rows := failRows(out.String())
	for _, id := range []string{"q24/level/-30dBm0/5", "q24/level/-36dBm0/D"} {
		if !strings.Contains(rows, id+" ") {
			t.Errorf("%s not among the failures:\n%s", id, rows)
		}
	}
}

func TestConformancePlanFile(t *testing.T) {
	dir := t.TempDir()
	p := testplan.Quick().Only(testplan.ModeSIPInfo)
	p.Name = "mine"
	b, _ := json.Marshal(p)
	good := filepath.Join(dir, "mine.json")
	os.WriteFile(good, b, 0o644)
	out, errOut, code := runCLI(t, "detect", "--conformance", "--plan", good)
	if code != 0 || !strings.Contains(out, "plan mine (sip-info): 16 cases, 16 passed, 0 failed: PASS") {
		t.Errorf("exit %d %s\n%s", code, errOut, out)
	}

	// A case the receivers cannot meet: a 25 ms in-band tone expected.
	p.Cases = append(p.Cases, testplan.Case{ID: "short", Mode: testplan.ModeInband, Key: '1', Expect: testplan.ExpectDetect,
		DurationMs: 25, GapMs: 100, Inband: &testplan.Inband{LowDBm0: -10, HighDBm0: -10}})
	b, _ = json.Marshal(p)
	failing := filepath.Join(dir, "failing.json")
	os.WriteFile(failing, b, 0o644)
	out, _, code = runCLI(t, "detect", "--conformance", "--plan", failing)
	if code != exitDetectMismatch || !strings.Contains(failRows(out), "short ") {
		t.Errorf("exit %d\n%s", code, out)
	}

	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"name":"x","cases":[{"id":"a","mode":"inband","key":"5","expect":"detect","duration_ms":99999,"gap_ms":0}]}`), 0o644)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--plan", bad}, `duration_ms 99999`},
		{[]string{"--plan", filepath.Join(dir, "none.json")}, "no built-in plan"},
		{[]string{"--mode", "fax"}, `--mode "fax"`},
		{[]string{"--plan", "quick", "x.pcap"}, "takes no FILE"},
	} {
		_, errOut, code := runCLI(t, append([]string{"detect", "--conformance"}, tc.args...)...)
		if code != exitDetectBadInput || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q, want 2 and %q", tc.args, code, errOut, tc.want)
		}
	}
	if _, errOut, code := runCLI(t, "detect", "--plan", "q24", "x.pcap"); code != exitDetectBadInput || !strings.Contains(errOut, "needs --conformance") {
		t.Errorf("--plan without --conformance: exit %d %q", code, errOut)
	}
	if _, _, code := runCLI(t, "detect"); code == 0 {
		t.Error("detect without FILE or --conformance exits 0")
	}
}
