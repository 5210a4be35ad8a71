package main

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"denwa/enroll/httpapi"
)

// What holds the public HTTP side up under abuse, as wiring around the
// handlers of httpapi and webui: a cap on connections, a deadline and a
// bound on every request body, the client's address taken from
// X-Forwarded-For only through a trusted proxy, HSTS for an https base
// URL. /metrics is not here: it has a listener of its own (opsServer).

// maxHeaderBytes bounds a request's header block (Go's default is 1 MB;
// our requests carry a cookie or a bearer token and little else).
const maxHeaderBytes = 16 << 10

// hstsValue is the Strict-Transport-Security of an https base URL: one year.
const hstsValue = "max-age=31536000"

// limitListener holds at most cap(sem) connections at once. A connection
// beyond that is answered 503 and closed at once, rather than left
// waiting in the backlog.
type limitListener struct {
	net.Listener
	sem chan struct{}
}

func newLimitListener(ln net.Listener, n int) net.Listener {
	return &limitListener{Listener: ln, sem: make(chan struct{}, n)}
}

// busyResponse is what a connection over the cap reads.
const busyResponse = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n" +
	"Retry-After: 1\r\nConnection: close\r\nContent-Length: 20\r\n\r\ntoo many connections"

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.sem <- struct{}{}:
			return &limitConn{Conn: c, release: func() { <-l.sem }}, nil
		default:
			// A fresh socket's send buffer takes this without blocking;
			// the deadline is for a peer that is not there.
			c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
			io.WriteString(c, busyResponse)
			c.Close()
		}
	}
}

// limitConn gives its slot back when closed (once).
type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// guard is the middleware every public request passes through, outermost
// first: HSTS, the client's address, the body.
type guard struct {
	hsts        bool
	trusted     []netip.Prefix
	readTimeout time.Duration
	maxBody     int64
}

func (g guard) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g.hsts {
			w.Header().Set("Strict-Transport-Security", hstsValue)
		}
		if len(g.trusted) > 0 {
			r.RemoteAddr = clientAddr(r.RemoteAddr, r.Header.Values("X-Forwarded-For"), g.trusted)
		}
		if r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r) // GET, HEAD, the event streams: nothing to read
			return
		}
		body, ok := g.readBody(w, r)
		if !ok {
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		next.ServeHTTP(w, r)
	})
}

// readBody reads r's body in full within readTimeout and maxBody before
// any handler sees it: a body trickled slower than that gets 408, a larger
// one 413, and the connection is closed either way. The read deadline is
// lifted again afterwards, so that the handler's own work (and the
// server's detection of a client gone) is not cut by it.
func (g guard) readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	rc := http.NewResponseController(w)
	if err := rc.SetReadDeadline(time.Now().Add(g.readTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		w.Header().Set("Connection", "close")
		apiErrorJSON(w, http.StatusBadRequest, httpapi.CodeMalformedJSON,
			"リクエストの本文を読めませんでした。", "The request body could not be read.")
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, g.maxBody))
	if err == nil {
		rc.SetReadDeadline(time.Time{})
		return body, true
	}
	w.Header().Set("Connection", "close")
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		apiErrorJSON(w, http.StatusRequestEntityTooLarge, httpapi.CodeBodyTooLarge,
			"リクエストの本文が大きすぎます。", "The request body is too large.")
	case errors.Is(err, os.ErrDeadlineExceeded):
		apiErrorJSON(w, http.StatusRequestTimeout, "request_timeout",
			"リクエストの本文が時間内に届きませんでした。", "The request body did not arrive in time.")
	default:
		apiErrorJSON(w, http.StatusBadRequest, httpapi.CodeMalformedJSON,
			"リクエストの本文を読めませんでした。", "The request body could not be read.")
	}
	return nil, false
}

// clientAddr is the client's address for a request that came over a
// connection from remote ("host:port") with the X-Forwarded-For header
// values xff: remote itself unless remote is a trusted proxy; then the
// rightmost address of X-Forwarded-For that is no trusted proxy (each
// proxy appends the address it got the request from, so the hops to the
// right of it are ours and the ones to its left are the client's to make
// up). When every hop is trusted, the leftmost; a malformed hop ends the
// walk at the last good one. The result has port 0.
func clientAddr(remote string, xff []string, trusted []netip.Prefix) string {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return remote
	}
	addr := ap.Addr().Unmap()
	if !inAny(addr, trusted) {
		return remote
	}
	var hops []string
	for _, v := range xff {
		hops = append(hops, strings.Split(v, ",")...)
	}
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := parseHop(strings.TrimSpace(hops[i]))
		if err != nil || a.Zone() != "" {
			break
		}
		addr = a.Unmap()
		if !inAny(addr, trusted) {
			break
		}
	}
	return netip.AddrPortFrom(addr, 0).String()
}

// parseHop reads one X-Forwarded-For hop: an address, or an address with
// a port ("192.0.2.1:5678", "[2001:db8::1]:443") as some proxies write it.
func parseHop(s string) (netip.Addr, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a, nil
	}
	ap, err := netip.ParseAddrPort(s)
	return ap.Addr(), err
}

func inAny(a netip.Addr, nets []netip.Prefix) bool {
	for _, p := range nets {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// apiErrorJSON answers status with an error body in the API's form.
func apiErrorJSON(w http.ResponseWriter, status int, code, ja, en string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": ja, "message_en": en}})
}

// opsHandler serves /metrics on the operators' listener, behind the
// bearer token when one is set.
func opsHandler(m *metrics, token []byte) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.handler())
	if token == nil {
		return mux
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), token) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="denwa ops"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		mux.ServeHTTP(w, r)
	})
}
