package sip_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"denwa/media"
	"denwa/sip"
	"denwa/sip/siptest"
)

// No SRTP key appears in the dialer's log (debug level), in its errors,
// or when its config, the call or the negotiated media are formatted with
// %v, %+v, %#v or slog; and a dialer with SRTP over udp warns at start
// that the keys cross in clear. The far end is scripted, so the test
// knows every key: the offer's, read from the INVITE, and the answer's.
func TestSRTPKeysNotLogged(t *testing.T) {
	theirKey := base64.StdEncoding.EncodeToString([]byte("far-end-key-0123456789abcdefgh")) // 30 bytes
	var mu sync.Mutex
	var offer []byte
	uas := siptest.NewScriptedUAS(t, invites(func(req *siptest.Request) [][]byte {
		mu.Lock()
		offer = bytes.Clone(req.Body())
		mu.Unlock()
		body := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
			"m=audio 9 RTP/SAVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n" +
			"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" + theirKey + "|2^31\r\na=sendrecv\r\n"
		return [][]byte{ok200(req, body, "Content-Type: application/sdp")}
	}))
	var logs sip.SyncBuffer
	log := newBufferLogger(&logs)
	cfg := sip.Config{Trunk: "sip:" + uas.Addr().String(), Bind: "127.0.0.1:0",
		RingTimeout: hostileTimeout, InviteTimeout: hostileTimeout, SRTP: media.SRTPRequired, Logger: log}
	d, err := sip.NewDialer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	call, err := d.Dial(ctx, "+81312345678", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	neg := call.Media()
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		fmt.Fprintf(&out, verb+"|"+verb+"|"+verb+"|"+verb+"\n", call, neg, &neg, cfg)
	}
	slog.New(slog.NewJSONHandler(&out, nil)).Info("call", "call", call, "media", neg, "config", cfg)
	log.Info("call", "call", call, "media", neg, "srtp", neg.SRTP)
	if err := call.Hangup(ctx); err != nil {
		t.Errorf("Hangup: %v", err)
	}
	d.Close()
	mu.Lock()
	var secrets []string
	for _, l := range strings.Split(string(offer), "\r\n") {
		if _, v, ok := strings.Cut(l, "inline:"); ok {
			secrets = append(secrets, v)
		}
	}
	mu.Unlock()
	if len(secrets) != 2 {
		t.Fatalf("the offer holds %d keys, want 2:\n%s", len(secrets), offer)
	}
	secrets = append(secrets, theirKey)
	all := out.String() + logs.String()
	for _, s := range secrets {
		if strings.Contains(all, s) {
			t.Fatalf("an SRTP key was printed:\n%s", all)
		}
	}
	if !strings.Contains(all, "SRTP AES_CM_128_HMAC_SHA1_80") {
		t.Errorf("the suite is not shown:\n%s", all)
	}
	if !strings.Contains(logs.String(), "level=WARN msg=\"SRTP keys (SDES) travel in the SIP messages") {
		t.Errorf("no warning that the keys cross in clear:\n%s", logs.String())
	}
}

// newBufferLogger logs at debug level into b.
func newBufferLogger(b *sip.SyncBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
