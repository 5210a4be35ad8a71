package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"net/http"
	"strings"
	"time"

	"denwa/enroll/console"
)

// withConsole serves the operators' console (enroll/console) under
// /console/ on the operators' listener, beside what ops serves there
// (/metrics, behind the ops token when there is one). The console has
// its own sign-in, with an admin-scoped API key: the ops token does not
// guard it, since a browser cannot send it.
//
// Its session key is derived from the link key (nil: a random one for
// this run), so that the nodes of a deployment, which share the link key,
// share console sessions too. Its cookies are Secure when the base URL is
// https (or a request comes over TLS).
func withConsole(s *server, ops http.Handler) (http.Handler, error) {
	var sessionKey []byte
	if s.p.LinkKey != nil {
		h := hmac.New(sha256.New, s.p.LinkKey)
		h.Write([]byte("denwa console session key"))
		sessionKey = h.Sum(nil)
	}
	c, err := console.New(console.Config{
		Service: s.svc, SessionKey: sessionKey, SecureCookies: strings.HasPrefix(s.baseURL, "https://"),
		Logger: s.log.With("component", "console"),
	})
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle(console.Prefix+"/", guard{
		trusted: s.p.TrustedProxies, readTimeout: time.Duration(s.p.Config.HTTP.ReadTimeout), maxBody: console.MaxBodyBytes,
	}.wrap(c.Handler()))
	mux.Handle(console.Prefix, c.Handler())
	mux.Handle("/", ops)
	return mux, nil
}
