package sip

import (
	"fmt"
	"strings"

	sipgo_sip "github.com/emiago/sipgo/sip"
)

// Caller identity on the INVITE, as carriers ask for it: besides From and
// its display name (Config.From, Config.DisplayName),
//
//	P-Asserted-Identity: "Denwa" <sip:+81312340000@trunk.example;user=phone>   (RFC 3325 §9.1)
//	Privacy: id                                                                (RFC 3323 §4.2, RFC 3325 §9.3)
//	INVITE sip:+81312345678@trunk.example;user=phone SIP/2.0                   (RFC 3261 §19.1.1)
//
// user=phone marks a user part that is a telephone number; it goes on
// the Request-URI, To, From and P-Asserted-Identity whose user is one.

// privacyValues are the priv-values of RFC 3323 §4.2 and RFC 3325 §9.3.
var privacyValues = map[string]bool{"header": true, "session": true, "user": true, "none": true, "critical": true, "id": true}

// identitySetup is the validated caller identity of a Config.
type identitySetup struct {
	pai       *sipgo_sip.Uri // nil: no P-Asserted-Identity
	paiName   string
	privacy   string // as it goes in the header, "" for none
	userPhone bool
}

// setupIdentity validates Config.AssertedIdentity and Config.Privacy.
func (c Config) setupIdentity() (identitySetup, error) {
	id := identitySetup{userPhone: c.UserPhone}
	if v := strings.TrimSpace(c.AssertedIdentity); v != "" {
		var u sipgo_sip.Uri
		var params sipgo_sip.HeaderParams
		name, err := sipgo_sip.ParseAddressValue(v, &u, &params)
		if err != nil || !strings.Contains(v, "<") && strings.ContainsAny(v, " \"") {
			return id, fmt.Errorf("%w: AssertedIdentity %q: want a URI or \"Name\" <URI>", ErrConfig, c.AssertedIdentity)
		}
		switch strings.ToLower(u.Scheme) {
		case "sip", "sips":
			if u.Host == "" || u.User == "" {
				return id, fmt.Errorf("%w: AssertedIdentity %q: want user@host", ErrConfig, c.AssertedIdentity)
			}
		case "tel":
			num, _, _ := strings.Cut(strings.TrimPrefix(u.String(), u.Scheme+":"), ";")
			if !isTelephoneNumber(num) {
				return id, fmt.Errorf("%w: AssertedIdentity %q: not a telephone number", ErrConfig, c.AssertedIdentity)
			}
		default:
			return id, fmt.Errorf("%w: AssertedIdentity %q: want a sip, sips or tel URI", ErrConfig, c.AssertedIdentity)
		}
		if name == "" {
			name = c.DisplayName
		}
		id.pai, id.paiName = &u, name
	}
	if v := strings.TrimSpace(c.Privacy); v != "" {
		var vals []string
		for p := range strings.SplitSeq(v, ";") {
			p = strings.ToLower(strings.TrimSpace(p))
			if !privacyValues[p] {
				return id, fmt.Errorf("%w: Privacy %q: %q is not one of header, session, user, id, critical, none", ErrConfig, c.Privacy, p)
			}
			vals = append(vals, p)
		}
		if len(vals) > 1 && strings.Contains(";"+strings.Join(vals, ";")+";", ";none;") {
			return id, fmt.Errorf("%w: Privacy %q: none stands alone", ErrConfig, c.Privacy)
		}
		id.privacy = strings.Join(vals, ";")
	}
	return id, nil
}

// identify puts the caller identity on an INVITE built by newInvite.
func (d *Dialer) identify(req *sipMsg) {
	id := d.s.identity
	if id.userPhone {
		markPhone(&req.Recipient)
		if h := req.To(); h != nil {
			markPhone(&h.Address)
		}
		if h := req.From(); h != nil {
			markPhone(&h.Address)
		}
	}
	if id.pai != nil {
		u := id.pai.Clone()
		if id.userPhone {
			markPhone(u)
		}
		var b strings.Builder
		if id.paiName != "" {
			b.WriteString(quote(id.paiName))
			b.WriteByte(' ')
		}
		b.WriteString("<" + u.String() + ">")
		req.AppendHeader(sipgo_sip.NewHeader("P-Asserted-Identity", b.String()))
	}
	if id.privacy != "" {
		req.AppendHeader(sipgo_sip.NewHeader("Privacy", id.privacy))
	}
}

// markPhone adds user=phone to a sip or sips URI whose user part is a
// telephone number (a tel URI is one already).
func markPhone(u *sipgo_sip.Uri) {
	s := strings.ToLower(u.Scheme)
	if s != "sip" && s != "sips" || !isTelephoneNumber(u.User) {
		return
	}
	if !u.UriParams.Has("user") {
		// A copy: the From's parameters are shared with the Dialer's setup.
		u.UriParams = append(make(sipgo_sip.HeaderParams, 0, len(u.UriParams)+1), u.UriParams...)
		u.UriParams.Add("user", "phone")
	}
}

// isTelephoneNumber reports whether s is a global ("+81312345678") or
// local ("0312345678") number of digits: the user parts user=phone is
// for (RFC 3966's numbers without visual separators).
func isTelephoneNumber(s string) bool {
	s = strings.TrimPrefix(s, "+")
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}
