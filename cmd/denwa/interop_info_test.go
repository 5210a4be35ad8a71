package main

import (
	"strings"
	"testing"

	"denwa/cmd/denwa/internal/config"
	"denwa/sip/siptest/peers"
)

// TestInteropLinphoneInfo: linphonec presses # as SIP INFO (use_info=1,
// use_rfc2833=0) after it answers, straight to the phone and through
// Kamailio (record-route: the INFO comes along the route set); the call
// verifies with the key from sip-info. (sip's TestInteropLinphoneInfoTwice:
// the same press sent as INFO and RFC 4733 is one key.)
func TestInteropLinphoneInfo(t *testing.T) {
	for _, viaKamailio := range []bool{false, true} {
		name := "direct"
		if viaKamailio {
			name = "kamailio"
		}
		t.Run(name, func(t *testing.T) {
			phone := peers.StartLinphone(t, peers.LinphoneConfig{Keys: "#", Mode: peers.Info})
			trunk := phone.URI()
			if viaKamailio {
				trunk = peers.StartKamailio(t, peers.KamailioConfig{Target: phone.URI()}).URI("udp")
			}
			rep := interopCall(t, "", "#", config.PortRange{}, "--trunk", trunk)
			keys := 0
			for _, e := range rep.Timeline {
				if e.What == "key" {
					keys++
					if !strings.HasSuffix(e.Detail, "sip-info") {
						t.Errorf("key %q: want sip-info", e.Detail)
					}
				}
			}
			if keys != 1 {
				t.Errorf("%d keys in the timeline, want 1: %+v", keys, rep.Timeline)
			}
		})
	}
}
