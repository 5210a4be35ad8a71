package sip

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"denwa/audio"
	"denwa/media"
)

// TestLoopEnds: how an answered call ends, against the in-process Phone.
func TestLoopEnds(t *testing.T) {
	cases := []struct {
		name  string
		phone PhoneConfig
		cfg   Config
		want  error
		po    PhoneOutcome
	}{
		{"phone-hangs-up", PhoneConfig{HangupAfter: 500 * time.Millisecond}, Config{}, ErrRemoteHangup, PhoneHungUp},
		{"silent-media-timeout", PhoneConfig{Silent: true}, Config{MediaTimeout: 700 * time.Millisecond}, media.ErrMediaTimeout, PhoneCallerHungUp},
		{"max-duration", PhoneConfig{}, Config{MaxDuration: 700 * time.Millisecond}, ErrMaxDuration, PhoneCallerHungUp},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			phone, calls := newTestPhone(t, tc.phone)
			tc.cfg.Trunk = phone.URI()
			d := newTestDialer(t, tc.cfg)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			call := dial(ctx, t, d)
			if err := waitEnded(t, call, 5*time.Second); !errors.Is(err, tc.want) {
				t.Errorf("Err %v, want %v", err, tc.want)
			}
			if pc := waitPhone(t, calls); pc.Outcome != tc.po {
				t.Errorf("phone outcome %v, want %v", pc.Outcome, tc.po)
			}
			if n := d.pool.InUse(); n != 0 {
				t.Errorf("%d ports in use", n)
			}
		})
	}
}

// TestLoopRefused: the Phone's Status and User filters become CallErrors.
func TestLoopRefused(t *testing.T) {
	cases := []struct {
		name  string
		phone PhoneConfig
		kind  FailureKind
	}{
		{"busy", PhoneConfig{Status: 486, RingFor: 100 * time.Millisecond}, Busy},
		{"decline", PhoneConfig{Status: 603}, Rejected},
		{"wrong-user", PhoneConfig{User: "0399999999"}, Unreachable},
		{"no-common-codec", PhoneConfig{Codecs: []media.PayloadKind{media.KindPCMA}}, NoCommonCodec},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			phone, calls := newTestPhone(t, tc.phone)
			d := newTestDialer(t, Config{Trunk: phone.URI(), Codecs: []media.PayloadKind{media.KindPCMU}})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err := d.Dial(ctx, "+81312345678", nil, nil)
			var ce *CallError
			if !errors.As(err, &ce) || ce.Kind != tc.kind {
				t.Fatalf("err %v, want kind %v", err, tc.kind)
			}
			waitPhone(t, calls)
			if n := d.pool.InUse(); n != 0 {
				t.Errorf("%d ports in use", n)
			}
		})
	}
}

// TestDialRingTimeoutPhone: the Phone rings forever; ring timeout → CANCEL.
func TestDialRingTimeoutPhone(t *testing.T) {
	phone, calls := newTestPhone(t, PhoneConfig{RingFor: -1})
	d := newTestDialer(t, Config{Trunk: phone.URI(), RingTimeout: time.Second})
	_, err := d.Dial(context.Background(), "+81312345678", nil, nil)
	var ce *CallError
	if !errors.As(err, &ce) || ce.Kind != NoAnswer {
		t.Fatalf("err %v, want NoAnswer", err)
	}
	if pc := waitPhone(t, calls); pc.Outcome != PhoneCancelled {
		t.Errorf("phone outcome %v", pc.Outcome)
	}
}

// TestDialNoResponse: nothing listens; the INVITE timeout gives Unreachable.
func TestDialNoResponse(t *testing.T) {
	d := newTestDialer(t, Config{Trunk: "sip:127.0.0.1:9", InviteTimeout: 600 * time.Millisecond})
	_, err := d.Dial(context.Background(), "+81312345678", nil, nil)
	var ce *CallError
	if !errors.As(err, &ce) || ce.Kind != Unreachable {
		t.Fatalf("err %v, want Unreachable", err)
	}
}

func TestConfigErrors(t *testing.T) {
	bad := []Config{
		{},
		{Trunk: "not a uri"},
		{Trunk: "sip:pbx", Transport: "sctp"},
		{Trunk: "sip:pbx", Bind: "nope"},
		{Trunk: "sip:pbx", EventPT: 13},
		{Trunk: "sip:pbx", RingTimeout: -1},
		{Trunk: "sip:pbx", DialPlan: DialPlan{{Match: "x"}}},
		{Trunk: "sip:pbx", Codecs: []media.PayloadKind{media.KindTelephoneEvent}},
	}
	for i, c := range bad {
		if _, err := c.setup(); !errors.Is(err, ErrConfig) {
			t.Errorf("%d: %v: err %v", i, c, err)
		}
	}
	badPhone := []PhoneConfig{
		{Network: "sctp"},
		{Listen: "nope"},
		{Listen: "0.0.0.0:0"}, // no address for the SDP
		{Status: 200},
		{Keys: "x"},
		{KeyDelay: -1},
		{EventPT: 13},
		{RTPPortFirst: 5000, RTPPortLast: 4000},
		{RTPPortLast: 70000},
		{Digits: [10]*audio.Prompt{1: {}}},        // all ten or none: Digits[0] missing
		{Digits: [10]*audio.Prompt{0: {}, 9: {}}}, // Digits[1] missing
		{Keys: "{code}#", Digits: [10]*audio.Prompt{3: {}}}, // not none for {code}, not all ten either
	}
	for i, c := range badPhone {
		if _, err := c.setup(); !errors.Is(err, ErrConfig) {
			t.Errorf("phone %d: %+v: err %v", i, c, err)
		}
	}
	var pc PhoneConfig
	if _, err := pc.setup(); err != nil || pc.Network != "udp" || pc.RTPPortFirst != DefaultPhoneRTPPortFirst || pc.RTPPortLast != DefaultPhoneRTPPortLast {
		t.Errorf("zero PhoneConfig: %+v, %v", pc, err)
	}
	s := Config{Trunk: "sip:pbx", Password: "hunter2"}.String()
	if want := "<redacted>"; !strings.Contains(s, want) || strings.Contains(s, "hunter2") {
		t.Errorf("String %s", s)
	}
}

// TestRemoteByeAnyMoment: the far end hangs up about 40 ms after the
// answer while the caller starts a prompt 0–80 ms after Dial returns, so
// the BYE lands before Play, as Play starts and while it plays. Every
// time, Play returns ErrRemoteHangup (never the media session's
// closing) with Done already closed and Err the same, Hangup afterwards
// returns nil, and the phone saw its own BYE end the call.
func TestRemoteByeAnyMoment(t *testing.T) {
	const rounds = 40
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 10))
	t.Logf("seed %d", seed)
	phone, calls := newTestPhone(t, PhoneConfig{HangupAfter: 40 * time.Millisecond})
	d := newTestDialer(t, Config{Trunk: phone.URI()})
	frames := slices.Repeat([][]byte{make([]byte, media.FrameSamples)}, 100) // 2 s of silence
	for i := range rounds {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		call := dial(ctx, t, d)
		delay := time.Duration(rng.Int64N(int64(80 * time.Millisecond)))
		time.Sleep(delay) // where the prompt starts relative to the BYE
		err := call.Play(ctx, frames)
		if !errors.Is(err, ErrRemoteHangup) || errors.Is(err, media.ErrSessionClosed) {
			t.Errorf("round %d (Play after %v): Play returned %v, want %v", i, delay, err, ErrRemoteHangup)
		}
		select {
		case <-call.Done():
		default:
			t.Errorf("round %d: Play returned %v before Done was closed", i, err)
		}
		if err := call.Err(); !errors.Is(err, ErrRemoteHangup) {
			t.Errorf("round %d: Err %v, want %v", i, err, ErrRemoteHangup)
		}
		if err := call.Hangup(ctx); err != nil {
			t.Errorf("round %d: Hangup after the far end's BYE: %v", i, err)
		}
		if pc := waitPhone(t, calls); pc.Outcome != PhoneHungUp || pc.Err != nil {
			t.Errorf("round %d: phone saw %v (%v), want %v", i, pc.Outcome, pc.Err, PhoneHungUp)
		}
		cancel()
	}
	if n := d.pool.InUse(); n != 0 {
		t.Errorf("%d RTP ports in use", n)
	}
}

// TestDefaultRTPRanges: the default ranges hold at least 4,000 calls each
// (one even port per call), and the Dialer's and the Phone's do not
// overlap, so both run on one machine.
func TestDefaultRTPRanges(t *testing.T) {
	for _, r := range [][2]int{{DefaultRTPPortFirst, DefaultRTPPortLast}, {DefaultPhoneRTPPortFirst, DefaultPhoneRTPPortLast}} {
		pool, err := media.NewPortPool(netip.MustParseAddr("127.0.0.1"), r[0], r[1])
		if err != nil {
			t.Fatal(err)
		}
		if pool.Size() < 4000 {
			t.Errorf("%v holds %d calls, want at least 4000", pool, pool.Size())
		}
	}
	if DefaultRTPPortLast >= DefaultPhoneRTPPortFirst && DefaultPhoneRTPPortLast >= DefaultRTPPortFirst {
		t.Errorf("the Dialer's RTP range %d–%d overlaps the Phone's %d–%d", DefaultRTPPortFirst, DefaultRTPPortLast, DefaultPhoneRTPPortFirst, DefaultPhoneRTPPortLast)
	}
}

// TestPhoneCloseWhileRinging: closing a Phone ends a call that would ring
// forever, at once; the caller then gives up on its own ring timeout (over
// tcp, whose closed connection fails its CANCEL at once instead of leaving
// it to wait for a 487).
func TestPhoneCloseWhileRinging(t *testing.T) {
	phone, calls := newTestPhone(t, PhoneConfig{RingFor: -1, Network: "tcp"})
	d := newTestDialer(t, Config{Trunk: phone.URI(), RingTimeout: time.Second})
	ringing := make(chan struct{})
	var once sync.Once
	dialed := make(chan error, 1)
	go func() {
		_, err := d.Dial(t.Context(), "+81312345678", func(p Progress) {
			if p.Kind == Ringing {
				once.Do(func() { close(ringing) })
			}
		}, nil)
		dialed <- err
	}()
	select {
	case <-ringing:
	case <-time.After(5 * time.Second):
		t.Fatal("no ringing")
	}
	start := time.Now()
	if err := phone.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if took := time.Since(start); took > 500*time.Millisecond {
		t.Errorf("Close took %v with a call ringing", took)
	}
	if pc := waitPhone(t, calls); pc.Outcome != PhoneCancelled {
		t.Errorf("phone outcome %v, want %v", pc.Outcome, PhoneCancelled)
	}
	var ce *CallError
	if err := <-dialed; !errors.As(err, &ce) {
		t.Errorf("Dial: %v, want a *CallError", err)
	}
}
