package sip

import (
	"errors"
	"strings"
	"testing"
)

// TestAuthorizeVectors checks the published examples: RFC 7616 §3.9.1 (MD5
// and SHA-256, qop=auth) and RFC 2617 §3.5 (MD5, qop=auth).
func TestAuthorizeVectors(t *testing.T) {
	rfc7616 := func(alg string) Challenge {
		return Challenge{
			Realm:     "http-auth@example.org",
			Nonce:     "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
			Opaque:    "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS",
			Algorithm: alg,
			QOP:       []string{"auth", "auth-int"},
		}
	}
	req7616 := DigestRequest{Method: "GET", URI: "/dir/index.html", CNonce: "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", NC: 1}
	mufasa := Credentials{Username: "Mufasa", Password: "Circle of Life"}
	cases := []struct {
		name string
		c    Challenge
		cred Credentials
		r    DigestRequest
		want string
	}{
		{"rfc7616-md5", rfc7616("MD5"), mufasa, req7616, "8ca523f5e9506fed4657c9700eebdbec"},
		{"rfc7616-sha256", rfc7616("SHA-256"), mufasa, req7616, "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"},
		{"rfc2617", Challenge{Realm: "testrealm@host.com", Nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093", Opaque: "5ccc069c403ebaf9f0171e9517f40e41", QOP: []string{"auth", "auth-int"}},
			Credentials{Username: "Mufasa", Password: "Circle Of Life"},
			DigestRequest{Method: "GET", URI: "/dir/index.html", CNonce: "0a4f113b", NC: 1}, "6629fae49393a05397450978507c4ef1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Authorize(tc.c, tc.cred, tc.r)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(got, `response="`+tc.want+`"`) {
				t.Errorf("got %s\nwant response=%q", got, tc.want)
			}
			for _, part := range []string{`username="Mufasa"`, `nc=00000001`, `qop=auth`, `cnonce="` + tc.r.CNonce + `"`, `opaque="` + tc.c.Opaque + `"`, `uri="/dir/index.html"`} {
				if !strings.Contains(got, part) {
					t.Errorf("missing %s in %s", part, got)
				}
			}
			if strings.Contains(got, tc.cred.Password) {
				t.Errorf("password in header: %s", got)
			}
		})
	}
}

// TestAuthorizeForms covers no-qop (RFC 2069), -sess, userhash and a
// random cnonce.
func TestAuthorizeForms(t *testing.T) {
	cred := Credentials{Username: "denwa", Password: "s3cret"}
	r := DigestRequest{Method: "INVITE", URI: "sip:0312345678@pbx.example.com"}
	// RFC 2069: response = MD5(HA1:nonce:HA2), computed independently.
	got, err := Authorize(Challenge{Realm: "pbx", Nonce: "abc"}, cred, r)
	if err != nil {
		t.Fatal(err)
	}
	ha1 := md5hex("denwa:pbx:s3cret")
	ha2 := md5hex("INVITE:sip:0312345678@pbx.example.com")
	if want := md5hex(ha1 + ":abc:" + ha2); !strings.Contains(got, want) || strings.Contains(got, "qop=") || strings.Contains(got, "cnonce") {
		t.Errorf("no-qop: got %s, want response %s and no qop/cnonce", got, want)
	}
	// MD5-sess with fixed cnonce.
	r2 := r
	r2.CNonce, r2.NC = "cn", 2
	got, err = Authorize(Challenge{Realm: "pbx", Nonce: "abc", Algorithm: "MD5-SESS", QOP: []string{"auth"}}, cred, r2)
	if err != nil {
		t.Fatal(err)
	}
	sha1 := md5hex(ha1 + ":abc:cn")
	if want := md5hex(sha1 + ":abc:00000002:cn:auth:" + ha2); !strings.Contains(got, want) || !strings.Contains(got, "nc=00000002") {
		t.Errorf("MD5-sess: got %s, want %s", got, want)
	}
	// Random cnonce differs between calls.
	c := Challenge{Realm: "pbx", Nonce: "abc", Algorithm: "SHA-256", QOP: []string{"auth"}}
	a, _ := Authorize(c, cred, r)
	b, _ := Authorize(c, cred, r)
	if a == b {
		t.Error("two authorizations with random cnonce are equal")
	}
	// userhash
	got, _ = Authorize(Challenge{Realm: "pbx", Nonce: "n", UserHash: true}, cred, r)
	if strings.Contains(got, `username="denwa"`) || !strings.Contains(got, "userhash=true") {
		t.Errorf("userhash: %s", got)
	}
	// auth-int only: refused.
	if _, err := Authorize(Challenge{Realm: "pbx", Nonce: "n", QOP: []string{"auth-int"}}, cred, r); !errors.Is(err, ErrBadChallenge) {
		t.Errorf("auth-int only: err %v", err)
	}
}

func TestParseChallenge(t *testing.T) {
	cases := []struct {
		name, in string
		want     Challenge
		err      bool
	}{
		{"rfc7616", `Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=SHA-256, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"`,
			Challenge{Realm: "http-auth@example.org", Nonce: "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", Opaque: "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS", Algorithm: "SHA-256", QOP: []string{"auth", "auth-int"}}, false},
		{"sipp", `Digest realm="127.0.0.1", nonce="12345", algorithm=MD5`, Challenge{Realm: "127.0.0.1", Nonce: "12345", Algorithm: "MD5"}, false},
		{"lowercase-alg-stale", `digest realm="a,b", nonce="n", algorithm=md5, stale=TRUE, qop=auth`, Challenge{Realm: "a,b", Nonce: "n", Algorithm: "MD5", Stale: true, QOP: []string{"auth"}}, false},
		{"escaped", `Digest realm="x\"y", nonce="n"`, Challenge{Realm: `x"y`, Nonce: "n"}, false},
		{"basic", `Basic realm="x"`, Challenge{}, true},
		{"no-nonce", `Digest realm="x"`, Challenge{}, true},
		{"unterminated", `Digest realm="x, nonce=n`, Challenge{}, true},
		{"no-equals", `Digest realm`, Challenge{}, true},
		{"unknown-alg", `Digest realm="x", nonce="n", algorithm=SHA-1`, Challenge{}, true},
		{"empty", ``, Challenge{}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseChallenge(tc.in)
			if tc.err {
				if !errors.Is(err, ErrBadChallenge) {
					t.Errorf("err = %v, want ErrBadChallenge", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Realm != tc.want.Realm || got.Nonce != tc.want.Nonce || got.Opaque != tc.want.Opaque ||
				got.Algorithm != tc.want.Algorithm || got.Stale != tc.want.Stale || strings.Join(got.QOP, ",") != strings.Join(tc.want.QOP, ",") {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestPickChallenge(t *testing.T) {
	c, err := pickChallenge([]string{`Digest realm="r", nonce="1", algorithm=MD5`, `Basic realm="r"`, `Digest realm="r", nonce="2", algorithm=SHA-256`})
	if err != nil || c.Nonce != "2" {
		t.Errorf("got %+v, %v; want the SHA-256 one", c, err)
	}
	if _, err := pickChallenge([]string{`Basic realm="r"`}); !errors.Is(err, ErrBadChallenge) {
		t.Errorf("err %v", err)
	}
	if _, err := pickChallenge(nil); !errors.Is(err, ErrBadChallenge) {
		t.Errorf("err %v", err)
	}
}

func TestCredentialsString(t *testing.T) {
	s := Credentials{Username: "u", Password: "hunter2"}.String()
	if strings.Contains(s, "hunter2") {
		t.Errorf("password leaked: %s", s)
	}
}

func FuzzParseChallenge(f *testing.F) {
	f.Add(`Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=SHA-256, nonce="7ypf", opaque="FQhe"`)
	f.Add(`Digest realm="x\"y", nonce="n", stale=true`)
	f.Add(`Digest realm="x, nonce=n`)
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseChallenge(s)
		if err != nil {
			return
		}
		if _, err := Authorize(c, Credentials{Username: "u", Password: "p"}, DigestRequest{Method: "INVITE", URI: "sip:1@h"}); err != nil && !errors.Is(err, ErrBadChallenge) {
			t.Fatalf("Authorize: %v", err)
		}
	})
}
