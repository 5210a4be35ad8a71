package sip

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"denwa/sip/siptest/peers"
)

// addressingDialer is a Dialer with Bind left unspecified, the default
// that makes it choose its address by the route to the first hop.
func addressingDialer(t *testing.T, cfg Config) *Dialer {
	t.Helper()
	cfg.RTPPortFirst, cfg.RTPPortLast = rtpRange()
	cfg.Logger = testLogger(t)
	d, err := NewDialer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// verifyCall places a call through d to a phone that presses # and then
// hangs up: the key must arrive (RTP both ways) and so must the phone's
// BYE (sent to our Contact).
func verifyCall(t *testing.T, d *Dialer, calls chan PhoneCall) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	keys := newKeys()
	call, err := d.Dial(ctx, "+81312345678", nil, keys)
	if err != nil {
		t.Fatal(err)
	}
	if got := collectKeys(call, keys, 1, 5*time.Second); got != "#" {
		t.Errorf("keys %q, want #", got)
	}
	select {
	case <-call.Done():
	case <-ctx.Done():
		t.Fatal("the phone's BYE never arrived")
	}
	if pc := waitPhone(t, calls); pc.KeysSent != "#" {
		t.Errorf("phone: %+v", pc)
	}
}

// TestOutboundProxyAddressing: the trunk's name resolves nowhere but at
// the outbound proxy; the dialer, bound to the unspecified address, takes
// its Via/Contact/SDP address from the route to the proxy (127.0.0.1), and
// the call goes through. (A phone plays the proxy: it answers the INVITE
// that carries the Route.)
func TestOutboundProxyAddressing(t *testing.T) {
	for _, network := range []string{"udp", "tcp"} {
		t.Run(network, func(t *testing.T) {
			proxy, calls := newTestPhone(t, PhoneConfig{Network: network, Keys: "#", KeyDelay: 100 * time.Millisecond, HangupAfter: 800 * time.Millisecond})
			d := addressingDialer(t, Config{Trunk: "sip:pbx.invalid;transport=" + network, OutboundProxy: proxy.URI()})
			if d.viaHost != "127.0.0.1" || d.contact.Address.Host != "127.0.0.1" || !d.local.Addr().IsUnspecified() {
				t.Fatalf("via %s, contact %s, bound %s; want 127.0.0.1 on an unspecified bind", d.viaHost, d.contact.Address.Host, d.local)
			}
			verifyCall(t, d, calls)
		})
	}
}

// TestIPv6Trunk: a trunk at [::1] gets an IPv6 listener, Via and Contact
// with ::1 and an SDP offer with c=IN IP6; the call runs over ::1 with RTP
// both ways, over UDP and TCP.
func TestIPv6Trunk(t *testing.T) {
	if err := peers.Loopback6(); err != nil {
		t.Skip(err)
	}
	for _, network := range []string{"udp", "tcp"} {
		t.Run(network, func(t *testing.T) {
			phone, calls := newTestPhone(t, PhoneConfig{Network: network, Listen: "[::1]:0", Keys: "#", KeyDelay: 100 * time.Millisecond, HangupAfter: 800 * time.Millisecond})
			if !strings.HasPrefix(phone.URI(), "sip:[::1]:") {
				t.Fatalf("phone URI %s", phone.URI())
			}
			d := addressingDialer(t, Config{Trunk: phone.URI()})
			if d.viaHost != "::1" || d.contact.Address.Host != "::1" || d.local.Addr() != netip.IPv6Unspecified() {
				t.Fatalf("via %s, contact %s, bound %s; want ::1 on [::]", d.viaHost, d.contact.Address.Host, d.local)
			}
			if c := d.contact.Address.String(); !strings.HasPrefix(c, "sip:denwa@[::1]:") {
				t.Errorf("Contact %s", c)
			}
			conn, err := d.pool.Acquire()
			if err != nil {
				t.Fatal(err)
			}
			offer, err := d.buildOffer(conn)
			conn.Close()
			if err != nil || !strings.Contains(string(offer), "c=IN IP6 ::1\r\n") {
				t.Fatalf("offer %v:\n%s", err, offer)
			}
			verifyCall(t, d, calls)
		})
	}
}
