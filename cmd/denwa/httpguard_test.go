package main

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"denwa/cmd/denwa/internal/config"
	"denwa/sip"
	"denwa/sip/siptest"
)

// rawRequest writes req on a new connection to addr and returns the
// status line of the answer and whether the server then closed the
// connection. A bound of 10 s stands for "never answered".
func rawRequest(t *testing.T, addr, req string) (status string, closed bool) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	_, err = c.Read(make([]byte, 1))
	return res.Status, connClosed(err)
}

// connClosed reports whether a read's error says the peer closed the
// connection: EOF, or a reset (a close with our bytes still unread).
func connClosed(err error) bool {
	return err == io.EOF || errors.Is(err, syscall.ECONNRESET)
}

// The public listener of `denwa serve` as wired: a body trickled slower
// than http.read_timeout is cut with 408; headers and bodies are bounded;
// /metrics is only on the operators' listener; an https base URL brings
// HSTS.
func TestServeHardening(t *testing.T) {
	r := portRange()
	phone := siptest.NewPhone(t, sip.PhoneConfig{RTPPortFirst: r.First, RTPPortLast: r.Last})
	const readTimeout = 300 * time.Millisecond
	ts := startServe(t, phone, func(c *config.Serve) {
		c.HTTP.ReadTimeout = config.Duration(readTimeout)
		c.HTTP.BaseURL = "https://denwa.example"
		c.HTTP.MaxConns = 64
	})
	base := "http://" + ts.HTTPAddr()

	t.Run("slow body", func(t *testing.T) {
		// An unauthenticated POST declaring 200,000 bytes and sending
		// one every 50 ms.
		c, err := net.Dial("tcp", ts.HTTPAddr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		start := time.Now()
		io.WriteString(c, "POST /v1/enrollments HTTP/1.1\r\nHost: denwa\r\nContent-Type: application/json\r\nContent-Length: 200000\r\n\r\n{")
		stop := make(chan struct{})
		trickled := make(chan struct{})
		go func() { // one byte every 50 ms until the server gives up
			defer close(trickled)
			for {
				select {
				case <-stop:
					return
				case <-time.After(50 * time.Millisecond):
				}
				if _, err := c.Write([]byte(" ")); err != nil {
					return
				}
			}
		}()
		defer func() { close(stop); <-trickled }()
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		br := bufio.NewReader(c)
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("the trickled request got no answer: %v", err)
		}
		io.Copy(io.Discard, res.Body)
		took := time.Since(start)
		if res.StatusCode != http.StatusRequestTimeout {
			t.Fatalf("trickled body: %s, want 408", res.Status)
		}
		if _, err := br.ReadByte(); !connClosed(err) {
			t.Fatalf("the connection stayed open after 408: %v", err)
		}
		if took < readTimeout || took > readTimeout+3*time.Second {
			t.Fatalf("cut after %s, want about %s", took, readTimeout)
		}
	})

	t.Run("large body and header", func(t *testing.T) {
		body := strings.Repeat("x", 100<<10)
		st, closed := rawRequest(t, ts.HTTPAddr(), "POST /e/x HTTP/1.1\r\nHost: denwa\r\nContent-Type: application/x-www-form-urlencoded\r\n"+
			"Content-Length: "+strconv.Itoa(len(body))+"\r\n\r\n"+body)
		if !strings.HasPrefix(st, "413") || !closed {
			t.Fatalf("100 KiB body: %s (closed %v), want 413 and closed", st, closed)
		}
		st, _ = rawRequest(t, ts.HTTPAddr(), "GET /healthz HTTP/1.1\r\nHost: denwa\r\nX-Big: "+strings.Repeat("a", 40<<10)+"\r\n\r\n")
		if !strings.HasPrefix(st, "431") {
			t.Fatalf("40 KiB header: %s, want 431", st)
		}
	})

	t.Run("metrics on the ops listener only", func(t *testing.T) {
		res, err := http.Get(base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusNotFound {
			t.Fatalf("public /metrics: %s, want 404", res.Status)
		}
		if hsts := res.Header.Get("Strict-Transport-Security"); hsts != hstsValue {
			t.Fatalf("https base URL: Strict-Transport-Security %q", hsts)
		}
		if !strings.HasPrefix(ts.OpsAddr(), "127.0.0.1:") {
			t.Fatalf("ops listener on %q", ts.OpsAddr())
		}
		res, err = http.Get("http://" + ts.OpsAddr() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || !strings.Contains(string(b), "denwa_http_requests_total") {
			t.Fatalf("ops /metrics: %s\n%.300s", res.Status, b)
		}
	})

	if l, ok := ts.ln.(*limitListener); !ok || cap(l.sem) != 64 {
		t.Fatalf("the public listener is not capped at http.max_conns")
	}
}

// Over the cap a connection is answered 503 and closed at once; a slot
// freed is taken again.
func TestLimitListener(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })}
	go srv.Serve(newLimitListener(ln, 2))
	defer srv.Close()
	addr := ln.Addr().String()

	// Two connections hold the two slots: each has sent half a request.
	var held []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, "GET / HTTP/1.1\r\n")
		held = append(held, c)
	}
	// The third reads 503 without sending anything.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || res.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("over the cap: %v %v", res, err)
	}
	c.Close()
	// A held one finishes its request: served.
	io.WriteString(held[0], "Host: x\r\n\r\n")
	held[0].SetDeadline(time.Now().Add(10 * time.Second))
	res, err = http.ReadResponse(bufio.NewReader(held[0]), nil)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("a held connection: %v %v", res, err)
	}
	// Closing it frees its slot: a new connection is served (the server
	// notices the close asynchronously; bounded wait for that).
	held[0].Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, _ := rawRequest(t, addr, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		if strings.HasPrefix(st, "200") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the freed slot was not taken again: %s", st)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestClientAddr(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	for _, c := range []struct {
		name, remote string
		xff          []string
		want         string
	}{
		{"untrusted peer: XFF ignored", "203.0.113.9:5000", []string{"198.51.100.1"}, "203.0.113.9:5000"},
		{"trusted proxy, one hop", "10.0.0.2:40000", []string{"198.51.100.1"}, "198.51.100.1:0"},
		{"spoofed left entries ignored", "10.0.0.2:40000", []string{"1.2.3.4, 198.51.100.1"}, "198.51.100.1:0"},
		{"chain of trusted proxies", "10.0.0.2:40000", []string{"198.51.100.1, 10.1.1.1", "10.2.2.2"}, "198.51.100.1:0"},
		{"all trusted: leftmost", "10.0.0.2:40000", []string{"10.9.9.9, 10.1.1.1"}, "10.9.9.9:0"},
		{"no header", "10.0.0.2:40000", nil, "10.0.0.2:0"},
		{"malformed hop stops", "10.0.0.2:40000", []string{"198.51.100.1, garbage, 10.1.1.1"}, "10.1.1.1:0"},
		{"v6 proxy, v4-mapped client", "[::1]:1", []string{"::ffff:198.51.100.7"}, "198.51.100.7:0"},
		{"hop with a port", "10.0.0.2:40000", []string{"198.51.100.1:5678"}, "198.51.100.1:0"},
		{"v6 hop with a port", "10.0.0.2:40000", []string{"[2001:db8::1]:443"}, "[2001:db8::1]:0"},
	} {
		if got := clientAddr(c.remote, c.xff, trusted); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}

// The guard: the handlers see the client's address from a trusted proxy
// only; HSTS only for an https base URL.
func TestGuard(t *testing.T) {
	var seen string
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = r.RemoteAddr })
	g := guard{trusted: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}, readTimeout: time.Second, maxBody: 1 << 10}
	for _, c := range []struct{ remote, want string }{
		{"192.0.2.10:1234", "198.51.100.1:0"},
		{"203.0.113.5:1234", "203.0.113.5:1234"},
	} {
		req := httptest.NewRequest("GET", "/", nil)
		req.RemoteAddr = c.remote
		req.Header.Set("X-Forwarded-For", "198.51.100.1")
		rec := httptest.NewRecorder()
		g.wrap(h).ServeHTTP(rec, req)
		if seen != c.want {
			t.Errorf("from %s: the handler saw %s, want %s", c.remote, seen, c.want)
		}
		if rec.Header().Get("Strict-Transport-Security") != "" {
			t.Error("HSTS without an https base URL")
		}
	}
	g.hsts = true
	rec := httptest.NewRecorder()
	g.wrap(h).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Header().Get("Strict-Transport-Security") != hstsValue {
		t.Error("no HSTS with an https base URL")
	}
	// A body over the bound: 413 before the handler.
	seen = ""
	rec = httptest.NewRecorder()
	g.wrap(h).ServeHTTP(rec, httptest.NewRequest("POST", "/", strings.NewReader(strings.Repeat("x", 2<<10))))
	if rec.Code != http.StatusRequestEntityTooLarge || seen != "" {
		t.Errorf("large body: %d, handler ran: %v", rec.Code, seen != "")
	}
}

// /metrics behind the ops token, and a public ops address needs one.
func TestOpsToken(t *testing.T) {
	token := []byte(strings.Repeat("k", 32))
	h := opsHandler(newMetrics(), token)
	for _, c := range []struct {
		auth string
		want int
	}{{"", 401}, {"Bearer wrong", 401}, {"Bearer " + string(token), 200}} {
		req := httptest.NewRequest("GET", "/metrics", nil)
		if c.auth != "" {
			req.Header.Set("Authorization", c.auth)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != c.want {
			t.Errorf("Authorization %q: %d, want %d", c.auth, rec.Code, c.want)
		}
	}
	cfg := config.DefaultServe()
	cfg.SIP.Trunk = "sip:pbx.example"
	cfg.HTTP.OpsAddr = "0.0.0.0:9090"
	if _, err := cfg.Check(); err == nil || !strings.Contains(err.Error(), "http.ops_token") {
		t.Fatalf("a public ops address without a token: %v", err)
	}
	cfg.HTTP.OpsToken = config.NewSecret(token, "test")
	if _, err := cfg.Check(); err != nil {
		t.Fatalf("a public ops address with a token: %v", err)
	}
}
