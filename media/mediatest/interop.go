package mediatest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// InteropEnv is the environment variable that turns skips for missing
// outside tools into failures (.ci/run sets it).
const InteropEnv = "DENWA_REQUIRE_INTEROP"

// RequireInterop skips the test with reason unless DENWA_REQUIRE_INTEROP=1,
// in which case it fails it: call it when something the test needs from the
// machine (a tool, root, a package) is missing.
func RequireInterop(t testing.TB, format string, args ...any) {
	t.Helper()
	reason := fmt.Sprintf(format, args...)
	if os.Getenv(InteropEnv) == "1" {
		t.Fatalf("%s (required because %s=1)", reason, InteropEnv)
	}
	t.Skipf("%s (set %s=1 to fail instead of skipping)", reason, InteropEnv)
}

// RequireTool returns the path of the named program on PATH. When it is
// missing the test is skipped with a clear message, or fails when
// DENWA_REQUIRE_INTEROP=1.
func RequireTool(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		RequireInterop(t, "%s is not on PATH (Debian: apt-get install %s)", name, debianPackage(name))
	}
	return path
}

// RequireRoot skips (or fails, see RequireInterop) unless the test runs as
// root, which sipp's play_pcap_audio needs for its raw socket.
func RequireRoot(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		RequireInterop(t, "not running as root, which %s needs", why)
	}
}

func debianPackage(tool string) string {
	switch tool {
	case "sipp":
		return "sip-tester"
	case "tshark", "dumpcap", "capinfos", "editcap":
		return "tshark"
	}
	return tool
}

// FreeUDPPorts returns an even UDP port on 127.0.0.1 whose next span ports
// are free too (sipp's -mp binds PORT and PORT+2), found by binding :0 and
// then each neighbour. Another process may still take one before the caller
// binds it; tests on loopback accept that small chance.
func FreeUDPPorts(t testing.TB, span int) int {
	t.Helper()
	for range 50 {
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := c.LocalAddr().(*net.UDPAddr).Port
		c.Close()
		if port%2 != 0 || port+span > 65535 {
			continue
		}
		ok := true
		for p := port + 1; p <= port+span; p++ {
			c2, err := net.ListenPacket("udp4", fmt.Sprintf("127.0.0.1:%d", p))
			if err != nil {
				ok = false
				break
			}
			c2.Close()
		}
		if ok {
			return port
		}
	}
	t.Fatal("no free UDP port range on 127.0.0.1")
	return 0
}

var placeholder = regexp.MustCompile(`@[A-Z_]+@`)

// RenderScenario fills the sipp scenario template tmpl (placeholders
// written @NAME@) with vars and writes it to out; a placeholder left over
// fails the test.
func RenderScenario(t testing.TB, tmpl, out string, vars map[string]string) {
	t.Helper()
	b, err := os.ReadFile(tmpl)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for k, v := range vars {
		s = strings.ReplaceAll(s, "@"+k+"@", v)
	}
	if left := placeholder.FindString(s); left != "" {
		t.Fatalf("%s: placeholder %s left after rendering", tmpl, left)
	}
	if err := os.WriteFile(out, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}
