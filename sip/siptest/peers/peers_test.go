package peers_test

import (
	"strings"
	"testing"

	"denwa/sip/siptest/peers"
)

// TestKamailioStarts: every optional part of the configuration (registrar
// with digest, TLS, rtpengine) is accepted by Kamailio, which then
// answers sipsak's OPTIONS over UDP. (REGISTER itself is left to the tests
// of denwa's registration: sipsak's usrloc mode writes a broken Via after
// a challenge.)
func TestKamailioStarts(t *testing.T) {
	k := peers.StartKamailio(t, peers.KamailioConfig{Registrar: true, RequireRegistered: true,
		Auth: &peers.Auth{User: "denwa", Password: "reg-pw-3", Algorithm: "SHA-256"},
		TLS:  peers.NewCA(t, "peers test CA"), RTPEngine: peers.StartRTPEngine(t)})
	if out, err := peers.Sipsak(t, "-vv", "-s", k.URI("udp")); err != nil || !strings.Contains(out, "SIP/2.0 200 OK") {
		t.Fatalf("OPTIONS: %v\n%s", err, out)
	}
}
