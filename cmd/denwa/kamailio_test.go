package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"denwa/enroll"
	"denwa/media/mediatest"
	"denwa/sip"
	"denwa/sip/siptest"
)

// Kamailio 5.6 as the PBX that lets only registered extensions call
// out: it is the registrar for extension 1001 (digest auth with the
// password in a variable, usrloc in memory), answers an INVITE from an
// unregistered caller 403 Caller not registered, and proxies the others
// (record-routed) to denwa's phone simulator. With -A CHECK_IDENTITY it
// also refuses an INVITE without the caller identity denwa is given
// (P-Asserted-Identity, Privacy: id, user=phone); with -A SHA256 it
// challenges with SHA-256; with -A TCP it listens on TCP too. The README's Kamailio recipe is this file's
// configuration.

// kamailioCfg is the configuration; {{PORT}}, {{PHONE}}, {{PASSWORD}}
// and {{MODULES}} (Debian's module directory) are filled in.
const kamailioCfg = `#!KAMAILIO
log_stderror=yes
children=1
auto_aliases=no
listen=udp:127.0.0.1:{{PORT}}
#!ifdef TCP
listen=tcp:127.0.0.1:{{PORT}}
#!else
disable_tcp=yes
#!endif
mpath="{{MODULES}}"

loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "auth.so"

modparam("usrloc", "db_mode", 0)
#!ifdef SHA256
modparam("auth", "algorithm", "SHA-256")
#!endif

request_route {
	if (!mf_process_maxfwd_header("10")) { sl_send_reply("483", "Too Many Hops"); exit; }
	if (has_totag()) {
		if (loose_route()) { t_relay(); exit; }
		if (is_method("ACK")) { if (t_check_trans()) { t_relay(); } exit; }
		sl_send_reply("404", "Not here"); exit;
	}
	if (is_method("CANCEL")) { if (t_check_trans()) { t_relay(); } exit; }
	if (is_method("REGISTER")) {
		$var(password) = "{{PASSWORD}}";
		if ($au != "1001" || !pv_www_authenticate("$td", "$var(password)", "0")) {
			www_challenge("$td", "1");
			exit;
		}
		if (!save("location")) { sl_reply_error(); }
		exit;
	}
	if (!is_method("INVITE")) { sl_send_reply("405", "Method Not Allowed"); exit; }
	if (!registered("location", "$fu")) { sl_send_reply("403", "Caller not registered"); exit; }
#!ifdef CHECK_IDENTITY
	if ($ai != "sip:+81312340000@127.0.0.1;user=phone" || $hdr(Privacy) != "id" || !($ru =~ ";user=phone")) {
		sl_send_reply("403", "Caller identity missing");
		exit;
	}
#!endif
	record_route();
	$du = "sip:{{PHONE}}";
	t_relay();
}
`

// startKamailio runs kamailio in the foreground with kamailioCfg on a
// free loopback port, proxying calls to phone; it returns once kamailio
// answers, and kills its process group when the test ends.
func startKamailio(t *testing.T, phone string, password string, defines ...string) (uri string) {
	t.Helper()
	bin := mediatest.RequireTool(t, "kamailio")
	mods, _ := filepath.Glob("/usr/lib/*/kamailio/modules/registrar.so")
	if len(mods) == 0 {
		mediatest.RequireInterop(t, "kamailio's modules are not in /usr/lib/*/kamailio/modules (Debian: apt-get install kamailio)")
	}
	dir := t.TempDir()
	port := mediatest.FreeUDPPorts(t, 0)
	cfg := strings.NewReplacer("{{PORT}}", fmt.Sprint(port), "{{PHONE}}", phone, "{{PASSWORD}}", password,
		"{{MODULES}}", filepath.Dir(mods[0])).Replace(kamailioCfg)
	file := filepath.Join(dir, "kamailio.cfg")
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"-f", file, "-DD", "-E", "-Y", dir, "-w", dir, "-P", filepath.Join(dir, "kamailio.pid"), "-m", "16", "-M", "4"}
	for _, d := range defines {
		args = append(args, "-A", d)
	}
	var out syncBuffer // (serve_test.go)
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
		if t.Failed() {
			t.Logf("kamailio output:\n%s", tailLines(out.String(), 40))
		}
	})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	if !sipAnswers(addr, exited, 10*time.Second) {
		t.Fatalf("kamailio did not answer on %s\n%s", addr, tailLines(out.String(), 40))
	}
	return "sip:" + addr
}

// sipAnswers sends OPTIONS to addr until a response comes back, kamailio
// exits, or within passes.
func sipAnswers(addr string, exited <-chan struct{}, within time.Duration) bool {
	c, err := net.Dial("udp", addr)
	if err != nil {
		return false
	}
	defer c.Close()
	deadline := time.Now().Add(within)
	buf := make([]byte, 2048)
	for i := 0; time.Now().Before(deadline); i++ {
		select {
		case <-exited:
			return false
		default:
		}
		fmt.Fprintf(c, "OPTIONS sip:%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-probe%d\r\nFrom: <sip:probe@127.0.0.1>;tag=p\r\n"+
			"To: <sip:%s>\r\nCall-ID: probe%d\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
			addr, c.LocalAddr(), i, addr, i)
		_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		if n, err := c.Read(buf); err == nil && bytes.HasPrefix(buf[:n], []byte("SIP/2.0 ")) {
			return true
		}
	}
	return false
}

// TestKamailioRegistrar: a PBX that only lets registered extensions call
// out refuses denwa without --register (403 Caller not registered), and
// lets the call through, to a verified end, with it; on exit denwa
// removes its binding, so the next call without --register is refused
// again. A wrong password is a registration that fails with its cause,
// and the call is refused. The identity headers pass Kamailio's check.
func TestKamailioRegistrar(t *testing.T) {
	mediatest.RequireTool(t, "kamailio")
	const password = "kamailio-test-pw"
	r := portRange()
	phone := siptest.NewPhone(t, sip.PhoneConfig{Keys: "#", KeyDelay: 300 * time.Millisecond, RTPPortFirst: r.First, RTPPortLast: r.Last})
	kam := startKamailio(t, phone.Addr().String(), password, "CHECK_IDENTITY")
	call := func(pw string, extra ...string) (callReport, string) {
		t.Helper()
		t.Setenv(passwordEnv, pw)
		args := append([]string{"call", "--json", "--trunk", kam, "--from", "sip:1001@127.0.0.1", "--bind", "127.0.0.1:0",
			"--rtp-ports", portRange().String(), "--ring-timeout", "10s",
			"--asserted-identity", "sip:+81312340000@127.0.0.1", "--privacy", "id", "--user-phone"}, extra...)
		stdout, stderr, code := runCLI(t, append(args, "+81312345678")...)
		var rep callReport
		if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
			t.Fatalf("exit %d, stdout %q, stderr %q: %v", code, stdout, stderr, err)
		}
		if strings.Contains(stdout+stderr, password) {
			t.Fatalf("the output shows the password:\n%s\n%s", stdout, stderr)
		}
		return rep, stdout
	}
	refused := func(rep callReport, out string) {
		t.Helper()
		if rep.Outcome == enroll.OutcomeVerified || rep.Status != 403 || !strings.Contains(rep.Cause, "Caller not registered") {
			t.Fatalf("want the call refused with 403 Caller not registered:\n%s", out)
		}
	}

	rep, out := call(password)
	refused(rep, out)

	rep, out = call(password, "--register", "--privacy", "") // registered, but no Privacy: id
	if rep.Status != 403 || !strings.Contains(rep.Cause, "Caller identity missing") {
		t.Fatalf("want the call refused for its identity:\n%s", out)
	}

	rep, out = call(password, "--register")
	if rep.Outcome != enroll.OutcomeVerified || !strings.HasPrefix(rep.Registration, "registered until ") {
		t.Fatalf("want registered and verified:\n%s", out)
	}
	pc := phone.Next(t, 5*time.Second)
	if !strings.Contains(pc.From, "sip:1001@127.0.0.1") || pc.User != "+81312345678" {
		t.Errorf("the phone saw From %q, user %q", pc.From, pc.User)
	}

	rep, out = call(password) // the binding was removed when denwa exited
	refused(rep, out)

	rep, out = call("wrong-password", "--register")
	refused(rep, out)
	if !strings.Contains(rep.Registration, "registration failed: sip: register: 401") || !strings.Contains(rep.Registration, "credentials rejected") {
		t.Fatalf("want the registration failure and its cause:\n%s", out)
	}
}

// TestKamailioRegistrarSHA256TCP: the same registrar challenging with
// SHA-256 (RFC 8760), over TCP, registers denwa too, lets its call
// through (to a busy phone, which is quick), and takes the un-REGISTER.
func TestKamailioRegistrarSHA256TCP(t *testing.T) {
	mediatest.RequireTool(t, "kamailio")
	const password = "kamailio-test-pw"
	phone := siptest.NewPhone(t, sip.PhoneConfig{Status: 486})
	kam := startKamailio(t, phone.Addr().String(), password, "SHA256", "TCP")
	t.Setenv(passwordEnv, password)
	stdout, stderr, code := runCLI(t, "call", "--trunk", kam+";transport=tcp", "--from", "sip:1001@127.0.0.1", "--bind", "127.0.0.1:0",
		"--rtp-ports", portRange().String(), "--register", "--verbose", "+81312345678")
	if code != enroll.OutcomeBusy.ExitCode() || !strings.Contains(stdout, "registered until ") || !strings.Contains(stderr, "algorithm=SHA-256") ||
		!strings.Contains(stderr, `msg=un-registered`) {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, tailLines(stderr, 30))
	}
}
