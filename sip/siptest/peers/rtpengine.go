package peers

import (
	"fmt"
	"net/netip"
	"os/exec"
	"testing"

	"denwa/media/mediatest"
)

// RTPEngine is a running rtpengine (userspace only, no kernel table): a
// media relay Kamailio drives over its ng control port.
type RTPEngine struct {
	*Proc
	// NG is the ng control address (UDP).
	NG netip.AddrPort
	// PortMin and PortMax bound the media ports it relays on.
	PortMin, PortMax int
}

// StartRTPEngine runs rtpengine on 127.0.0.1 until the test ends, relaying
// media on a free range of 20 ports.
func StartRTPEngine(t testing.TB) *RTPEngine {
	t.Helper()
	bin := mediatest.RequireTool(t, "rtpengine")
	lo := netip.MustParseAddr("127.0.0.1")
	r := &RTPEngine{NG: netip.AddrPortFrom(lo, uint16(FreePort(t, lo, 0)))}
	r.PortMin = FreePort(t, lo, 19)
	r.PortMax = r.PortMin + 19
	cmd := exec.Command(bin, "--table=-1", "--foreground", "--log-stderr", "--log-level=6",
		"--interface=127.0.0.1", "--listen-ng="+r.NG.String(),
		fmt.Sprintf("--port-min=%d", r.PortMin), fmt.Sprintf("--port-max=%d", r.PortMax),
		"--config-file=none")
	cmd.Dir = t.TempDir()
	r.Proc = start(t, "rtpengine", cmd)
	r.waitPorts(t, []netip.AddrPort{r.NG}, nil)
	return r
}
