package testplan

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"strings"
	"testing"

	"denwa/dtmf"
)

func heard(k dtmf.Key, at float64) Heard {
	return Heard{Key: k, Source: dtmf.SourceInband, AtMs: at, DurationMs: 50}
}

func TestJudge(t *testing.T) {
	c := func(e Expect) *Case { return &Case{ID: "x", Key: '5', Expect: e} }
	for _, tc := range []struct {
		e     Expect
		heard []Heard
		pass  bool
	}{
		{ExpectDetect, nil, false},
		{ExpectDetect, []Heard{heard('5', 0)}, true},
		{ExpectDetect, []Heard{heard('5', 0), heard('5', 80)}, false}, // double detection
		{ExpectDetect, []Heard{heard('6', 0)}, false},                 // wrong key
		{ExpectReject, nil, true},
		{ExpectReject, []Heard{heard('5', 0)}, false},
		{ExpectReject, []Heard{heard('1', 0)}, false},
		{ExpectEither, nil, true},
		{ExpectEither, []Heard{heard('5', 0), heard('5', 1)}, true},
		{"", nil, false},
	} {
		if got := Judge(c(tc.e), tc.heard); got != tc.pass {
			t.Errorf("%s with %d heard: %v, want %v", tc.e, len(tc.heard), got, tc.pass)
		}
	}
}

func TestSchedule(t *testing.T) {
	cases := []Case{
		{Mode: ModeInband, Key: '1', DurationMs: 40, GapMs: 60},
		{Mode: ModeInband, Key: '2', DurationMs: 40, GapMs: 20, Inband: &Inband{BreakMs: 10}},
		{Mode: ModeRFC4733, Key: '3', DurationMs: 100, GapMs: 0},
	}
	got := Schedule(cases, 1000)
	want := []Slot{{'1', 1000, 1100}, {'2', 1100, 1210}, {'3', 1210, 1310}}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("slot %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestAssign(t *testing.T) {
	// Three presses of one key 80 ms apart, then a 9 and a reject case.
	slots := []Slot{{'5', 0, 80}, {'5', 80, 160}, {'5', 160, 240}, {'9', 240, 360}, {'1', 360, 480}}
	w := Window{BeforeMs: 20, AfterMs: 10}
	hs := []Heard{
		heard('9', 255),  // late but inside its case
		heard('5', -3),   // a little early: still case 1
		heard('5', 78.5), // just before case 2 starts: case 2 (its edge estimate)
		heard('5', 170),  // case 3
		heard('5', 200),  // case 3 again: a double detection
		heard('7', 700),  // outside every window
		heard('1', 487),  // after case 5's span, within AfterMs
	}
	per, un := Assign(slots, hs, w)
	want := [][]float64{{-3}, {78.5}, {170, 200}, {255}, {487}}
	for i := range want {
		if len(per[i]) != len(want[i]) {
			t.Fatalf("slot %d: %+v, want keys at %v", i, per[i], want[i])
		}
		for j, at := range want[i] {
			if per[i][j].AtMs != at || per[i][j].DelayMs != at-slots[i].StartMs {
				t.Errorf("slot %d key %d: %+v, want at %v delay %v", i, j, per[i][j], at, at-slots[i].StartMs)
			}
		}
	}
	if len(un) != 1 || un[0].Key != '7' {
		t.Errorf("unmatched %+v, want the 7", un)
	}

	// A wrong key is still assigned to the case it sounded in.
	per, _ = Assign([]Slot{{'1', 0, 100}, {'2', 100, 200}}, []Heard{heard('3', 120)}, Window{})
	if len(per[0]) != 0 || len(per[1]) != 1 {
		t.Errorf("wrong key: %+v", per)
	}
	// The same key is preferred over the case it overlaps.
	per, _ = Assign([]Slot{{'1', 0, 100}, {'2', 100, 200}}, []Heard{heard('1', 105)}, Window{AfterMs: 10})
	if len(per[0]) != 1 {
		t.Errorf("late 1: %+v", per)
	}
}

func sampleReport() Report {
	cases := []Case{
		{ID: "p/a", Mode: ModeInband, Key: '5', Expect: ExpectDetect, DurationMs: 40, GapMs: 40, Inband: &Inband{LowDBm0: -10, HighDBm0: -10}},
		{ID: "p/b", Mode: ModeInband, Key: '5', Expect: ExpectReject, DurationMs: 25, GapMs: 40, Inband: &Inband{LowDBm0: -10, HighDBm0: -10}},
		{ID: "p/c <&>", Mode: ModeRFC4733, Key: '#', Expect: ExpectDetect, DurationMs: 40, GapMs: 40, RFC4733: &RFC4733{Volume: 10, EndsLost: true}},
	}
	per, un := Assign(Schedule(cases, 0), []Heard{heard('5', 1), heard('5', 81), heard('7', 900)}, Window{})
	return NewReport("p", "all", cases, per, un)
}

func TestReportSummary(t *testing.T) {
	r := sampleReport()
	s := r.Summary
	if s.Cases != 3 || s.Passed != 1 || s.Failed != 2 || s.Unmatched != 1 || s.Pass || r.Pass() {
		t.Errorf("summary %+v", s)
	}
	ok := NewReport("p", "inband", nil, nil, nil)
	if !ok.Pass() {
		t.Error("an empty report fails")
	}
	all := Combine("p", sampleReport(), sampleReport())
	if all.Summary.Cases != 6 || all.Summary.Failed != 4 || all.Summary.Unmatched != 2 || all.Mode != "all" {
		t.Errorf("combined %+v", all.Summary)
	}
}

func TestWriteTable(t *testing.T) {
	r := sampleReport()
	var b bytes.Buffer
	if err := r.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	// header, 3 cases, 1 unmatched key, summary
	if len(lines) != 6 {
		t.Fatalf("%d lines:\n%s", len(lines), b.String())
	}
	for i, want := range []string{"RESULT", "pass    p/a", "FAIL    p/b", "FAIL    p/c", "FAIL    (no case)", "plan p (all): 3 cases, 1 passed, 2 failed, 1 keys outside every case: FAIL"} {
		if !strings.HasPrefix(lines[i], want) {
			t.Errorf("line %d = %q, want it to start with %q", i, lines[i], want)
		}
	}
	if !strings.Contains(lines[3], "[ENDs lost]") || !strings.Contains(lines[2], "5 inband +1ms 50ms") || !strings.Contains(lines[4], "7 inband at 900ms") {
		t.Errorf("rows:\n%s", b.String())
	}
}

func TestWriteJSON(t *testing.T) {
	r := sampleReport()
	var b bytes.Buffer
	if err := r.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Plan  string
		Cases []map[string]json.RawMessage
	}
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Plan != "p" || len(doc.Cases) != 3 {
		t.Fatalf("plan %q, %d cases", doc.Plan, len(doc.Cases))
	}
	for _, c := range doc.Cases {
		for _, f := range []string{"id", "expect", "sent", "heard", "pass"} {
			if _, ok := c[f]; !ok {
				t.Errorf("case without %q: %v", f, c)
			}
		}
	}
	var pass bool
	var hs []Heard
	var sent map[string]any
	if json.Unmarshal(doc.Cases[1]["pass"], &pass) != nil || pass {
		t.Error("case 2 pass is not false")
	}
	if err := json.Unmarshal(doc.Cases[1]["heard"], &hs); err != nil || len(hs) != 1 || hs[0].Key != '5' || hs[0].Source != dtmf.SourceInband || hs[0].DelayMs != 1 {
		t.Errorf("case 2 heard %+v %v", hs, err)
	}
	if err := json.Unmarshal(doc.Cases[2]["heard"], &hs); err != nil || len(hs) != 0 || string(doc.Cases[2]["heard"]) != "[]" {
		t.Errorf("case 3 heard %s", doc.Cases[2]["heard"])
	}
	if err := json.Unmarshal(doc.Cases[0]["sent"], &sent); err != nil || sent["key"] != "5" || sent["low_dbm0"] != -10.0 || sent["twist_db"] != 0.0 {
		t.Errorf("case 1 sent %v", sent)
	}
}

func TestWriteJUnit(t *testing.T) {
	r := sampleReport()
	var b bytes.Buffer
	if err := r.WriteJUnit(&b); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Suite    []struct {
			Cases []struct {
				Name    string `xml:"name,attr"`
				Failure *struct {
					Message string `xml:"message,attr"`
				} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	if doc.Tests != 4 || doc.Failures != 3 || len(doc.Suite) != 1 || len(doc.Suite[0].Cases) != 4 {
		t.Fatalf("parsed %+v", doc)
	}
	cs := doc.Suite[0].Cases
	if cs[0].Name != "p/a" || cs[0].Failure != nil {
		t.Errorf("case 1: %+v", cs[0])
	}
	if cs[1].Failure == nil || !strings.Contains(cs[1].Failure.Message, "expected nothing") {
		t.Errorf("case 2: %+v", cs[1])
	}
	if cs[2].Name != "p/c <&>" || cs[2].Failure == nil || !strings.Contains(cs[2].Failure.Message, "heard nothing") {
		t.Errorf("case 3: %+v", cs[2])
	}
}
