package peers

import (
	"fmt"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"text/template"

	"denwa/media/mediatest"
)

// KamailioConfig configures a Kamailio proxy for one test. Zero values are
// documented per field.
type KamailioConfig struct {
	// Addr is the address every listener binds. Zero: 127.0.0.1.
	Addr netip.Addr
	// TLS, if set, adds a TLS listener with a certificate this CA issues
	// for "kamailio.test" and Addr.
	TLS *CA
	// RequireClientCert makes the TLS listener ask for a client
	// certificate issued by TLS and refuse connections without one.
	RequireClientCert bool
	// Auth, if set, challenges every initial INVITE with 407 and accepts
	// only Auth's user and password (RFC 3261 §22.3).
	Auth *Auth
	// Target is the SIP URI initial INVITEs are relayed to, e.g. a
	// phone's URI ("sip:127.0.0.1:5070", "sip:alice@127.0.0.1:5070").
	// Without a user part the Request-URI's user is kept. Zero: a
	// registered contact of the Request-URI (Registrar), else 404.
	Target string
	// Registrar makes Kamailio a registrar too (registrar and usrloc, in
	// memory): REGISTER is saved, challenged with 401 when Auth is set.
	Registrar bool
	// RequireRegistered refuses an initial INVITE whose From has no
	// registered contact: 403 "Caller not registered", as PBXs that let
	// only their extensions call out do. Needs Registrar.
	RequireRegistered bool
	// RTPEngine, if set, anchors the media of every call in it
	// (rtpengine_manage on offers and answers, delete on BYE).
	RTPEngine *RTPEngine
}

// Auth is the digest user a Kamailio accepts.
type Auth struct {
	User, Password string
	// Realm; zero: "kamailio.test".
	Realm string
	// Algorithm is "MD5" or "SHA-256". Zero: MD5.
	Algorithm string
}

// Kamailio is a running Kamailio. Its output has a line
// "relay METHOD CALL-ID to URI" for each initial request it relays and
// "in-dialog METHOD CALL-ID" for each request inside a dialog (ACK, BYE,
// re-INVITE, INFO), for tests to wait on with WaitOutput.
type Kamailio struct {
	*Proc
	Addr netip.Addr
	// Port is the UDP and TCP listeners' port; TLSPort the TLS one's
	// (zero without TLS).
	Port, TLSPort int
	// ServerName is the name in the TLS certificate.
	ServerName string
	Dir        string
}

// URI returns the SIP URI of the listener for transport "udp", "tcp" or
// "tls" (with a transport parameter unless udp).
func (k *Kamailio) URI(transport string) string {
	port := k.Port
	if transport == "tls" {
		port = k.TLSPort
	}
	u := "sip:" + netip.AddrPortFrom(k.Addr, uint16(port)).String()
	if transport != "" && transport != "udp" {
		u += ";transport=" + transport
	}
	return u
}

const kamailioModules = "/usr/lib/x86_64-linux-gnu/kamailio/modules"

// StartKamailio writes a configuration for cfg and runs Kamailio in the
// foreground until the test ends. It returns once every listener is bound.
func StartKamailio(t testing.TB, cfg KamailioConfig) *Kamailio {
	t.Helper()
	bin := mediatest.RequireTool(t, "kamailio")
	if !cfg.Addr.IsValid() {
		cfg.Addr = netip.MustParseAddr("127.0.0.1")
	}
	k := &Kamailio{Addr: cfg.Addr, Dir: t.TempDir(), ServerName: "kamailio.test"}
	k.Port = FreePort(t, cfg.Addr, 0)
	v := kamailioVars{KamailioConfig: cfg, Modules: kamailioModules,
		UDP: netip.AddrPortFrom(cfg.Addr, uint16(k.Port)).String()}
	v.Listen = []string{"udp:" + v.UDP, "tcp:" + v.UDP}
	tcp := []netip.AddrPort{netip.AddrPortFrom(cfg.Addr, uint16(k.Port))}
	if cfg.TLS != nil {
		if !fileExists(filepath.Join(kamailioModules, "tls.so")) {
			mediatest.RequireInterop(t, "Kamailio's tls module is missing (Debian: apt-get install kamailio-tls-modules)")
		}
		k.TLSPort = FreePort(t, cfg.Addr, 0)
		leaf := cfg.TLS.Server(t, k.ServerName, cfg.Addr.String())
		v.TLSFile = filepath.Join(k.Dir, "tls.cfg")
		tlsCfg := fmt.Sprintf("[server:default]\nmethod = TLSv1.2+\nprivate_key = %s\ncertificate = %s\n", leaf.KeyFile, leaf.CertFile)
		if cfg.RequireClientCert {
			tlsCfg += fmt.Sprintf("verify_certificate = yes\nrequire_certificate = yes\nca_list = %s\n", cfg.TLS.CertFile)
		} else {
			tlsCfg += "verify_certificate = no\nrequire_certificate = no\n"
		}
		tlsCfg += "\n[client:default]\nmethod = TLSv1.2+\nverify_certificate = no\nrequire_certificate = no\n"
		writeFile(t, v.TLSFile, tlsCfg)
		ap := netip.AddrPortFrom(cfg.Addr, uint16(k.TLSPort))
		v.Listen = append(v.Listen, "tls:"+ap.String())
		tcp = append(tcp, ap)
	}
	if cfg.Auth != nil {
		a := *cfg.Auth
		if a.Realm == "" {
			a.Realm = "kamailio.test"
		}
		if a.Algorithm == "" {
			a.Algorithm = "MD5"
		}
		v.Auth = &a
	}
	if cfg.Target != "" {
		v.TargetRURI = targetRURI(cfg.Target)
	}
	if cfg.RTPEngine != nil {
		v.NG = cfg.RTPEngine.NG.String()
	}
	file := filepath.Join(k.Dir, "kamailio.cfg")
	var b strings.Builder
	if err := kamailioTemplate.Execute(&b, v); err != nil {
		t.Fatalf("peers: kamailio config: %v", err)
	}
	writeFile(t, file, b.String())
	cmd := exec.Command(bin, "-f", file, "-DD", "-E", "-Y", k.Dir, "-w", k.Dir, "-m", "48", "-M", "8")
	cmd.Dir = k.Dir
	k.Proc = start(t, "kamailio", cmd)
	k.waitPorts(t, []netip.AddrPort{netip.AddrPortFrom(cfg.Addr, uint16(k.Port))}, tcp)
	return k
}

// targetRURI is the Kamailio expression for the Request-URI of a relayed
// INVITE: target as given, or with the Request-URI's user put in.
func targetRURI(target string) string {
	scheme, rest, _ := strings.Cut(target, ":")
	if strings.Contains(rest, "@") {
		return fmt.Sprintf("%q", target)
	}
	return fmt.Sprintf("%q + $rU + %q", scheme+":", "@"+rest)
}

type kamailioVars struct {
	KamailioConfig
	Modules    string
	UDP        string
	Listen     []string
	TLSFile    string
	Auth       *Auth
	TargetRURI string
	NG         string
}

// AuthKinds are the digest routes the configuration defines.
func (v kamailioVars) AuthKinds() []string {
	if v.Registrar {
		return []string{"www", "proxy"}
	}
	return []string{"proxy"}
}

var kamailioTemplate = template.Must(template.New("kamailio.cfg").Parse(`#!KAMAILIO
# Written by denwa's interop tests (sip/siptest/peers).
debug=2
log_stderror=yes
children=2
tcp_children=2
auto_aliases=no
{{- range .Listen}}
listen={{.}}
{{- end}}
{{- if .TLSFile}}
enable_tls=yes
{{- end}}
mpath="{{.Modules}}"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "xlog.so"
loadmodule "sanity.so"
{{- if .TLSFile}}
loadmodule "tls.so"
modparam("tls", "config", "{{.TLSFile}}")
{{- end}}
{{- if .Auth}}
loadmodule "auth.so"
modparam("auth", "algorithm", "{{.Auth.Algorithm}}")
{{- end}}
{{- if .Registrar}}
loadmodule "usrloc.so"
loadmodule "registrar.so"
modparam("usrloc", "db_mode", 0)
{{- end}}
{{- if .NG}}
loadmodule "rtpengine.so"
modparam("rtpengine", "rtpengine_sock", "udp:{{.NG}}")
{{- end}}

request_route {
	if (!mf_process_maxfwd_header("10")) { sl_send_reply("483", "Too Many Hops"); exit; }
	if (!sanity_check()) { exit; }
	if (is_method("OPTIONS") && $rU == $null) { sl_send_reply("200", "OK"); exit; }
	if (has_totag()) {
		xlog("L_INFO", "in-dialog $rm $ci\n");
		if (loose_route()) { route(RELAY); exit; }
		if (is_method("ACK")) { if (t_check_trans()) { t_relay(); } exit; }
		sl_send_reply("404", "Not here");
		exit;
	}
	if (is_method("CANCEL")) { if (t_check_trans()) { route(RELAY); } exit; }
	if (t_check_trans()) { exit; }
{{- if .Registrar}}
	if (is_method("REGISTER")) {
{{- if .Auth}}
		route(AUTH_www);
{{- end}}
		if (!save("location")) { sl_reply_error(); }
		exit;
	}
{{- end}}
	if (is_method("INVITE")) {
{{- if .Auth}}
		route(AUTH_proxy);
{{- end}}
{{- if .RequireRegistered}}
		if (!registered("location", "$fu")) { sl_send_reply("403", "Caller not registered"); exit; }
{{- end}}
		record_route();
	}
	remove_hf("Route");
{{- if .TargetRURI}}
	$ru = {{.TargetRURI}};
{{- else if .Registrar}}
	if (!lookup("location")) { sl_send_reply("404", "Not Found"); exit; }
{{- else}}
	sl_send_reply("404", "Not Found");
	exit;
{{- end}}
	xlog("L_INFO", "relay $rm $ci to $ru\n");
	route(RELAY);
}

{{- if .Auth}}
{{- range $kind := .AuthKinds}}

# {{$kind}} digest (401 for REGISTER, 407 for INVITE): only Auth's user.
route[AUTH_{{$kind}}] {
	$var(pw) = "{{$.Auth.Password}}";
	if (!pv_{{$kind}}_authenticate("{{$.Auth.Realm}}", "$var(pw)", "0")) { {{$kind}}_challenge("{{$.Auth.Realm}}", "0"); exit; }
	if ($au != "{{$.Auth.User}}") { sl_send_reply("403", "Wrong user"); exit; }
	consume_credentials();
}
{{- end}}
{{- end}}

route[RELAY] {
{{- if .NG}}
	if (is_method("INVITE")) { t_on_reply("MEDIA"); }
	if (has_body("application/sdp")) { rtpengine_manage(); }
	if (is_method("BYE|CANCEL")) { rtpengine_delete(); }
{{- end}}
	if (!t_relay()) { sl_reply_error(); }
	exit;
}
{{- if .NG}}

onreply_route[MEDIA] {
	if (has_body("application/sdp")) { rtpengine_manage(); }
}
{{- end}}
`))
