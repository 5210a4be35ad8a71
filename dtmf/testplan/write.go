package testplan

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
)

// WriteTable writes one row per case (verdict, id, expectation, what was
// sent, what was heard) and a summary line.
func (r *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RESULT\tCASE\tEXPECT\tSENT\tHEARD")
	for _, c := range r.Cases {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", verdict(c.Pass), c.ID, c.Expect, c.Sent, heardText(c.Heard))
	}
	for _, h := range r.Unmatched {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", "FAIL", "(no case)", "-", "-", unmatchedText(h))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintln(w, r.Summary.Line(r.Plan, r.Mode))
	return err
}

// Line is the one-line summary: "plan q24 (inband): 120 cases, 120 passed,
// 0 failed: PASS".
func (s Summary) Line(plan, mode string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "plan %s (%s): %d cases, %d passed, %d failed", plan, mode, s.Cases, s.Passed, s.Failed)
	if s.Unmatched > 0 {
		fmt.Fprintf(&b, ", %d keys outside every case", s.Unmatched)
	}
	if s.Pass {
		b.WriteString(": PASS")
	} else {
		b.WriteString(": FAIL")
	}
	return b.String()
}

func verdict(pass bool) string {
	if pass {
		return "pass"
	}
	return "FAIL"
}

// heardText is the "heard" column: "-" for nothing, else each key with
// its source, delay and measured duration.
func heardText(hs []Heard) string {
	if len(hs) == 0 {
		return "-"
	}
	parts := make([]string, len(hs))
	for i, h := range hs {
		parts[i] = fmt.Sprintf("%s %s %+.0fms %.0fms", keyText(h.Key), h.Source, math.Round(h.DelayMs)+0, h.DurationMs) // +0: no "-0"
	}
	return strings.Join(parts, "; ")
}

// unmatchedText describes a key heard outside every case.
func unmatchedText(h Heard) string {
	return fmt.Sprintf("%s %s at %.0fms %.0fms", keyText(h.Key), h.Source, h.AtMs, h.DurationMs)
}

// WriteJSON writes the report as one indented JSON object: plan, mode,
// cases (each with id, mode, expect, sent, heard, pass), unmatched and
// summary.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// JUnit XML, the schema CI servers read (Jenkins, GitLab, GitHub actions).
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	ClassName string        `xml:"classname,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

// WriteJUnit writes the report as JUnit XML: one testsuite for the plan
// and mode, one testcase per case (classname plan.mode, name the case ID)
// with a failure element when it did not pass, and one failing testcase
// per key heard outside every case.
func (r *Report) WriteJUnit(w io.Writer) error {
	suite := junitSuite{Name: r.Plan + "." + r.Mode, Tests: len(r.Cases) + len(r.Unmatched), Failures: r.Summary.Failed + len(r.Unmatched)}
	class := "dtmf." + r.Plan + "." + r.Mode
	for _, c := range r.Cases {
		jc := junitCase{Name: c.ID, ClassName: class, SystemOut: "sent: " + c.Sent.String() + "\nheard: " + heardText(c.Heard)}
		if !c.Pass {
			jc.Failure = &junitFailure{Message: failureMessage(c), Type: string(c.Expect), Text: jc.SystemOut}
		}
		suite.Cases = append(suite.Cases, jc)
	}
	for i, h := range r.Unmatched {
		msg := "key heard outside every case: " + unmatchedText(h)
		suite.Cases = append(suite.Cases, junitCase{Name: fmt.Sprintf("unmatched/%d", i+1), ClassName: class,
			Failure: &junitFailure{Message: msg, Type: "unmatched", Text: msg}})
	}
	doc := junitSuites{Name: "denwa dtmf " + r.Plan, Tests: suite.Tests, Failures: suite.Failures, Suites: []junitSuite{suite}}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

func failureMessage(c CaseResult) string {
	switch c.Expect {
	case ExpectDetect:
		if len(c.Heard) == 0 {
			return "expected " + c.Sent.Key + " once, heard nothing"
		}
		return fmt.Sprintf("expected %s once, heard %s", c.Sent.Key, heardText(c.Heard))
	case ExpectReject:
		return "expected nothing, heard " + heardText(c.Heard)
	}
	return "failed"
}
