package peers

import (
	"net/netip"
	"strings"
	"testing"
)

// The relayed Request-URI keeps the dialled user unless the target names
// one (baresip takes only calls for its own account).
func TestTargetRURI(t *testing.T) {
	for target, want := range map[string]string{
		"sip:127.0.0.1:5070":               `"sip:" + $rU + "@127.0.0.1:5070"`,
		"sip:127.0.0.1:5070;transport=tcp": `"sip:" + $rU + "@127.0.0.1:5070;transport=tcp"`,
		"sip:alice@127.0.0.1:5070":         `"sip:alice@127.0.0.1:5070"`,
		"sip:[::1]:5070":                   `"sip:" + $rU + "@[::1]:5070"`,
	} {
		if got := targetRURI(target); got != want {
			t.Errorf("targetRURI(%q) = %s, want %s", target, got, want)
		}
	}
}

// Each key mode sets linphonec's two DTMF switches.
func TestLinphoneRcModes(t *testing.T) {
	for mode, want := range map[KeyMode][2]string{
		"":      {"use_rfc2833=1", "use_info=0"},
		RFC4733: {"use_rfc2833=1", "use_info=0"},
		Info:    {"use_rfc2833=0", "use_info=1"},
		Inband:  {"use_rfc2833=0", "use_info=0"},
	} {
		rc := linphoneRc(LinphoneConfig{Mode: mode, Addr: netip.MustParseAddr("127.0.0.1"), Rc: map[string][]string{"sip": {"media_encryption=srtp"}, "misc": {"x=1"}}}, 5070, 7078)
		for _, w := range append(want[:], "sip_port=5070", "audio_rtp_port=7078", "media_encryption=srtp", "[misc]\nx=1") {
			if !strings.Contains(rc, w) {
				t.Errorf("mode %q: rc lacks %q:\n%s", mode, w, rc)
			}
		}
	}
}

// Every option of the Kamailio configuration renders.
func TestKamailioTemplate(t *testing.T) {
	var b strings.Builder
	v := kamailioVars{KamailioConfig: KamailioConfig{Registrar: true, RequireRegistered: true}, Modules: kamailioModules,
		Listen: []string{"udp:127.0.0.1:5060", "tls:127.0.0.1:5061"}, TLSFile: "/t/tls.cfg",
		Auth: &Auth{User: "denwa", Password: "pw", Realm: "r", Algorithm: "SHA-256"}, NG: "127.0.0.1:2223"}
	if err := kamailioTemplate.Execute(&b, v); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"listen=tls:127.0.0.1:5061", `modparam("auth", "algorithm", "SHA-256")`, "route[AUTH_www]", "route[AUTH_proxy]",
		`registered("location", "$fu")`, `lookup("location")`, `rtpengine_sock", "udp:127.0.0.1:2223"`, "onreply_route[MEDIA]", "record_route();"} {
		if !strings.Contains(b.String(), w) {
			t.Errorf("config lacks %q:\n%s", w, b.String())
		}
	}
}
