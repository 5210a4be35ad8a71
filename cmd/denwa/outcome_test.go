package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"denwa/audio"
	"denwa/enroll"
	"denwa/sip"
	"denwa/sip/siptest"
)

// The outcome says what the person did when the line ends under the
// dialogue, through real SIP and RTP with the shipped prompts: a wrong key
// and then a dead line is wrong-input, a dead line with no key and a
// hang-up at any moment are hung-up. failed is for denwa's own faults, so
// none of these may give it.

// lineEndCall places one call to a simulated phone configured by pc through
// a dialer whose media timeout is mediaTimeout, runs the dialogue and
// returns its report.
func lineEndCall(t *testing.T, prompts *audio.Catalog, pc sip.PhoneConfig, mediaTimeout time.Duration) *callReport {
	t.Helper()
	r := portRange()
	pc.RTPPortFirst, pc.RTPPortLast = r.First, r.Last
	phone := siptest.NewPhone(t, pc)
	dr := portRange()
	d, err := sip.NewDialer(sip.Config{Trunk: "sip:" + phone.Addr().String(), Bind: "127.0.0.1:0",
		RTPPortFirst: dr.First, RTPPortLast: dr.Last, RingTimeout: 5 * time.Second, MediaTimeout: mediaTimeout,
		Logger: newLogger(nil, false)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	return placeCall(ctx, d, prompts, enroll.DialogueConfig{}, "+81312345678", func(timelineEvent) {})
}

func TestCallLineGoesDead(t *testing.T) {
	prompts, err := audio.LoadCatalog(nil)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		keys    string
		outcome enroll.Outcome
	}{
		{"after a wrong key", "1", enroll.OutcomeWrongInput},
		{"after a wrong sequence ended by #", "1#", enroll.OutcomeWrongInput},
		{"with no key", "", enroll.OutcomeHungUp},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			rep := lineEndCall(t, prompts, sip.PhoneConfig{Keys: c.keys, KeyDelay: 300 * time.Millisecond, QuietAfterKeys: true}, time.Second)
			if rep.Outcome != c.outcome || !strings.Contains(rep.Cause, "media timeout") {
				t.Fatalf("outcome %s, cause %q; want %s with cause media timeout", rep.Outcome, rep.Cause, c.outcome)
			}
		})
	}
}

// TestCallHangupAnyMoment: the far end's BYE lands at a random moment of
// the dialogue (the answer, the greeting starting, mid-prompt, between
// prompts), for many calls at once: each ends hung-up.
func TestCallHangupAnyMoment(t *testing.T) {
	prompts, err := audio.LoadCatalog(nil)
	if err != nil {
		t.Fatal(err)
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rnd := rand.New(rand.NewPCG(seed, 0))
	const calls = 24
	for i := range calls {
		// Half within the first 100 ms (the answer and the greeting's
		// start, where the race was), the rest over the greeting and the
		// first repeats.
		after := time.Millisecond + time.Duration(rnd.Int64N(int64(100*time.Millisecond)))
		if i%2 == 1 {
			after = time.Duration(rnd.Int64N(int64(8 * time.Second)))
		}
		t.Run(fmt.Sprintf("%d-%v", i, after.Round(time.Millisecond)), func(t *testing.T) {
			t.Parallel()
			rep := lineEndCall(t, prompts, sip.PhoneConfig{HangupAfter: max(after, time.Millisecond)}, 30*time.Second)
			if rep.Outcome != enroll.OutcomeHungUp {
				t.Fatalf("BYE %v after the answer: outcome %s, cause %q; want hung-up", after, rep.Outcome, rep.Cause)
			}
		})
	}
}
