package sip

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"denwa/sip/siptest/peers"
)

// verifyCall places a call through d to a phone that presses # and then
// hangs up: the key must arrive (RTP both ways) and so must the phone's
// BYE (sent to our Contact).
func verifyCall(t *testing.T, d *Dialer, calls chan PhoneCall) {
	t.Helper()
	keys := newKeys()
	call, err := d.Dial(t.Context(), "+81312345678", nil, keys)
	if err != nil {
		t.Fatal(err)
	}
	got := collectKeys(call, keys, 1, 5*time.Second)
	if err := waitEnded(t, call, 5*time.Second); !errors.Is(err, ErrRemoteHangup) || got != "#" {
		t.Errorf("keys %q, end %v; want # and the phone's BYE", got, err)
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
			d := newTestDialer(t, Config{Trunk: "sip:pbx.invalid;transport=" + network, OutboundProxy: proxy.URI(), Bind: "0.0.0.0:0"})
			if d.viaHost != "127.0.0.1" || d.contact.Address.Host != "127.0.0.1" || !d.local.Addr().IsUnspecified() {
				t.Fatalf("via %s, contact %s, bound %s; want 127.0.0.1 on an unspecified bind", d.viaHost, d.contact.Address.Host, d.local)
			}
			verifyCall(t, d, calls)
		})
	}
}

// TestIPv6Trunk: a trunk at [::1], the dialer bound to [::]: Via and
// Contact with ::1 and an SDP offer with c=IN IP6; the call runs over ::1
// with RTP both ways, over UDP and TCP. (Without --bind, an IPv6 first hop
// gets the [::] listener by itself: cmd/denwa's TestCallIPv6.)
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
			d := newTestDialer(t, Config{Trunk: phone.URI(), Bind: "[::]:0"})
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
			_, local, _ := d.trunk.next()
			offer, err := d.buildOffer(conn, d.offerConfig(conn), local)
			conn.Close()
			if err != nil || !strings.Contains(string(offer), "c=IN IP6 ::1\r\n") {
				t.Fatalf("offer %v:\n%s", err, offer)
			}
			verifyCall(t, d, calls)
		})
	}
}
