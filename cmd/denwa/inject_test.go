package main

import (
	"context"
	"net"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"denwa/audio"
	"denwa/enroll"
	"denwa/media/mediatest"
	"denwa/sip"
	"denwa/sip/siptest"
)

// TestInjectionNeverVerifies is the RTP injection attack on a verification
// call (RTP Bleed, CVE-2017-14099): while the phone rings and after it
// answers, a third party sprays # at every even port of the dialer's RTP
// range, as RFC 4733 events on payload types 101, 96, 100 and 127 and as
// in-band tones in PCMU, from another address (127.0.0.2) and from the
// phone's own address on another port. A phone that presses nothing is
// never verified: the dialogue hears no key and ends no-input, call after
// call, ports reused. A phone that presses # itself, with the sprayer
// still running, is verified. The verdicts are the real dialogue's
// (enroll.Dialogue over the sip call, as `denwa call` runs it).
func TestInjectionNeverVerifies(t *testing.T) {
	prompts, err := audio.LoadCatalog(nil)
	if err != nil {
		t.Fatal(err)
	}
	quiet, _ := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2)})
	if quiet == nil {
		t.Skip("127.0.0.2 is not bindable here (loopback is 127.0.0.0/8 on Linux)")
	}
	quiet.Close()

	// The phones ring for 600 ms, long enough for the sprayer to fill the
	// dialer's sockets, opened with the INVITE.
	silent := phoneOn(t, sip.PhoneConfig{RingFor: 600 * time.Millisecond})
	honest := phoneOn(t, sip.PhoneConfig{RingFor: 600 * time.Millisecond, Keys: "#", KeyDelay: 800 * time.Millisecond})
	attacked, attackedPorts := dialerTo(t, silent)
	control, controlPorts := dialerTo(t, honest)
	m := newMetrics()
	m.rtp(attacked)

	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	var targets []netip.AddrPort
	for _, r := range [][2]int{attackedPorts, controlPorts} {
		for p := r[0] + r[0]&1; p <= r[1]; p += 2 {
			targets = append(targets, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(p)))
		}
	}
	sp := startSprayer(t, ctx, targets, "127.0.0.2:0", "127.0.0.1:0")

	dlg, err := enroll.NewDialogue(enroll.DialogueConfig{GreetingRepeats: 1, PostGreetingWait: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	call := func(d *sip.Dialer) (enroll.Result, error) {
		line, err := dialLine(ctx, d, "+81312345678", nil, prompts)
		if err != nil {
			return enroll.Result{}, err
		}
		res := dlg.Run(ctx, line)
		line.Hangup(context.WithoutCancel(ctx))
		return res, nil
	}
	// Two rounds of two attacked calls at once (the second round on ports
	// the first one used), the control call with the second round.
	const rounds, perRound = 2, 2
	for round := range rounds {
		var wg sync.WaitGroup
		results := make([]enroll.Result, perRound+1)
		errs := make([]error, perRound+1)
		for i := range perRound {
			wg.Go(func() { results[i], errs[i] = call(attacked) })
		}
		if round == rounds-1 {
			wg.Go(func() { results[perRound], errs[perRound] = call(control) })
		}
		wg.Wait()
		for i := range perRound {
			res := results[i]
			if errs[i] != nil {
				t.Fatalf("round %d, call %d: %v", round, i, errs[i])
			}
			if res.Outcome != enroll.OutcomeNoInput || len(res.Keys()) != 0 {
				t.Errorf("round %d, attacked call %d: %v with keys %v, want no-input and no key", round, i, res.Outcome, res.Keys())
			}
		}
		if round == rounds-1 {
			res := results[perRound]
			if errs[perRound] != nil {
				t.Fatalf("control call: %v", errs[perRound])
			}
			if res.Outcome != enroll.OutcomeVerified {
				t.Errorf("control call (the phone pressed #): %v, want verified", res.Outcome)
			}
		}
	}
	if n := sp.sent.Load(); n < int64(len(targets))*1000 {
		t.Errorf("the sprayer sent only %d datagrams", n)
	}
	// The drops are counted and shown.
	rec := httptest.NewRecorder()
	m.handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	match := regexp.MustCompile(`(?m)^denwa_rtp_foreign_packets_total (\d+)$`).FindStringSubmatch(rec.Body.String())
	if match == nil {
		t.Fatalf("no denwa_rtp_foreign_packets_total in\n%s", rec.Body.String())
	}
	if n, _ := strconv.ParseInt(match[1], 10, 64); n < 100 || n != attacked.ForeignPackets() {
		t.Errorf("metric %q, dialer counted %d foreign packets", match[0], attacked.ForeignPackets())
	}
	t.Logf("sprayed %d datagrams at %d ports; the attacked dialer dropped %d as foreign", sp.sent.Load(), len(targets), attacked.ForeignPackets())
}

// phoneOn starts a simulated phone with its own RTP range.
func phoneOn(t *testing.T, pc sip.PhoneConfig) *siptest.Phone {
	r := portRange()
	pc.RTPPortFirst, pc.RTPPortLast = r.First, r.Last
	return siptest.NewPhone(t, pc)
}

// dialerTo returns a dialer whose trunk is phone, with a small RTP range
// of its own, and that range.
func dialerTo(t *testing.T, phone *siptest.Phone) (*sip.Dialer, [2]int) {
	r := portRange()
	d, err := sip.NewDialer(sip.Config{Trunk: "sip:" + phone.Addr().String(), Bind: "127.0.0.1:0",
		RTPPortFirst: r.First, RTPPortLast: r.Last, RingTimeout: 10 * time.Second, Logger: newLogger(nil, false)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d, [2]int{r.First, r.Last}
}

// sprayer sends # at targets from several sockets until ctx ends.
type sprayer struct {
	sent atomic.Int64
}

// startSprayer sends, every 5 ms, the next packet of an endless stream of
// # presses (RFC 4733 on payload types 101, 96, 100 and 127, then an
// in-band tone in PCMU, silence between) to every target from each local
// address in from. It stops with ctx or after two minutes, whichever is
// first; the test waits for it.
func startSprayer(t *testing.T, ctx context.Context, targets []netip.AddrPort, from ...string) *sprayer {
	sp := &sprayer{}
	var conns []*net.UDPConn
	for _, a := range from {
		c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.MustParseAddrPort(a)))
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		wg.Wait()
		for _, c := range conns {
			c.Close()
		}
	})
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(cancel)
	wg.Go(func() {
		tone := make([]int16, 8*200)
		mediatest.ToneTo(tone, 0, '#', -8, -6)
		s := &mediatest.Synth{SSRC: 0x5eed, Seq: 1, TS: 160}
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for i := 0; i < 24000; i++ { // two minutes of ticks at most
			if len(s.Packets) == 0 {
				// The next round of presses, on the same timeline.
				s.Silence(20)
				for _, pt := range []uint8{101, 96, 100, 127} {
					s.Press(pt, '#', 120)
					s.Silence(20)
				}
				s.Audio(tone)
			}
			p := s.Packets[0]
			s.Packets = s.Packets[1:]
			for _, c := range conns {
				for _, to := range targets {
					if _, err := c.WriteToUDPAddrPort(p, to); err == nil {
						sp.sent.Add(1)
					}
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	})
	return sp
}
