package sip_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"denwa/sip"
	"denwa/sip/siptest"
)

// TestCallerIdentity: P-Asserted-Identity, Privacy and user=phone as the
// INVITE carries them.
func TestCallerIdentity(t *testing.T) {
	for _, c := range []struct {
		name                      string
		cfg                       sip.Config
		ruri, from, to, pai, priv string
	}{
		{"none", sip.Config{From: "sip:0312340000@trunk.test"}, "sip:+81312345678@", "<sip:0312340000@trunk.test>", "<sip:+81312345678@", "", ""},
		{"user=phone, PAI with the display name, Privacy id",
			sip.Config{From: "sip:0312340000@trunk.test", DisplayName: "Denwa", UserPhone: true,
				AssertedIdentity: "sip:+81312340000@trunk.test", Privacy: "id"},
			";user=phone", "<sip:0312340000@trunk.test;user=phone>", ";user=phone>", `"Denwa" <sip:+81312340000@trunk.test;user=phone>`, "id"},
		{"PAI name-addr and a tel URI untouched, user=phone only on numbers",
			sip.Config{From: "sip:denwa@trunk.test", UserPhone: true, AssertedIdentity: `"Support" <tel:+81312340000>`, Privacy: "header; id"},
			";user=phone", "<sip:denwa@trunk.test>", ";user=phone>", `"Support" <tel:+81312340000>`, "header;id"},
	} {
		t.Run(c.name, func(t *testing.T) {
			uas := siptest.NewScriptedUAS(t, invites(func(req *siptest.Request) [][]byte {
				return [][]byte{siptest.Reply(req, siptest.Response{Status: 486, Reason: "Busy Here", ToTag: "b"})}
			}))
			c.cfg.Trunk = uas.URI()
			d := newDialer(t, c.cfg)
			_, err := d.Dial(context.Background(), "+81312345678", nil, nil)
			var ce *sip.CallError
			if !errors.As(err, &ce) || ce.Status != 486 {
				t.Fatalf("Dial: %v; want the 486", err)
			}
			inv := uas.Requests()[0]
			if !strings.Contains(inv.URI, c.ruri) || !strings.HasSuffix(strings.Split(inv.Header("From"), ";tag=")[0], c.from) ||
				!strings.Contains(inv.Header("To"), c.to) || inv.Header("P-Asserted-Identity") != c.pai || inv.Header("Privacy") != c.priv {
				t.Fatalf("INVITE %s\nFrom: %s\nTo: %s\nP-Asserted-Identity: %s\nPrivacy: %s", inv.URI, inv.Header("From"), inv.Header("To"),
					inv.Header("P-Asserted-Identity"), inv.Header("Privacy"))
			}
			if c.ruri != ";user=phone" && strings.Contains(string(inv.Raw), "user=phone") {
				t.Errorf("user=phone without UserPhone:\n%s", inv.Raw)
			}
		})
	}
}

// TestCallerIdentityConfig: the identity settings a Dialer refuses.
func TestCallerIdentityConfig(t *testing.T) {
	for _, c := range []sip.Config{
		{AssertedIdentity: "mailto:a@b"},
		{AssertedIdentity: "sip:trunk.test"},
		{AssertedIdentity: "Name sip:1@trunk.test"},
		{AssertedIdentity: "tel:abc"},
		{Privacy: "secret"},
		{Privacy: "none;id"},
	} {
		c.Trunk, c.Bind = "sip:127.0.0.1:9", "127.0.0.1:0"
		d, err := sip.NewDialer(c)
		if !errors.Is(err, sip.ErrConfig) {
			if d != nil {
				d.Close()
			}
			t.Errorf("%q %q: err %v; want ErrConfig", c.AssertedIdentity, c.Privacy, err)
		}
	}
}
