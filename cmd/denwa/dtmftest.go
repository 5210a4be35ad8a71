package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"denwa/cmd/denwa/internal/config"
	"denwa/dtmf/testplan"
)

// Exit codes of dtmftest besides 0 (every case met its expectation) and 2
// (usage).
const (
	dtmftestFailed   = 1 // a case failed, or a key was heard outside every case
	dtmftestNoCall   = 3 // the call was not answered, or ended during the plan
	dtmftestNoReport = 4 // no report came from the far end
)

type dtmftestOptions struct {
	sip                    config.SIP // the flags dtmftest shares with call
	plan, mode             string
	junit, farReport       string
	json, verbose          bool
	leadIn, tail, waitTime time.Duration
}

func newDTMFTestCmd() *cobra.Command {
	o := dtmftestOptions{sip: config.DefaultSIP()}
	cmd := &cobra.Command{
		Use:   "dtmftest NUMBER",
		Short: "measure what a telephone path does to DTMF keys: send a test plan, ask the far end what it heard",
		Long: `dtmftest places a call (with every SIP option of denwa call) to a far end
running "denwa phone --report", sends each case of a test plan — in-band
tones with exact levels, twist, frequency offsets, durations, gaps, noise
and dial tone; RFC 4733 telephone-events with their quirks; SIP INFO
requests — then asks the far end, in the dialog, which keys it heard, and
prints one row per case (what was sent, what was heard, delay and measured
duration, the verdict) and a summary.

Plans: q24 (ITU-T Q.24 limits), japan (the Japanese network's), quick (the
16 keys once per mode), or a JSON plan file. --mode picks the cases of one
mode, or all of them in turn (inband, rfc4733, sip-info).

When the path drops in-dialog requests, run the far end with
--report-file FILE and give dtmftest --far-report FILE: it reads the
report there after the call.

The SIP password is read from the environment variable ` + passwordEnv + `.

Exit codes: 0 every detect case heard exactly once and no reject case
heard; 1 a case failed (or a key was heard outside every case); 2 usage;
3 the call failed or ended during the plan; 4 no report from the far end.`,
		Example: `  denwa phone --listen 127.0.0.1:5070 --report &
  denwa dtmftest --trunk sip:127.0.0.1:5070 --plan q24 --mode all 100
  denwa dtmftest --trunk sip:pbx.example.com --user 1001 --plan japan --json --junit dtmf.xml 0312345678`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDTMFTest(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), args[0], o)
		},
	}
	f := cmd.Flags()
	config.BindSIPFlags(f, &o.sip)
	f.StringVar(&o.plan, "plan", "quick", "test plan: "+strings.Join(testplan.BuiltinNames(), ", ")+", or a JSON plan file")
	f.StringVar(&o.mode, "mode", "all", "cases to send: inband, rfc4733, sip-info or all")
	f.BoolVar(&o.json, "json", false, "print the report as one JSON object")
	f.StringVar(&o.junit, "junit", "", "also write the report as JUnit XML to this file")
	f.StringVar(&o.farReport, "far-report", "", "read the far end's report from this file (written by denwa phone --report --report-file) instead of asking in the dialog")
	f.DurationVar(&o.leadIn, "lead-in", time.Second, "audio before the first case, for the path to settle")
	f.DurationVar(&o.tail, "tail", time.Second, "audio after the last case, before asking for the report")
	f.DurationVar(&o.waitTime, "report-timeout", 10*time.Second, "wait this long for each page of the far end's report (with --far-report: for the file)")
	f.BoolVarP(&o.verbose, "verbose", "v", false, "log SIP and media events to stderr")
	return cmd
}

// planCases returns the plan's cases of the chosen mode, or of every mode
// in turn for "all".
func planCases(p testplan.Plan, mode string) ([]testplan.Case, error) {
	if mode == "all" {
		var out []testplan.Case
		for _, m := range testplan.Modes {
			out = append(out, p.Only(m).Cases...)
		}
		return out, nil
	}
	m := testplan.Mode(mode)
	if !m.Valid() {
		return nil, fmt.Errorf("--mode %q: want inband, rfc4733, sip-info or all", mode)
	}
	return p.Only(m).Cases, nil
}

func runDTMFTest(ctx context.Context, stdout, stderr io.Writer, number string, o dtmftestOptions) error {
	usage := func(err error) error { return &exitError{code: 2, msg: "dtmftest: " + err.Error()} }
	ctx, cancel := signalContext(ctx) // Ctrl-C hangs up
	defer cancel()
	plan, err := testplan.Load(o.plan, func(name string) (io.ReadCloser, error) { return os.Open(name) })
	if err != nil {
		return usage(fmt.Errorf("--plan: %w", err))
	}
	cases, err := planCases(plan, o.mode)
	if err != nil {
		return usage(err)
	}
	if len(cases) == 0 {
		return usage(fmt.Errorf("plan %s has no %s cases", plan.Name, o.mode))
	}
	wire, err := synthesize(cases)
	if err != nil {
		return usage(err)
	}
	if o.junit != "" { // a folder that is not there fails before the call, not after it
		if st, err := os.Stat(filepath.Dir(o.junit)); err != nil || !st.IsDir() {
			return usage(fmt.Errorf("--junit %s: no such folder", o.junit))
		}
	}
	dialler, err := openCallDialer(o.sip, stderr, o.verbose)
	if err != nil {
		return usage(err)
	}
	defer dialler.Close()
	if reg := awaitRegistration(ctx, dialler); reg != "" {
		fmt.Fprintln(stderr, reg)
	}

	line, err := dialLine(ctx, dialler, number, nil, nil)
	if err != nil {
		return &exitError{code: dtmftestNoCall, msg: fmt.Sprintf("dtmftest: the call failed (%s): %v", outcomeOf(err), err)}
	}
	// The timeline's origin: the ACK has just gone out, and the far end
	// dates its keys from its arrival (phone_report.go).
	start := time.Now()
	call := line.call
	neg := call.Media()
	fmt.Fprintf(stderr, "dtmftest: answered (%s); plan %s, %d %s cases, about %s\n",
		neg.String(), plan.Name, len(cases), o.mode, planLength(wire, o.leadIn+o.tail).Round(time.Second))
	s := newSender(call, start, stderr)
	slots, sendErr := s.run(ctx, wire, o.leadIn, o.tail)
	var rep farReport
	var repErr error
	if sendErr == nil && o.farReport == "" {
		pageMax := pageBytes
		if streamTransport(o.sip.Transport, o.sip.Trunk) {
			pageMax = maxPageBytes
		}
		rep, repErr = askReport(ctx, call, plan.Name, len(cases), pageMax, o.waitTime)
	}
	_ = call.Hangup(context.WithoutCancel(ctx))
	if sendErr != nil {
		return &exitError{code: dtmftestNoCall, msg: "dtmftest: " + sendErr.Error()}
	}
	if o.farReport != "" {
		rep, repErr = readFarReport(ctx, o.farReport, call.CallID(), start, o.waitTime)
	}
	if repErr != nil {
		return &exitError{code: dtmftestNoReport, msg: "dtmftest: no report from the far end: " + repErr.Error()}
	}
	if rep.CallID != call.CallID() {
		fmt.Fprintf(stderr, "dtmftest: the far end's report is of call %q, ours is %q (a B2BUA between?)\n", rep.CallID, call.CallID())
	}

	report := judge(plan.Name, o.mode, cases, slots, rep.Heard)
	if o.json {
		err = report.WriteJSON(stdout)
	} else {
		err = report.WriteTable(stdout)
	}
	if err != nil {
		return err
	}
	if o.junit != "" {
		if err := writeJUnit(o.junit, &report); err != nil {
			return fmt.Errorf("dtmftest: --junit: %w", err)
		}
	}
	if !report.Pass() {
		return &exitError{code: dtmftestFailed}
	}
	return nil
}

// streamTransport reports whether SIP goes over TCP or TLS (the
// transport, else the trunk URI's), where a message may exceed a UDP
// datagram's 1,300 bytes.
func streamTransport(transport, trunk string) bool {
	t := strings.ToLower(transport)
	if t == "" {
		trunk = strings.ToLower(trunk)
		return strings.HasPrefix(trunk, "sips:") || strings.Contains(trunk, "transport=tcp") || strings.Contains(trunk, "transport=tls")
	}
	return t == "tcp" || t == "tls"
}

// planLength is how long sending the cases takes, plus extra.
func planLength(wire []wireCase, extra time.Duration) time.Duration {
	d := extra
	for _, w := range wire {
		d += w.span
	}
	return d
}

func writeJUnit(name string, r *testplan.Report) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	if err := r.WriteJUnit(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Matching the far end's keys to the cases (testplan.Assign). The far end
// dates each key from its answer, dtmftest each case from its own; the
// two origins are one network crossing apart, in the direction the keys
// go too, so the delays cancel, up to the 20 ms tick the media is sent
// on and the jitter of the path. slotGuard moves every case that much
// earlier for the matching, so that a key dated a few ms before its case
// began is still its case's; the delays reported are measured from the
// case's real start.
const slotGuard = 20 * time.Millisecond

var matchWindow = testplan.Window{BeforeMs: 20, AfterMs: 250}

// judge matches what the far end heard to the slots of the cases sent and
// judges each case.
func judge(planName, mode string, cases []testplan.Case, slots []testplan.Slot, heard []testplan.Heard) testplan.Report {
	g := durationMs(slotGuard)
	shifted := make([]testplan.Slot, len(slots))
	for i, s := range slots {
		shifted[i] = testplan.Slot{Key: s.Key, StartMs: s.StartMs - g, EndMs: s.EndMs - g}
	}
	perSlot, unmatched := testplan.Assign(shifted, heard, matchWindow)
	for _, hs := range perSlot {
		for i := range hs {
			hs[i].DelayMs -= g
		}
	}
	return testplan.NewReport(planName, mode, cases, perSlot, unmatched)
}
