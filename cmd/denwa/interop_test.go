package main

import (
	"encoding/json"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"denwa/cmd/denwa/internal/config"
	"denwa/enroll"
	"denwa/sip"
	"denwa/sip/siptest"
	"denwa/sip/siptest/peers"
)

// Interop tests: `denwa call` through real SIP software started on
// loopback by sip/siptest/peers (Kamailio as the PBX, linphonec and
// baresip as the phone, rtpengine relaying the media). Each skips without
// its program, and fails instead under DENWA_REQUIRE_INTEROP=1.

// interopCall runs `denwa call --json` with args and password (may be
// empty) on the RTP ports rtp (zero: a fresh range) and requires the
// outcome verified with keys.
func interopCall(t *testing.T, password, keys string, rtp config.PortRange, args ...string) callReport {
	t.Helper()
	t.Setenv(passwordEnv, password)
	if rtp.First == 0 {
		rtp = portRange()
	}
	args = append(append([]string{"call", "--json", "--rtp-ports", rtp.String(), "--ring-timeout", "10s"}, args...), "+81312345678")
	stdout, stderr, code := runCLI(t, args...)
	var rep callReport
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("exit %d, stdout %q, stderr %q: %v", code, stdout, stderr, err)
	}
	if rep.Outcome != enroll.OutcomeVerified || code != 0 || rep.Keys != keys {
		t.Fatalf("outcome %s (exit %d), keys %q; want verified, keys %q\n%s\n%s", rep.Outcome, code, rep.Keys, keys, stdout, stderr)
	}
	return rep
}

// TestInteropKamailioLinphone: denwa → Kamailio (record-route, 407 digest)
// → linphonec pressing # as RFC 4733, over UDP, TCP and TLS.
func TestInteropKamailioLinphone(t *testing.T) {
	cases := []struct {
		name, transport, algorithm string
	}{
		{"udp-md5", "udp", "MD5"},
		{"udp-sha256", "udp", "SHA-256"},
		{"tcp-md5", "tcp", "MD5"},
		{"tls-sha256", "tls", "SHA-256"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			phone := peers.StartLinphone(t, peers.LinphoneConfig{Keys: "#", Mode: peers.RFC4733})
			kc := peers.KamailioConfig{Target: phone.URI(), Auth: &peers.Auth{User: "denwa", Password: "kam-pw-7", Algorithm: c.algorithm}}
			var args []string
			if c.transport == "tls" {
				kc.TLS = peers.NewCA(t, "denwa interop CA")
			}
			k := peers.StartKamailio(t, kc)
			args = append(args, "--trunk", k.URI(c.transport), "--user", "denwa")
			if c.transport == "tls" {
				args = append(args, "--tls-ca", kc.TLS.CertFile)
			}
			interopCall(t, "kam-pw-7", "#", config.PortRange{}, args...)
		})
	}
}

// TestInteropKamailioTLS: the TLS settings against Kamailio's TLS
// listener. With the private CA, the server name in its certificate
// (kamailio.test, while the trunk is an IP address), TLS 1.3 at least and a
// client certificate Kamailio requires, the call verifies; a wrong CA, a
// wrong server name or no client certificate fails the call as
// unreachable, at once, with a cause that names the setting to look at.
func TestInteropKamailioTLS(t *testing.T) {
	ca := peers.NewCA(t, "denwa interop CA")
	client := ca.Client(t, "denwa")
	phone := peers.StartLinphone(t, peers.LinphoneConfig{Keys: "#"})
	k := peers.StartKamailio(t, peers.KamailioConfig{Target: phone.URI(), TLS: ca, RequireClientCert: true})
	trunk := []string{"--trunk", k.URI("tls")}
	t.Run("mutual", func(t *testing.T) {
		interopCall(t, "", "#", config.PortRange{}, append(trunk, "--tls-ca", ca.CertFile, "--tls-server-name", k.ServerName,
			"--tls-cert", client.CertFile, "--tls-key", client.KeyFile, "--tls-min-version", "1.3")...)
	})
	wrong := peers.NewCA(t, "some other CA")
	for _, c := range []struct {
		name  string
		args  []string
		cause []string
	}{
		{"wrong-ca", []string{"--tls-ca", wrong.CertFile, "--tls-cert", client.CertFile, "--tls-key", client.KeyFile},
			[]string{`certificate signed by unknown authority "denwa interop CA"`, "trunk 127.0.0.1", "set --tls-ca"}},
		{"wrong-name", []string{"--tls-ca", ca.CertFile, "--tls-server-name", "pbx.example.com", "--tls-cert", client.CertFile, "--tls-key", client.KeyFile},
			[]string{"not pbx.example.com", "set --tls-server-name"}},
		{"no-client-cert", []string{"--tls-ca", ca.CertFile}, []string{"asked for a client certificate", "set --tls-cert"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv(passwordEnv, "")
			stdout, stderr, code := runCLI(t, append(append([]string{"call", "--json", "--rtp-ports", portRange().String()}, trunk...), append(c.args, "+81312345678")...)...)
			var rep callReport
			if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
				t.Fatalf("exit %d, stdout %q, stderr %q: %v", code, stdout, stderr, err)
			}
			if rep.Outcome != enroll.OutcomeUnreachable {
				t.Errorf("outcome %s, want unreachable", rep.Outcome)
			}
			for _, want := range c.cause {
				if !strings.Contains(rep.Cause, want) {
					t.Errorf("cause %q does not say %q", rep.Cause, want)
				}
			}
			t.Log(rep.Cause)
		})
	}
}

// TestInteropOutboundProxy: the trunk's name (pbx.invalid) resolves only
// at the outbound proxy, Kamailio, which relays to the phone; denwa, bound
// to the unspecified address, takes its Via/Contact/SDP address from the
// route to the proxy and the call verifies.
func TestInteropOutboundProxy(t *testing.T) {
	r := portRange()
	phone := siptest.NewPhone(t, sip.PhoneConfig{Keys: "#", RTPPortFirst: r.First, RTPPortLast: r.Last})
	k := peers.StartKamailio(t, peers.KamailioConfig{Target: "sip:" + phone.Addr().String()})
	interopCall(t, "", "#", config.PortRange{}, "--trunk", "sip:pbx.invalid", "--outbound-proxy", k.URI("udp"))
	if pc := phone.Next(t, 10*time.Second); pc.User != "+81312345678" {
		t.Errorf("phone: %+v", pc)
	}
}

// TestInteropRTPEngineBaresip: denwa → Kamailio with rtpengine anchoring
// the media → baresip pressing # as RFC 4733. rtpengine must have handled
// the offer and the answer and seen denwa's RTP arrive from denwa's range.
func TestInteropRTPEngineBaresip(t *testing.T) {
	phone := peers.StartBaresip(t, peers.BaresipConfig{User: "alice", Keys: "#"})
	rtpe := peers.StartRTPEngine(t)
	k := peers.StartKamailio(t, peers.KamailioConfig{Target: phone.URI(), RTPEngine: rtpe})
	rtp := portRange()
	interopCall(t, "", "#", rtp, "--trunk", k.URI("udp"))
	log := rtpe.Output()
	for _, cmd := range []string{"offer", "answer", "delete"} {
		if !strings.Contains(log, "Received command '"+cmd+"'") {
			t.Errorf("rtpengine handled no %s", cmd)
		}
	}
	relayed := false
	for _, m := range regexp.MustCompile(`Confirmed peer address as 127\.0\.0\.1:(\d+)`).FindAllStringSubmatch(log, -1) {
		p, _ := strconv.Atoi(m[1])
		relayed = relayed || p >= rtp.First && p <= rtp.Last
	}
	if !relayed {
		t.Errorf("rtpengine saw no RTP from denwa's ports %v:\n%s", rtp, log)
	}
}

// TestInteropLinphoneInband: linphonec presses * then # as in-band tones
// (use_rfc2833=0, use_info=0), through Kamailio.
func TestInteropLinphoneInband(t *testing.T) {
	phone := peers.StartLinphone(t, peers.LinphoneConfig{Keys: "*#", Mode: peers.Inband})
	k := peers.StartKamailio(t, peers.KamailioConfig{Target: phone.URI()})
	rep := interopCall(t, "", "*#", config.PortRange{}, "--trunk", k.URI("udp"))
	for _, e := range rep.Timeline {
		if e.What == "key" && !strings.HasSuffix(e.Detail, "inband") {
			t.Errorf("key %q: want in-band", e.Detail)
		}
	}
}

// TestInteropSipsakOptions: sipsak's OPTIONS to a Dialer's listener gets
// 200 OK.
func TestInteropSipsakOptions(t *testing.T) {
	r := portRange()
	d, err := sip.NewDialer(sip.Config{Trunk: "sip:127.0.0.1:9", Bind: "127.0.0.1:0", RTPPortFirst: r.First, RTPPortLast: r.Last})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if out, err := peers.Sipsak(t, "-vv", "-s", "sip:denwa@"+d.Addr().String()); err != nil || !strings.Contains(out, "SIP/2.0 200 OK") {
		t.Fatalf("sipsak: %v\n%s", err, out)
	}
}

// TestCallIPv6: `denwa call --trunk sip:[::1]:PORT` without --bind listens
// on [::], advertises ::1 and verifies against the phone on ::1, directly
// and through Kamailio listening on ::1.
func TestCallIPv6(t *testing.T) {
	if err := peers.Loopback6(); err != nil {
		t.Skip(err)
	}
	r := portRange()
	phone := siptest.NewPhone(t, sip.PhoneConfig{Listen: "[::1]:0", Keys: "#", RTPPortFirst: r.First, RTPPortLast: r.Last})
	t.Run("direct", func(t *testing.T) {
		interopCall(t, "", "#", config.PortRange{}, "--trunk", phone.URI())
		if pc := phone.Next(t, 10*time.Second); !strings.HasPrefix(pc.From, "sip:denwa@[::1]") {
			t.Errorf("phone: %+v", pc)
		}
	})
	t.Run("kamailio", func(t *testing.T) {
		k := peers.StartKamailio(t, peers.KamailioConfig{Addr: netip.IPv6Loopback(), Target: phone.URI()})
		interopCall(t, "", "#", config.PortRange{}, "--trunk", k.URI("udp"))
		if pc := phone.Next(t, 10*time.Second); pc.User != "+81312345678" {
			t.Errorf("phone: %+v", pc)
		}
	})
}
