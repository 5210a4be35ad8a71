package sip_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"denwa/media"
	"denwa/sip"
	"denwa/sip/siptest/peers"
)

// TestInteropLinphoneSRTP: denwa, SRTP required, calls linphonec directly
// on loopback; linphonec demands SRTP (media_encryption=srtp, mandatory)
// and presses # as RFC 4733 inside the SRTP stream. The call must
// negotiate AES_CM_128_HMAC_SHA1_80 and the key arrive authenticated.
// Then SRTP optional against a linphonec that does not demand it.
// (linphonec's oRTP repeats the event's END packet with one sequence
// number: under SRTP the repeats are replays, dropped by the replay
// window, not authentication failures.)
func TestInteropLinphoneSRTP(t *testing.T) {
	for _, c := range []struct {
		name      string
		mode      media.SRTPMode
		mandatory string
		want      media.CryptoSuite
	}{
		{"required", media.SRTPRequired, "1", media.SuiteAES128SHA1_80},
		// Best-effort SRTP (RTP/AVP with a=crypto) to a linphonec that
		// prefers SRTP without demanding it: linphonec 5.1 ignores
		// a=crypto on RTP/AVP and answers plain RTP, and the call goes on
		// over it. (Demanding SRTP, it refuses RTP/AVP with 488.)
		{"optional-falls-back", media.SRTPOptional, "0", 0},
	} {
		t.Run(c.name, func(t *testing.T) { linphoneSRTP(t, c.mode, c.mandatory, c.want) })
	}
}

func linphoneSRTP(t *testing.T, mode media.SRTPMode, mandatory string, want media.CryptoSuite) {
	phone := peers.StartLinphone(t, peers.LinphoneConfig{Keys: "#", Mode: peers.RFC4733,
		Rc: map[string][]string{"sip": {"media_encryption=srtp", "media_encryption_mandatory=" + mandatory}}})
	var logs sip.SyncBuffer
	d, err := sip.NewDialer(sip.Config{Trunk: phone.URI(), Bind: "127.0.0.1:0", RingTimeout: 10 * time.Second,
		SRTP: mode, Logger: newBufferLogger(&logs)})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	keys := make(chan media.Key, 8)
	call, err := d.Dial(ctx, "+81312345678", nil, media.KeySinkFunc(func(k media.Key) {
		select {
		case keys <- k:
		default:
		}
	}))
	if err != nil {
		t.Fatalf("Dial: %v\nlinphonec:\n%s", err, phone.Output())
	}
	defer call.Hangup(context.Background())
	if s := call.Media().SRTP.Suite(); s != want {
		t.Errorf("SRTP suite %v, want %v", s, want)
	}
	select {
	case k := <-keys:
		if k.Key != '#' {
			t.Errorf("key %v, want #", k)
		}
		t.Logf("key %v from linphonec over %v", k, call.Media().SRTP)
	case <-call.Done():
		t.Fatalf("call ended before a key: %v\nlinphonec:\n%s", call.Err(), phone.Output())
	case <-ctx.Done():
		t.Fatalf("no key from linphonec in time\nlinphonec:\n%s\ndenwa:\n%s", phone.Output(), logs.String())
	}
	if err := call.Hangup(ctx); err != nil {
		t.Errorf("Hangup: %v", err)
	}
	if n := d.SRTPAuthFailures(); n != 0 {
		t.Errorf("%d SRTP packets from linphonec failed authentication", n)
	}
	if !strings.Contains(logs.String(), "SRTP keys (SDES) travel in the SIP messages") {
		t.Errorf("no clear-key warning over udp")
	}
}
