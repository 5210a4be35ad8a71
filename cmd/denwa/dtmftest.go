package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"denwa/audio"
	"denwa/cmd/denwa/internal/config"
	"denwa/dtmf"
	"denwa/dtmf/testplan"
	"denwa/media"
	"denwa/sip"
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

// wireCase is a case ready to send: synthesized once, before the call.
type wireCase struct {
	c       *testplan.Case
	samples []int16            // in-band
	events  []dtmf.EventPacket // RFC 4733
	ctype   string             // SIP INFO
	body    []byte             // SIP INFO
	span    time.Duration      // the press and the gap after it
}

func synthesize(cases []testplan.Case) ([]wireCase, error) {
	out := make([]wireCase, len(cases))
	for i := range cases {
		c := &cases[i]
		w := wireCase{c: c, span: time.Duration(c.SpanMs()) * time.Millisecond}
		var err error
		switch c.Mode {
		case testplan.ModeInband:
			w.samples, err = c.AppendSamples(nil)
		case testplan.ModeRFC4733:
			w.events, err = c.AppendEvents(nil)
		case testplan.ModeSIPInfo:
			w.ctype, w.body, err = c.InfoBody()
		}
		if err != nil {
			return nil, err
		}
		out[i] = w
	}
	return out, nil
}

// g711Frames encodes samples into 20 ms frames of codec, the last one
// padded with silence.
func g711Frames(samples []int16, codec audio.Codec) [][]byte {
	n := (len(samples) + audio.FrameSamples - 1) / audio.FrameSamples
	buf := make([]byte, n*audio.FrameSamples)
	pcm := make([]int16, n*audio.FrameSamples)
	copy(pcm, samples)
	if codec == audio.PCMA {
		audio.EncodeALawTo(buf, pcm)
	} else {
		audio.EncodeULawTo(buf, pcm)
	}
	frames := make([][]byte, n)
	for i := range frames {
		frames[i] = buf[i*audio.FrameSamples : (i+1)*audio.FrameSamples]
	}
	return frames
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

// sender sends the cases of a plan on an answered call, each at its time,
// and notes where each began on the call's timeline (from the answer).
//
// A case in RTP is placed by its RTP timestamp, as the far end's receiver
// places the keys it finds (from the stream's first packet on): a pacer
// that falls behind on a loaded machine skips ticks without advancing the
// timestamps, so the stream's timeline and the wall clock drift apart,
// and only the stream's own timeline matches the far end's. Its origin,
// the stream's first frame, is dated once on the wall clock. A SIP INFO
// case is placed by the wall clock, as the far end dates its requests.
type sender struct {
	call     *sip.Call
	answered time.Time
	codec    audio.Codec
	progress io.Writer
	// firstTS is the stream's first frame's timestamp, originMs when it
	// went out (from answered).
	firstTS  uint32
	originMs float64

	mu      sync.Mutex
	infoErr []string // SIP INFO requests refused or unanswered
	infos   sync.WaitGroup
}

func newSender(call *sip.Call, answered time.Time, progress io.Writer) *sender {
	s := &sender{call: call, answered: answered, codec: audioCodec(call.Codec()), progress: progress}
	tl := call.SendTimeline()
	s.firstTS = tl.First
	// The frames sent so far went one a tick, the last just now.
	if ticks := int64(tl.Next-tl.First) / media.FrameSamples; ticks > 0 {
		s.originMs = durationMs(time.Since(answered) - time.Duration(ticks-1)*frameTime)
	}
	return s
}

// rtpMs places the frame of timestamp ts on the call's timeline.
func (s *sender) rtpMs(ts uint32) float64 {
	return s.originMs + float64(ts-s.firstTS)*1000/dtmf.SampleRate
}

// frameTime is the time between the frames (and ticks) of the call.
const frameTime = 20 * time.Millisecond

// run sends every case after leadIn of audio, waits tail after the last,
// and returns the slot of each case.
func (s *sender) run(ctx context.Context, wire []wireCase, leadIn, tail time.Duration) ([]testplan.Slot, error) {
	slots := make([]testplan.Slot, len(wire))
	next := time.Now().Add(leadIn)
	lastMode := testplan.Mode("")
	lastReport := time.Now()
	for i := range wire {
		w := &wire[i]
		if w.c.Mode != lastMode {
			lastMode = w.c.Mode
			n := 0
			for j := i; j < len(wire) && wire[j].c.Mode == lastMode; j++ {
				n++
			}
			fmt.Fprintf(s.progress, "dtmftest: sending %d %s cases\n", n, lastMode)
		} else if time.Since(lastReport) >= 5*time.Second {
			fmt.Fprintf(s.progress, "dtmftest: case %d of %d (%s)\n", i+1, len(wire), w.c.ID)
			lastReport = time.Now()
		}
		if err := sleepUntil(ctx, s.call, next); err != nil {
			return nil, err
		}
		began, startMs, err := s.send(ctx, w)
		if err != nil {
			return nil, fmt.Errorf("case %s: %w", w.c.ID, err)
		}
		slots[i] = testplan.Slot{Key: w.c.Key, StartMs: startMs, EndMs: startMs + durationMs(w.span)}
		// Half a tick early: the next case's media then starts at the
		// tick its span ends on, not one later.
		next = began.Add(w.span - frameTime/2)
	}
	if err := sleepUntil(ctx, s.call, next.Add(tail)); err != nil {
		return nil, err
	}
	s.infos.Wait()
	if len(s.infoErr) > 0 {
		fmt.Fprintf(s.progress, "dtmftest: %d SIP INFO requests failed: %s\n", len(s.infoErr), strings.Join(s.infoErr[:min(len(s.infoErr), 5)], "; "))
	}
	return slots, nil
}

// send sends one case and returns when its press began on the wire, on
// the wall clock (to pace the next case: Play and SendEvents return right
// after their last tick, which dates the first) and on the call's
// timeline: the timestamp of its first frame (in-band), of the frame its
// events replace first (RFC 4733), or when the request went (SIP INFO).
func (s *sender) send(ctx context.Context, w *wireCase) (time.Time, float64, error) {
	t0 := time.Now()
	switch w.c.Mode {
	case testplan.ModeInband:
		frames := g711Frames(w.samples, s.codec)
		if err := s.call.Play(ctx, frames); err != nil {
			return t0, 0, s.callErr(err)
		}
		began := latest(t0, time.Now().Add(-time.Duration(len(frames)-1)*frameTime))
		return began, s.rtpMs(s.call.SendTimeline().Play), nil
	case testplan.ModeRFC4733:
		var pt uint8
		if w.c.RFC4733 != nil {
			pt = w.c.RFC4733.PT
		}
		if err := s.call.SendEvents(ctx, pt, w.events); err != nil {
			if errors.Is(err, media.ErrNoTelephoneEvent) {
				return t0, 0, errors.New("the far end did not negotiate telephone-event: RFC 4733 cases cannot be sent")
			}
			return t0, 0, s.callErr(err)
		}
		began := latest(t0, time.Now().Add(-time.Duration(lastTick(w.events))*frameTime))
		return began, s.rtpMs(s.call.SendTimeline().Press), nil
	default:
		s.infos.Add(1)
		go func() {
			defer s.infos.Done()
			ctx, cancel := context.WithTimeout(ctx, 8*time.Second)
			defer cancel()
			res, err := s.call.Request(ctx, "INFO", w.ctype, w.body)
			if err == nil && res.Status/100 != 2 {
				err = fmt.Errorf("%d %s", res.Status, res.Reason)
			}
			if err != nil {
				s.mu.Lock()
				s.infoErr = append(s.infoErr, w.c.ID+": "+err.Error())
				s.mu.Unlock()
			}
		}()
		return t0, durationMs(t0.Sub(s.answered)), nil
	}
}

// callErr says how the call ended under a case.
func (s *sender) callErr(err error) error {
	if cerr := s.call.Err(); cerr != nil {
		return fmt.Errorf("the call ended: %w", cerr)
	}
	return err
}

// lastTick is the tick (from the press's first, 0) media.Session.SendEvents
// sends the last of evs in.
func lastTick(evs []dtmf.EventPacket) int64 {
	tick := int64(-1)
	for _, ev := range evs {
		due := (ev.Time + media.FrameSamples - 1) / media.FrameSamples
		tick = max(tick+1, due)
	}
	return tick
}

func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// sleepUntil waits until t, or returns why the call or ctx ended first.
func sleepUntil(ctx context.Context, call *sip.Call, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-call.Done():
		return fmt.Errorf("the call ended: %w", call.Err())
	case <-ctx.Done():
		return ctx.Err()
	}
}

// askReport asks the far end for what it heard, in the dialog, page by
// page (phone_report.go), waiting for each page at most wait; pageMax
// bounds each page's keys in bytes.
func askReport(ctx context.Context, call *sip.Call, plan string, cases, pageMax int, wait time.Duration) (farReport, error) {
	hint := " (is the far end denwa phone --report? On a path that drops in-dialog requests use its --report-file and --far-report)"
	var all farReport
	for {
		body, _ := json.Marshal(reportRequest{Request: "report", Plan: plan, Cases: cases, From: len(all.Heard), MaxBytes: pageMax})
		pctx, cancel := context.WithTimeout(ctx, wait)
		res, err := call.Request(pctx, "INFO", reportRequestType, body)
		cancel()
		if err != nil {
			return farReport{}, fmt.Errorf("%w%s", err, hint)
		}
		if res.Status != 200 {
			return farReport{}, fmt.Errorf("the request for it was answered %d %s%s", res.Status, res.Reason, hint)
		}
		if mediaType(res.ContentType) != reportType {
			return farReport{}, fmt.Errorf("the answer is %q, not %s%s", res.ContentType, reportType, hint)
		}
		page, err := parseFarReport(res.Body)
		if err != nil {
			return farReport{}, err
		}
		if page.From != len(all.Heard) {
			return farReport{}, fmt.Errorf("%w: asked for keys from %d, got a page from %d", errBadReport, len(all.Heard), page.From)
		}
		heard := append(all.Heard, page.Heard...)
		all, all.Heard = page, heard
		if len(all.Heard) >= page.Total {
			all.From, all.Total = 0, len(all.Heard)
			return all, nil
		}
		if len(page.Heard) == 0 {
			return farReport{}, fmt.Errorf("%w: an empty page at %d of %d keys", errBadReport, page.From, page.Total)
		}
	}
}

// readFarReport waits up to wait for the report file of our call (or, when
// a B2BUA changed the Call-ID, the final report of a call written after
// ours began) and reads it.
func readFarReport(ctx context.Context, name, callID string, since time.Time, wait time.Duration) (farReport, error) {
	deadline := time.Now().Add(wait)
	var last error
	for {
		if st, err := os.Stat(name); err != nil {
			last = err
		} else if st.Size() > maxReportBytes {
			return farReport{}, fmt.Errorf("%s: %w: larger than %d bytes", name, errBadReport, maxReportBytes)
		} else if b, err := os.ReadFile(name); err != nil {
			last = err
		} else if rep, err := parseFarReport(b); err != nil {
			return farReport{}, fmt.Errorf("%s: %w", name, err)
		} else if rep.Final && (rep.CallID == callID || st.ModTime().After(since)) {
			return rep, nil
		} else {
			last = fmt.Errorf("%s holds no final report of this call (call %q)", name, rep.CallID)
		}
		if time.Now().After(deadline) {
			return farReport{}, last
		}
		select {
		case <-ctx.Done():
			return farReport{}, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
