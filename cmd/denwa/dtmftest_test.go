package main

import (
	"bufio"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"denwa/cmd/denwa/internal/config"
	"denwa/dtmf/testplan"
	"denwa/sip"
	"denwa/sip/siptest"
	"denwa/sip/siptest/peers"
)

// dtmftest against `denwa phone --report`, both run in this process
// through their commands, on loopback: directly, through Kamailio with
// rtpengine anchoring the media, and through a relay that drops 5% of
// the RTP.

// (syncBuffer, serve_test.go, collects a command's output.)

// reportPhone is a running `denwa phone --report`.
type reportPhone struct {
	uri    string
	addr   string // ip:port
	stdout *syncBuffer
}

// startReportPhone runs `denwa phone --report` with the extra flags until
// the test ends, and returns its URI once it listens.
func startReportPhone(t *testing.T, extra ...string) *reportPhone {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	root := newRootCmd()
	var stderr syncBuffer
	root.SetArgs(append([]string{"phone", "--listen", "127.0.0.1:0", "--report", "--rtp-ports", portRange().String()}, extra...))
	root.SetOut(pw)
	root.SetErr(&stderr)
	done := make(chan error, 1)
	go func() {
		done <- root.ExecuteContext(ctx)
		pw.Close()
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Errorf("the phone did not stop")
		}
	})
	br := bufio.NewReader(pr)
	line, err := br.ReadString('\n')
	if err != nil {
		t.Fatalf("phone: %v (stderr %s)", err, stderr.String())
	}
	// "phone listening on sip:127.0.0.1:PORT (udp): …"
	f := strings.Fields(line)
	if len(f) < 4 || !strings.HasPrefix(f[3], "sip:") || !strings.Contains(line, "reports the keys it hears") {
		t.Fatalf("phone said %q", line)
	}
	p := &reportPhone{uri: f[3], addr: strings.TrimPrefix(f[3], "sip:"), stdout: &syncBuffer{}}
	go io.Copy(p.stdout, br)
	return p
}

// dtmftestRun runs `denwa dtmftest --json` with args to trunk and returns
// the report, the exit code and both outputs.
func dtmftestRun(t *testing.T, trunk string, args ...string) (testplan.Report, int, string, string) {
	t.Helper()
	args = append(append([]string{"dtmftest", "--json", "--trunk", trunk, "--bind", "127.0.0.1:0",
		"--rtp-ports", portRange().String(), "--ring-timeout", "10s", "--lead-in", "500ms"}, args...), "100")
	stdout, stderr, code := runCLI(t, args...)
	var rep testplan.Report
	if code == 0 || code == dtmftestFailed {
		if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
			t.Fatalf("exit %d: the JSON does not parse: %v\n%s\n%s", code, err, stdout, stderr)
		}
	}
	return rep, code, stdout, stderr
}

// checkReport checks that the report says what its cases say: each pass
// is the case's expectation applied to what was heard for it, and the
// summary counts them; it returns the failed cases' IDs.
func checkReport(t *testing.T, rep testplan.Report) []string {
	t.Helper()
	var failed []string
	for _, c := range rep.Cases {
		if c.ID == "" || c.Expect == "" || c.Sent.Key == "" || c.Heard == nil {
			t.Errorf("case without id, expect, sent or heard: %+v", c)
		}
		want := true
		switch c.Expect {
		case testplan.ExpectDetect:
			want = len(c.Heard) == 1 && c.Heard[0].Key.String() == c.Sent.Key
		case testplan.ExpectReject:
			want = len(c.Heard) == 0
		}
		if c.Pass != want {
			t.Errorf("case %s: pass %v, but expect %s and heard %+v", c.ID, c.Pass, c.Expect, c.Heard)
		}
		if !c.Pass {
			failed = append(failed, c.ID)
		}
	}
	s := rep.Summary
	if s.Cases != len(rep.Cases) || s.Failed != len(failed) || s.Passed != len(rep.Cases)-len(failed) ||
		s.Unmatched != len(rep.Unmatched) || s.Pass != (len(failed) == 0 && len(rep.Unmatched) == 0) {
		t.Errorf("summary %+v does not count %d cases, %d failed, %d unmatched", s, len(rep.Cases), len(failed), len(rep.Unmatched))
	}
	return failed
}

// requireAllPass fails the test unless every case met its expectation.
func requireAllPass(t *testing.T, rep testplan.Report, code int, stdout, stderr string, wantCases int) {
	t.Helper()
	failed := checkReport(t, rep)
	if code != 0 || !rep.Summary.Pass || len(failed) > 0 || len(rep.Cases) != wantCases {
		var b strings.Builder
		rep.WriteTable(&b)
		t.Fatalf("exit %d, %d cases (want %d), failed %v, unmatched %+v\n%s\nstderr:\n%s", code, len(rep.Cases), wantCases, failed, rep.Unmatched, b.String(), stderr)
	}
}

func q24Cases(mode testplan.Mode) int { return len(testplan.Q24().Only(mode).Cases) }

// TestDTMFTestDirect: the whole q24 plan, each mode on its own call at
// once, against `denwa phone --report`: every case meets its expectation,
// and the JSON and JUnit outputs parse and agree.
func TestDTMFTestDirect(t *testing.T) {
	if testing.Short() {
		t.Skip("q24 over three real calls, about 25 s")
	}
	for _, m := range testplan.Modes {
		t.Run(string(m), func(t *testing.T) {
			t.Parallel()
			phone := startReportPhone(t)
			junit := filepath.Join(t.TempDir(), "dtmf.xml")
			rep, code, stdout, stderr := dtmftestRun(t, phone.uri, "--plan", "q24", "--mode", string(m), "--junit", junit)
			requireAllPass(t, rep, code, stdout, stderr, q24Cases(m))
			if rep.Plan != "q24" || rep.Mode != string(m) {
				t.Errorf("plan %q mode %q", rep.Plan, rep.Mode)
			}
			for _, c := range rep.Cases {
				for _, h := range c.Heard {
					if h.Source != m.Source() {
						t.Errorf("case %s heard from %s", c.ID, h.Source)
					}
				}
			}
			checkJUnit(t, junit, rep)
			// The far end printed what it heard: one line per key.
			deadline := time.Now().Add(5 * time.Second)
			for !strings.Contains(phone.stdout.String(), "heard ") && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			if out := phone.stdout.String(); !strings.Contains(out, "caller-hung-up") || !strings.Contains(out, " "+m.Source().String()+" ") {
				t.Errorf("the phone printed:\n%s", out)
			}
		})
	}
}

// checkJUnit checks that the JUnit file parses and holds one testcase per
// case of rep, in order, failing where rep's cases failed, then one
// failing testcase per key heard outside every case.
func checkJUnit(t *testing.T, name string, rep testplan.Report) {
	t.Helper()
	var doc struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Suites   []struct {
			Cases []struct {
				Name    string    `xml:"name,attr"`
				Failure *struct{} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	b, err := os.ReadFile(name)
	if err == nil {
		err = xml.Unmarshal(b, &doc)
	}
	if err != nil {
		t.Fatalf("JUnit: %v\n%s", err, b)
	}
	n := len(rep.Cases) + len(rep.Unmatched) // a key outside every case is a failing testcase
	if doc.Tests != n || doc.Failures != rep.Summary.Failed+len(rep.Unmatched) || len(doc.Suites) != 1 || len(doc.Suites[0].Cases) != n {
		t.Fatalf("JUnit: %d tests, %d failures:\n%s", doc.Tests, doc.Failures, b)
	}
	for i, c := range doc.Suites[0].Cases[:len(rep.Cases)] {
		if c.Name != rep.Cases[i].ID || (c.Failure != nil) == rep.Cases[i].Pass {
			t.Errorf("JUnit testcase %d: %s failure %v; the report: %s pass %v", i, c.Name, c.Failure != nil, rep.Cases[i].ID, rep.Cases[i].Pass)
		}
	}
}

// TestInteropDTMFTestKamailioRTPEngine: through Kamailio (record-route:
// the SIP INFO keys and the request for the report come along the route
// set, the report back in its response) with rtpengine anchoring the
// media, the whole q24 plan, each mode on its own call at once: every
// case meets its expectation.
func TestInteropDTMFTestKamailioRTPEngine(t *testing.T) {
	rtpe := peers.StartRTPEngine(t)
	t.Run("modes", func(t *testing.T) {
		for _, m := range testplan.Modes {
			t.Run(string(m), func(t *testing.T) {
				t.Parallel()
				phone := startReportPhone(t)
				k := peers.StartKamailio(t, peers.KamailioConfig{Target: phone.uri, RTPEngine: rtpe})
				rep, code, stdout, stderr := dtmftestRun(t, k.URI("udp"), "--plan", "q24", "--mode", string(m))
				requireAllPass(t, rep, code, stdout, stderr, q24Cases(m))
			})
		}
	})
	if log := rtpe.Output(); !strings.Contains(log, "Received command 'offer'") || !strings.Contains(log, "Received command 'answer'") {
		t.Errorf("rtpengine handled no offer/answer:\n%s", log)
	}
}

// TestDTMFTestLoss: q24 in-band and RFC 4733 through a relay that drops
// 5% of the RTP towards the far end (seeded): the JSON and the table
// report each case that failed as failing (pass false, counted in the
// summary, a FAIL row, a JUnit failure, exit 1) rather than hiding it. In-band cases fail
// there (a 40 ms tone is two packets); which ones depends on where the
// losses fall, which moves with the timing of the sender, so a seed that
// happens to spare every case is followed by the next one, up to three.
// RFC 4733's redundancy may get every case through; its report is
// checked the same way.
func TestDTMFTestLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("q24 over a lossy path, about 25 s")
	}
	for _, m := range []testplan.Mode{testplan.ModeInband, testplan.ModeRFC4733} {
		t.Run(string(m), func(t *testing.T) {
			t.Parallel()
			phone := startReportPhone(t)
			for seed := uint64(15); ; seed++ {
				relay := siptest.NewRelay(t, siptest.RelayConfig{Callee: mustAddrPort(t, phone.addr),
					ToCallee: siptest.Impairment{Loss: 0.05}, Seed: seed})
				junit := filepath.Join(t.TempDir(), "dtmf.xml")
				rep, code, _, stderr := dtmftestRun(t, relay.URI(), "--plan", "q24", "--mode", string(m), "--junit", junit)
				failed := checkReport(t, rep)
				checkJUnit(t, junit, rep)
				if st := relay.Stats(); st.ToCallee.Dropped == 0 {
					t.Fatalf("the relay dropped nothing: %+v", st)
				}
				if len(rep.Cases) != q24Cases(m) || (code == dtmftestFailed) != (len(failed) > 0 || len(rep.Unmatched) > 0) ||
					code != 0 && code != dtmftestFailed {
					t.Fatalf("exit %d, %d cases, failed %v\n%s", code, len(rep.Cases), failed, stderr)
				}
				var table strings.Builder
				if err := rep.WriteTable(&table); err != nil {
					t.Fatal(err)
				}
				for _, id := range failed {
					if !strings.Contains(table.String(), "FAIL    "+id+" ") {
						t.Errorf("no FAIL row for %s:\n%s", id, table.String())
					}
				}
				t.Logf("%s through 5%% loss (seed %d): %d of %d cases failed: %v", m, seed, len(failed), len(rep.Cases), failed)
				if len(failed) > 0 {
					if rep.Summary.Pass || !strings.Contains(table.String(), fmt.Sprintf("%d failed: FAIL", len(failed))) {
						t.Errorf("the summary hides the failures:\n%s", table.String())
					}
					return
				}
				if m != testplan.ModeInband {
					return
				}
				if seed == 17 {
					t.Fatalf("no in-band case of q24 failed through 5%% loss with three seeds")
				}
			}
		})
	}
}

// TestDTMFTestTable: without --json the same report is a table with a
// summary line, and exit 0.
func TestDTMFTestTable(t *testing.T) {
	phone := startReportPhone(t)
	stdout, stderr, code := runCLI(t, "dtmftest", "--trunk", phone.uri, "--bind", "127.0.0.1:0", "--rtp-ports", portRange().String(),
		"--plan", "quick", "--mode", "rfc4733", "--lead-in", "300ms", "100")
	if code != 0 || !strings.HasPrefix(stdout, "RESULT") || !strings.Contains(stdout, "plan quick (rfc4733): 16 cases, 16 passed, 0 failed: PASS") ||
		!strings.Contains(stderr, "sending 16 rfc4733 cases") {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
}

// TestDTMFTestFarReport: with --far-report the report comes from the file
// the far end wrote when the call ended, not from the dialog.
func TestDTMFTestFarReport(t *testing.T) {
	file := filepath.Join(t.TempDir(), "far.json")
	phone := startReportPhone(t, "--report-file", file)
	rep, code, stdout, stderr := dtmftestRun(t, phone.uri, "--plan", "quick", "--mode", "sip-info", "--far-report", file)
	requireAllPass(t, rep, code, stdout, stderr, 16)
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	far, err := parseFarReport(b)
	if err != nil || !far.Final || far.Total != 16 || len(far.Heard) != 16 {
		t.Fatalf("the file: %v %+v", err, far)
	}
}

// TestDTMFTestNoReport: a far end that is no `denwa phone --report`
// answers the request for the report 415: exit 4 with the reason; a far
// end whose report is malformed: exit 4 saying so, no crash.
func TestDTMFTestNoReport(t *testing.T) {
	one := onePlan(t)
	t.Run("plain phone", func(t *testing.T) {
		r := portRange()
		phone := siptest.NewPhone(t, sip.PhoneConfig{Keys: "", RTPPortFirst: r.First, RTPPortLast: r.Last})
		_, code, _, stderr := dtmftestRun(t, phone.URI(), "--plan", one, "--lead-in", "0s", "--tail", "100ms")
		if code != dtmftestNoReport || !strings.Contains(stderr, "no report from the far end: the request for it was answered 415") ||
			!strings.Contains(stderr, "--far-report") {
			t.Fatalf("exit %d: %s", code, stderr)
		}
	})
	for name, body := range map[string]string{
		"not json":      `{"version":1,"heard":[`,
		"bad key":       `{"version":1,"call_id":"x","total":1,"from":0,"heard":[{"key":"X","source":"inband","at_ms":1}]}`,
		"wrong version": `{"version":7,"call_id":"x","total":0,"from":0,"heard":[]}`,
		"bad counts":    `{"version":1,"call_id":"x","total":0,"from":3,"heard":[]}`,
	} {
		t.Run(name, func(t *testing.T) {
			r := portRange()
			phone := siptest.NewPhone(t, sip.PhoneConfig{Keys: "", RTPPortFirst: r.First, RTPPortLast: r.Last,
				Hear: func(sip.PhoneCall) sip.Hearing { return badHearing(body) }})
			_, code, _, stderr := dtmftestRun(t, phone.URI(), "--plan", one, "--lead-in", "0s", "--tail", "100ms")
			if code != dtmftestNoReport || !strings.Contains(stderr, "no report from the far end: far-end report: ") {
				t.Fatalf("exit %d: %s", code, stderr)
			}
		})
	}
}

// onePlan writes a plan of one SIP INFO case and returns its path.
func onePlan(t *testing.T) string {
	t.Helper()
	p := testplan.Quick().Only(testplan.ModeSIPInfo)
	p.Name, p.Cases = "one", p.Cases[:1]
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	name := filepath.Join(t.TempDir(), "one.json")
	if err := os.WriteFile(name, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return name
}

// badHearing answers the request for the report with body.
type badHearing string

func (b badHearing) Key(sip.HeardKey) {}
func (b badHearing) Request(string, []byte) (int, string, []byte) {
	return 200, reportType, []byte(b)
}
func (b badHearing) End() {}

// TestDTMFTestCallFails: a far end that is busy: exit 3 with the outcome.
func TestDTMFTestCallFails(t *testing.T) {
	r := portRange()
	phone := siptest.NewPhone(t, sip.PhoneConfig{Status: 486, RTPPortFirst: r.First, RTPPortLast: r.Last})
	_, code, _, stderr := dtmftestRun(t, phone.URI(), "--plan", onePlan(t))
	if code != dtmftestNoCall || !strings.Contains(stderr, "the call failed (busy)") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
}

// TestDTMFTestUsage: plans, modes and flags refused before any call.
func TestDTMFTestUsage(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(bad, []byte(`{"name":"x","cases":[{"id":"a","mode":"inband","key":"Z"}]}`), 0o644)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--plan", "nope"}, "no built-in plan"},
		{[]string{"--plan", bad}, "key \"Z\""},
		{[]string{"--mode", "smoke"}, "--mode \"smoke\""},
		{[]string{"--plan", "quick", "--junit", "/nonexistent/dir/x.xml"}, "--junit"},
	} {
		_, stderr, code := runCLI(t, append(append([]string{"dtmftest", "--trunk", "sip:127.0.0.1:9"}, c.args...), "100")...)
		if code != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, %s", c.args, code, stderr)
		}
	}
	if _, stderr, code := runCLI(t, "phone", "--report-file", "x.json"); code != 2 || !strings.Contains(stderr, "--report-file needs --report") {
		t.Errorf("exit %d, %s", code, stderr)
	}
	if _, stderr, code := runCLI(t, "phone", "--report", "--srtp", "required"); code != 2 || !strings.Contains(stderr, "plain RTP only") {
		t.Errorf("exit %d, %s", code, stderr)
	}
}

func mustAddrPort(t *testing.T, s string) netip.AddrPort {
	t.Helper()
	a, err := netip.ParseAddrPort(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestDTMFTestSIPFlags: dtmftest takes every SIP flag of call, with the
// same default and help.
func TestDTMFTestSIPFlags(t *testing.T) {
	var call, dt *cobra.Command
	for _, c := range newRootCmd().Commands() {
		switch c.Name() {
		case "call":
			call = c
		case "dtmftest":
			dt = c
		}
	}
	n := 0
	s := config.DefaultSIP()
	fs := pflag.NewFlagSet("sip", pflag.ContinueOnError)
	config.BindSIPFlags(fs, &s)
	fs.VisitAll(func(want *pflag.Flag) {
		n++
		c, d := call.Flags().Lookup(want.Name), dt.Flags().Lookup(want.Name)
		if c == nil || d == nil || d.DefValue != c.DefValue || d.Usage != c.Usage {
			t.Errorf("--%s: call %+v, dtmftest %+v", want.Name, c, d)
		}
	})
	if n < 14 {
		t.Errorf("only %d SIP flags", n)
	}
}
