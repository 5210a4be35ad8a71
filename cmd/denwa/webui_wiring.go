package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"net/http"
	"strings"
	"time"

	"denwa/enroll"
	"denwa/enroll/webui"
)

// attachWebUI puts the enrollment screens (/e/…, /enroll, /static/…) in
// front of the server's handler, before it serves; with m, their call
// limits and every request are counted (/metrics itself is served on the
// operators' listener, not here).
// links must be the signer the API uses; the screens' session key is
// derived from linkKey (nil: a random one for this run), so that nodes
// sharing a link key share sessions too.
func attachWebUI(s *server, links *enroll.LinkSigner, linkKey []byte, m *metrics) (*webui.Server, error) {
	var sessionKey []byte
	if linkKey != nil {
		h := hmac.New(sha256.New, linkKey)
		h.Write([]byte("denwa webui session key"))
		sessionKey = h.Sum(nil)
	}
	cfg := webui.Config{
		Service: s.svc, Links: links,
		SessionKey: sessionKey, SecureCookies: strings.HasPrefix(s.baseURL, "https://"),
		SessionTTL: max(time.Duration(s.p.Config.Link.TTL), 30*time.Minute),
		Logger:     s.log.With("component", "webui"),
	}
	if m != nil {
		cfg.OnLimit = m.limit
	}
	ui, err := webui.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("web ui: %w", err)
	}
	mux := http.NewServeMux()
	h := ui.Handler()
	mux.Handle("/e/", h)
	mux.Handle("GET /static/", h)
	mux.Handle("GET /enroll", h)
	mux.Handle("/", s.http.Handler)
	var handler http.Handler = mux
	if m != nil {
		handler = m.middleware(mux)
	}
	s.http.Handler = handler
	s.http.RegisterOnShutdown(ui.Close)
	return ui, nil
}
