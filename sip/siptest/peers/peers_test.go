package peers_test

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"denwa/media/mediatest"
	"denwa/sip/siptest/peers"
)

// TestKamailioStarts: every optional part of the configuration (registrar
// with digest, TLS, rtpengine) is accepted by Kamailio, which then
// answers sipsak's OPTIONS over UDP. (REGISTER itself is exercised by the
// tests of denwa's registration; sipsak's usrloc mode writes a broken Via
// after a challenge.)
func TestKamailioStarts(t *testing.T) {
	sipsak := mediatest.RequireTool(t, "sipsak")
	k := peers.StartKamailio(t, peers.KamailioConfig{Registrar: true, RequireRegistered: true,
		Auth: &peers.Auth{User: "denwa", Password: "reg-pw-3", Algorithm: "SHA-256"},
		TLS:  peers.NewCA(t, "peers test CA"), RTPEngine: peers.StartRTPEngine(t)})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, sipsak, "-vv", "-H", "127.0.0.1", "-s", k.URI("udp")).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "SIP/2.0 200 OK") {
		t.Fatalf("OPTIONS: %v\n%s", err, out)
	}
}
