package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"

	"denwa/audio"
	"denwa/cmd/denwa/internal/config"
	"denwa/enroll"
	"denwa/sip"
	"denwa/sip/siptest"
)

// Calls through a bad network: a siptest.Relay between denwa's dialer and
// the simulated phone impairs the RTP of both directions, and every call
// runs the verification dialogue as `denwa call` does. A call passes when
// it ends verified and the dialogue saw exactly the keys the phone
// pressed, ignored ones included: no key lost, split or doubled.

// impairCondition is one network condition, applied to both directions.
type impairCondition struct {
	name string
	imp  siptest.Impairment
}

var impairConditions = []impairCondition{
	{"10% loss", siptest.Impairment{Loss: 0.10}},
	{"20% loss in bursts of 2", siptest.Impairment{Loss: 0.20, Burst: 2}},
	{"10% reorder", siptest.Impairment{Reorder: 0.10}},
	{"0-60 ms jitter", siptest.Impairment{Jitter: 60 * time.Millisecond}},
	{"mix", siptest.Impairment{Loss: 0.05, Reorder: 0.05, Duplicate: 0.05, Jitter: 40 * time.Millisecond}},
}

// impairMode is how the phone presses its keys.
type impairMode struct {
	name string
	mode sip.KeyMode
	keys string
}

var impairModes = []impairMode{
	{"in-band", sip.KeyInband, "*#"}, // an analog line: * switches it to tones
	{"rfc4733", sip.KeyRFC4733, "#"},
}

// impairHangup ends a call soon after the phone's keys: the phone hangs
// up this long after its last key (KeyDelay 500 ms, then 120 ms tones
// 200 ms apart, however late a loaded machine runs them). The outcome was
// decided by then, and a hang-up during the final prompt leaves it as it
// is (enroll.Dialogue.Run); the success prompt it cuts short would add 3 s
// to each call. (Ending calls by a short media timeout instead failed
// calls whose phone a loaded CI machine paused for a second.)
const impairHangup = time.Second

// impairSlots bounds the calls at once; each slot has its own phones,
// dialer RTP range and phone RTP range, and runs one call at a time. (With
// 20 at once under -race on a busy CI machine one in-band key of 400 was
// lost at 10% loss, likely packets of a CPU-starved sender arriving later
// than the jitter buffer waits; not proven.)
const impairSlots = 10

// impairSlot is one call's worth of resources, reused call after call.
type impairSlot struct {
	dialerPorts config.PortRange
	phonePorts  config.PortRange
	phones      map[sip.KeyMode]*impairPhone
}

// impairPhone is a slot's phone for one key mode and the reports of its
// calls.
type impairPhone struct {
	*sip.Phone
	calls chan sip.PhoneCall
}

// impairPool hands out slots to the calls of all the tests running; the
// test that made it closes their phones when it ends.
type impairPool struct {
	slots chan *impairSlot
	n     int
	// short: the phones hang up impairHangup after their keys; otherwise
	// the call runs to its end.
	short bool
}

// hangup is the phones' PhoneConfig.HangupAfterKeys.
func (p *impairPool) hangup() time.Duration {
	if p.short {
		return impairHangup
	}
	return 0
}

func newImpairPool(t *testing.T, n int, short bool) *impairPool {
	p := &impairPool{slots: make(chan *impairSlot, n), n: n, short: short}
	for range n {
		p.slots <- &impairSlot{dialerPorts: portRange(), phonePorts: portRange(), phones: map[sip.KeyMode]*impairPhone{}}
	}
	t.Cleanup(func() {
		for range p.n {
			for _, ph := range (<-p.slots).phones {
				ph.Close()
			}
		}
	})
	return p
}

// impairResult is one call through the relay.
type impairResult struct {
	outcome enroll.Outcome
	cause   string
	heard   string // every key the dialogue saw, ignored ones included
	sent    string // what the phone pressed
	phone   string // how the call ended for the phone, and its error
	stats   siptest.RelayStats
	trace   string // the relay's trace of the phone's RTP (siptest.Relay.Trace)
	err     error  // the call could not be placed or reported
}

func (r impairResult) ok(want string) bool {
	return r.err == nil && r.outcome == enroll.OutcomeVerified && r.heard == want && r.sent == want
}

func (r impairResult) String() string {
	if r.err != nil {
		return r.err.Error()
	}
	s := fmt.Sprintf("%s heard %q pressed %q (phone: %s)", r.outcome, r.heard, r.sent, r.phone)
	if r.outcome != enroll.OutcomeVerified && r.cause != "" {
		s += " (" + r.cause + ")"
	}
	// The phone's RTP as it went through the relay, 20 ms a character
	// from its first packet: its keys are pressed from 0.5 s (the 25th).
	if tr := r.trace; tr != "" && strings.Trim(tr, ".") != "" {
		s += "; to denwa: " + tr[:min(len(tr), 60)]
	}
	return s
}

// call places one call through a new relay impairing both directions
// with imp, seeded with seed, to a slot's phone for mode m.
func (p *impairPool) call(t *testing.T, prompts *audio.Catalog, m impairMode, imp siptest.Impairment, seed uint64) impairResult {
	slot := <-p.slots
	defer func() { p.slots <- slot }()
	phone := slot.phones[m.mode]
	if phone == nil {
		calls := make(chan sip.PhoneCall, 1)
		ph, err := sip.NewPhone(sip.PhoneConfig{Listen: "127.0.0.1:0", Keys: m.keys, KeyMode: m.mode, HangupAfterKeys: p.hangup(),
			RTPPortFirst: slot.phonePorts.First, RTPPortLast: slot.phonePorts.Last, Calls: calls, Logger: newLogger(nil, false)})
		if err != nil {
			return impairResult{err: err}
		}
		phone = &impairPhone{Phone: ph, calls: calls}
		slot.phones[m.mode] = phone
	}
	relay, err := siptest.StartRelay(siptest.RelayConfig{Callee: phone.Addr(), ToCallee: imp, ToCaller: imp, Seed: seed})
	if err != nil {
		return impairResult{err: err}
	}
	defer relay.Close()
	d, err := sip.NewDialer(sip.Config{Trunk: relay.URI(), Bind: "127.0.0.1:0",
		RTPPortFirst: slot.dialerPorts.First, RTPPortLast: slot.dialerPorts.Last, RingTimeout: 5 * time.Second,
		Logger: newLogger(nil, false)})
	if err != nil {
		return impairResult{err: err}
	}
	defer d.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	rep := placeCall(ctx, d, prompts, enroll.DialogueConfig{}, "+81312345678", func(timelineEvent) {})
	res := impairResult{outcome: rep.Outcome, cause: rep.Cause}
	if rep.result != nil {
		for _, s := range rep.result.Timeline {
			if s.Kind == enroll.StepKey {
				res.heard += s.Key.String()
			}
		}
	}
	select {
	case pc := <-phone.calls:
		res.sent, res.phone = pc.KeysSent, pc.Outcome.String()
		if pc.Err != nil {
			res.phone += ": " + pc.Err.Error()
		}
	case <-time.After(15 * time.Second):
		res.err = fmt.Errorf("the phone reported no call (outcome %s, %s)", rep.Outcome, rep.Cause)
	}
	d.Close()
	relay.Close()
	res.stats = relay.Stats()
	res.trace = relay.Trace(0, siptest.Caller)
	return res
}

// impairRun places n calls of mode m through imp, seeds base+i, at most
// impairSlots at once (shared with every other run on the pool).
func (p *impairPool) run(t *testing.T, prompts *audio.Catalog, m impairMode, imp siptest.Impairment, base uint64, n int) []impairResult {
	res := make([]impairResult, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { res[i] = p.call(t, prompts, m, imp, base+uint64(i)) })
	}
	wg.Wait()
	return res
}

// impairSummary sums the relay's counts over results.
func impairSummary(res []impairResult) (siptest.ImpairStats, map[string]int) {
	var st siptest.ImpairStats
	reqs := map[string]int{}
	for _, r := range res {
		st = st.Add(r.stats.ToCaller).Add(r.stats.ToCallee)
		for k, v := range r.stats.Requests {
			reqs[k] += v
		}
	}
	return st, reqs
}

// TestImpairedCalls is the check: in-band *# and RFC 4733 #,
// 40 calls each through every condition; every call verified having
// heard exactly the keys pressed. The relay's counts show the impairment
// really happened.
func TestImpairedCalls(t *testing.T) {
	if testing.Short() {
		t.Skip("400 calls of about 2 s, 20 at a time (about 40 s)")
	}
	prompts, err := audio.LoadCatalog(nil)
	if err != nil {
		t.Fatal(err)
	}
	const calls = 40
	pool := newImpairPool(t, impairSlots, true)
	start := time.Now()
	// passed[condition][mode], for the summary when every subtest is
	// over; -1 for those that did not run.
	passed := make([][]int, len(impairConditions))
	for i := range passed {
		passed[i] = []int{-1, -1}
	}
	ran := 0
	var mu sync.Mutex
	t.Cleanup(func() {
		var b strings.Builder
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "condition\t"+impairModes[0].name+" "+impairModes[0].keys+"\t"+impairModes[1].name+" "+impairModes[1].keys)
		cell := func(n int) string {
			if n < 0 {
				return "-"
			}
			return fmt.Sprintf("%d/%d", n, calls)
		}
		for ci, c := range impairConditions {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", c.name, cell(passed[ci][0]), cell(passed[ci][1]))
		}
		tw.Flush()
		t.Logf("%d calls in %v, verified with exactly the keys pressed:\n%s", ran, time.Since(start).Round(time.Millisecond), b.String())
	})
	for ci, c := range impairConditions {
		for mi, m := range impairModes {
			t.Run(m.name+" "+m.keys+" "+c.name, func(t *testing.T) {
				t.Parallel()
				res := pool.run(t, prompts, m, c.imp, uint64(1000*(ci*len(impairModes)+mi)), calls)
				st, reqs := impairSummary(res)
				t.Logf("relay: %d packets, %d dropped, %d reordered, %d duplicated; SIP %v", st.Packets, st.Dropped, st.Reordered, st.Duplicated, reqs)
				checkImpaired(t, c.imp, st)
				// The phone hangs up (impairHangup), unless denwa did first.
				if reqs["ACK>callee"] < calls || reqs["BYE>caller"]+reqs["BYE>callee"] < calls {
					t.Errorf("ACK and BYE did not all go through the relay: %v", reqs)
				}
				var bad []string
				for i, r := range res {
					if !r.ok(m.keys) {
						bad = append(bad, fmt.Sprintf("call %d: %v", i, r))
					}
				}
				mu.Lock()
				passed[ci][mi] = calls - len(bad)
				ran += calls
				mu.Unlock()
				if len(bad) > 0 {
					t.Errorf("%d/%d calls verified with exactly %q heard; the others:\n%s", calls-len(bad), calls, m.keys, strings.Join(bad, "\n"))
				}
			})
		}
	}
}

// checkImpaired fails when the relay did not do what imp asks for.
func checkImpaired(t *testing.T, imp siptest.Impairment, st siptest.ImpairStats) {
	t.Helper()
	if st.Packets < 1000 {
		t.Fatalf("only %d RTP packets through the relay", st.Packets)
	}
	if imp.Loss > 0 {
		got := float64(st.Dropped) / float64(st.Packets)
		if got < imp.Loss*0.7 || got > imp.Loss*1.3 {
			t.Errorf("dropped %.3f of the packets, want about %.2f", got, imp.Loss)
		}
	}
	if (imp.Reorder > 0 || imp.Jitter > 20*time.Millisecond) && st.Reordered == 0 {
		t.Error("no packet reordered")
	}
	if imp.Duplicate > 0 && st.Duplicated == 0 {
		t.Error("no packet duplicated")
	}
	if st.Overflow > 0 {
		t.Errorf("%d packets overflowed the relay's queue", st.Overflow)
	}
}

// TestImpairRelayDialog: a call through the relay that denwa hangs up
// itself, after the success prompt: its INVITE, ACK and BYE reach the
// phone through the relay, and the RTP both ways too.
func TestImpairRelayDialog(t *testing.T) {
	prompts, err := audio.LoadCatalog(nil)
	if err != nil {
		t.Fatal(err)
	}
	pool := newImpairPool(t, 1, false)
	r := pool.call(t, prompts, impairModes[1], siptest.Impairment{}, 1)
	if !r.ok("#") {
		t.Fatalf("call: %v", r)
	}
	st := r.stats
	for _, k := range []string{"INVITE>callee", "ACK>callee", "BYE>callee"} {
		if st.Requests[k] != 1 {
			t.Errorf("%s: %d, want 1 (all: %v)", k, st.Requests[k], st.Requests)
		}
	}
	if st.Calls != 1 || st.ToCallee.Sent < 100 || st.ToCaller.Sent < 50 || st.ToCallee.Dropped+st.ToCaller.Dropped != 0 {
		t.Errorf("relay: %+v", st)
	}
}

// TestImpairSweep reports, for in-band *# and RFC 4733 #, the share of
// calls verified with exactly the keys pressed at each loss level, from 0
// to 50%. It runs only on demand (the table in docs/dtmf.md comes from
// it):
//
//	DENWA_IMPAIR_SWEEP=1 go test ./cmd/denwa -run TestImpairSweep -v -timeout 30m
//
// DENWA_IMPAIR_SWEEP_CALLS sets the calls per level and mode (default 20);
// DENWA_IMPAIR_SWEEP_BURST a burst length (default 1: independent losses).
func TestImpairSweep(t *testing.T) {
	if os.Getenv("DENWA_IMPAIR_SWEEP") == "" {
		t.Skip("on demand: DENWA_IMPAIR_SWEEP=1")
	}
	prompts, err := audio.LoadCatalog(nil)
	if err != nil {
		t.Fatal(err)
	}
	calls := envInt(t, "DENWA_IMPAIR_SWEEP_CALLS", 20)
	burst := envInt(t, "DENWA_IMPAIR_SWEEP_BURST", 1)
	pool := newImpairPool(t, impairSlots, true)
	levels := []int{0, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50}
	passed := make([][]int, len(levels))
	fails := make([][]string, len(levels))
	var mu sync.Mutex
	start := time.Now()
	var wg sync.WaitGroup
	for li, pct := range levels {
		passed[li] = make([]int, len(impairModes))
		fails[li] = make([]string, len(impairModes))
		for mi, m := range impairModes {
			wg.Go(func() {
				imp := siptest.Impairment{Loss: float64(pct) / 100, Burst: burst}
				res := pool.run(t, prompts, m, imp, uint64(100000+1000*(li*len(impairModes)+mi)), calls)
				n := 0
				var seen []string
				for _, r := range res {
					if r.ok(m.keys) {
						n++
					} else if s := r.outcome.String() + " " + r.heard; !slices.Contains(seen, s) {
						seen = append(seen, s)
					}
				}
				mu.Lock()
				passed[li][mi], fails[li][mi] = n, strings.Join(seen, ", ")
				mu.Unlock()
			})
		}
	}
	wg.Wait()
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "loss\tin-band *#\tRFC 4733 #\tfailures (in-band; RFC 4733)\n")
	for li, pct := range levels {
		fmt.Fprintf(tw, "%d%%\t%d/%d\t%d/%d\t%s; %s\n", pct, passed[li][0], calls, passed[li][1], calls, fails[li][0], fails[li][1])
	}
	tw.Flush()
	t.Logf("burst %d, %d calls per cell, %v:\n%s", burst, calls, time.Since(start).Round(time.Second), b.String())
}
