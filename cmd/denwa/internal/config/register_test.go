package config

import (
	"strings"
	"testing"
	"time"
)

// Registration and caller identity settings reach sip.Config from the
// file, the environment and flags; a bool setting reads true and false.
func TestRegisterAndIdentitySettings(t *testing.T) {
	file := `{"sip": {"trunk": "sip:pbx.example.com", "register": true, "user_phone": true, "privacy": "id"}}`
	files := map[string]string{"/etc/denwa.json": file}
	cfg, src, err := loadConfig(t, files, map[string]string{"DENWA_CONFIG": "/etc/denwa.json", "DENWA_SIP_REGISTER_EXPIRY": "10m"},
		"--asserted-identity", "sip:+81312340000@pbx.example.com", "--registrar", "sip:registrar.example.com")
	if err != nil {
		t.Fatal(err)
	}
	p, err := cfg.Check()
	if err != nil {
		t.Fatal(err)
	}
	r := p.SIP.Register
	if !r.Enabled || r.Expiry != 10*time.Minute || r.Registrar != "sip:registrar.example.com" || !p.SIP.UserPhone || p.SIP.Privacy != "id" ||
		p.SIP.AssertedIdentity != "sip:+81312340000@pbx.example.com" || src["sip.register"] != "file /etc/denwa.json" {
		t.Fatalf("sip config %+v, sources %v", p.SIP, src)
	}
	if d := DefaultSIP(); d.Register || d.UserPhone || time.Duration(d.RegisterExpiry) != time.Hour {
		t.Errorf("defaults %+v", d)
	}

	cfg, _, err = loadConfig(t, files, map[string]string{"DENWA_CONFIG": "/etc/denwa.json", "DENWA_SIP_REGISTER": "false"}, "--user-phone=false")
	if err != nil || cfg.SIP.Register || cfg.SIP.UserPhone {
		t.Fatalf("false from the environment and a flag: %v %+v", err, cfg.SIP)
	}
	if _, _, err = loadConfig(t, nil, map[string]string{"DENWA_SIP_REGISTER": "maybe"}); err == nil || !strings.Contains(err.Error(), "not true or false") {
		t.Errorf("DENWA_SIP_REGISTER=maybe: %v", err)
	}
	s := DefaultSIP()
	s.Trunk, s.RegisterExpiry = "sip:x", Duration(500*time.Millisecond)
	if _, err := s.DialerConfig(); err == nil || !strings.Contains(err.Error(), "--register-expiry") {
		t.Errorf("a register expiry under a second: %v", err)
	}
}
