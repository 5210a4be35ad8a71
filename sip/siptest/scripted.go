package siptest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// ScriptedUAS is a called party with no SIP stack behind it: a raw UDP
// socket on 127.0.0.1 that hands every datagram it receives to a Script
// and sends back, byte for byte, whatever the script returns. Tests use
// it to play a far end that misbehaves (malformed, oversized, stray or
// repeated responses) in ways a real SIP stack would refuse to produce.
//
// It has one goroutine, the reader, which calls the script; Close (run
// automatically when the test ends) closes the socket and waits for it.
type ScriptedUAS struct {
	conn   *net.UDPConn
	addr   netip.AddrPort
	script Script
	done   chan struct{}

	mu     sync.Mutex
	reqs   []*Request
	notify chan struct{} // closed and replaced on every request
	closed bool
}

// Script decides what to send back for one datagram. Each returned slice
// goes out as one datagram, in order, to where req came from. It runs on
// the ScriptedUAS's reader goroutine, one datagram at a time, and may
// keep state between calls without locking.
type Script func(req *Request) [][]byte

// Request is one datagram the ScriptedUAS received, read as a SIP request
// as far as it goes. A datagram that is not a request has an empty Method;
// a response (to a request of the UAS's own, see SendInDialog) also has
// its Status, and its headers and body read.
type Request struct {
	Method string // "INVITE", "ACK", …
	URI    string // the Request-URI
	Status int    // a response's status code; 0 for a request
	// N counts the requests with this method so far, from 1: the second
	// INVITE (a retransmission, over UDP) has N 2.
	N   int
	Src netip.AddrPort
	Raw []byte // the whole datagram; owned by the Request
	At  time.Time

	head []string // header lines (after the request line)
	body []byte
}

// compact maps the compact header forms of RFC 3261 §7.3.3.
var compact = map[string]string{"v": "via", "f": "from", "t": "to", "i": "call-id", "m": "contact", "l": "content-length", "c": "content-type"}

// Headers returns the values of every header called name
// (case-insensitive, compact forms understood), in order.
func (r *Request) Headers(name string) []string {
	name = strings.ToLower(name)
	var out []string
	for _, line := range r.head {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		k = strings.ToLower(strings.TrimSpace(k))
		if full, ok := compact[k]; ok {
			k = full
		}
		if k == name {
			out = append(out, strings.TrimSpace(v))
		}
	}
	return out
}

// Header returns the first value of the header called name, or "".
func (r *Request) Header(name string) string {
	if hs := r.Headers(name); len(hs) > 0 {
		return hs[0]
	}
	return ""
}

// Body returns the message body (after the blank line).
func (r *Request) Body() []byte { return r.body }

// String returns the request line.
func (r *Request) String() string {
	if r.Status != 0 {
		return fmt.Sprintf("response %d (%s) from %s", r.Status, r.Header("CSeq"), r.Src)
	}
	if r.Method == "" {
		return fmt.Sprintf("non-SIP datagram (%d bytes) from %s", len(r.Raw), r.Src)
	}
	return fmt.Sprintf("%s %s #%d from %s", r.Method, r.URI, r.N, r.Src)
}

func parseRequest(b []byte) *Request {
	r := &Request{Raw: b}
	head, body, ok := bytes.Cut(b, []byte("\r\n\r\n"))
	if !ok {
		head, body, _ = bytes.Cut(b, []byte("\n\n"))
	}
	r.body = body
	lines := strings.Split(strings.ReplaceAll(string(head), "\r\n", "\n"), "\n")
	f := strings.Fields(lines[0])
	if len(f) >= 2 && f[0] == "SIP/2.0" {
		r.Status, _ = strconv.Atoi(f[1])
		r.head = lines[1:]
		return r
	}
	if len(f) != 3 || f[2] != "SIP/2.0" {
		return r
	}
	r.Method, r.URI, r.head = f[0], f[1], lines[1:]
	return r
}

// NewScriptedUAS binds a UDP socket on 127.0.0.1 (an ephemeral port),
// starts reading it, and closes it when t ends.
func NewScriptedUAS(t testing.TB, script Script) *ScriptedUAS {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatalf("siptest: %v", err)
	}
	u := &ScriptedUAS{conn: c, addr: c.LocalAddr().(*net.UDPAddr).AddrPort(), script: script,
		done: make(chan struct{}), notify: make(chan struct{})}
	go u.read()
	t.Cleanup(func() { u.Close() })
	return u
}

func (u *ScriptedUAS) read() {
	defer close(u.done)
	buf := make([]byte, 1<<16)
	counts := map[string]int{}
	for {
		n, src, err := u.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // ICMP errors surface here on Linux; keep reading
		}
		req := parseRequest(bytes.Clone(buf[:n]))
		req.Src, req.At = src, time.Now()
		counts[req.Method]++
		req.N = counts[req.Method]
		u.mu.Lock()
		u.reqs = append(u.reqs, req)
		close(u.notify)
		u.notify = make(chan struct{})
		u.mu.Unlock()
		if u.script == nil {
			continue
		}
		for _, out := range u.script(req) {
			_, _ = u.conn.WriteToUDPAddrPort(out, src)
		}
	}
}

// Addr returns the UDP address the ScriptedUAS listens on.
func (u *ScriptedUAS) Addr() netip.AddrPort { return u.addr }

// URI returns a SIP URI that reaches it, e.g. "sip:127.0.0.1:5070".
func (u *ScriptedUAS) URI() string { return "sip:" + u.addr.String() }

// Send sends b to dst from the ScriptedUAS's socket, outside any script
// (an in-dialog request of the far end's own, say).
func (u *ScriptedUAS) Send(b []byte, dst netip.AddrPort) error {
	_, err := u.conn.WriteToUDPAddrPort(b, dst)
	return err
}

// Requests returns every datagram received so far, in order.
func (u *ScriptedUAS) Requests() []*Request {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]*Request(nil), u.reqs...)
}

// Count returns how many requests with method have arrived.
func (u *ScriptedUAS) Count(method string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	n := 0
	for _, r := range u.reqs {
		if r.Method == method {
			n++
		}
	}
	return n
}

// Wait waits up to timeout until at least n requests with method have
// arrived, and reports whether they did.
func (u *ScriptedUAS) Wait(method string, n int, timeout time.Duration) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		u.mu.Lock()
		ch := u.notify
		u.mu.Unlock()
		if u.Count(method) >= n {
			return true
		}
		select {
		case <-ch:
		case <-deadline.C:
			return u.Count(method) >= n
		}
	}
}

// Close closes the socket and waits for the reader. It is idempotent.
func (u *ScriptedUAS) Close() error {
	u.mu.Lock()
	if u.closed {
		u.mu.Unlock()
		<-u.done
		return nil
	}
	u.closed = true
	u.mu.Unlock()
	err := u.conn.Close()
	<-u.done
	return err
}

// Response describes a reply to build with Reply. Zero fields copy or
// compute the usual value.
type Response struct {
	Status int
	Reason string // zero: "OK" for 200, else "Reason"
	// ToTag is added to the request's To; zero adds none, so set it for
	// any final response that should create a dialog.
	ToTag string
	// CallID and CSeq, if set, replace the request's values.
	CallID, CSeq string
	// Headers are extra raw header lines ("Name: value"), written after
	// the copied ones and before Content-Length.
	Headers []string
	// Body is the message body; ContentType defaults to application/sdp
	// when Body is set.
	Body        string
	ContentType string
	// ContentLength, if set, is written instead of len(Body).
	ContentLength string
}

// Reply builds res as a response to req (RFC 3261 §8.2.6.2): every Via,
// From, To (plus ToTag), Call-ID and CSeq copied, a Contact pointing at
// the request's Request-URI host, then res.Headers, Content-Type and
// Content-Length, and the body.
func Reply(req *Request, res Response) []byte {
	reason := res.Reason
	if reason == "" {
		reason = "Reason"
		if res.Status == 200 {
			reason = "OK"
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "SIP/2.0 %d %s\r\n", res.Status, reason)
	for _, v := range req.Headers("Via") {
		b.WriteString("Via: " + v + "\r\n")
	}
	b.WriteString("From: " + req.Header("From") + "\r\n")
	to := req.Header("To")
	if res.ToTag != "" {
		to += ";tag=" + res.ToTag
	}
	b.WriteString("To: " + to + "\r\n")
	callID, cseq := req.Header("Call-ID"), req.Header("CSeq")
	if res.CallID != "" {
		callID = res.CallID
	}
	if res.CSeq != "" {
		cseq = res.CSeq
	}
	b.WriteString("Call-ID: " + callID + "\r\n")
	b.WriteString("CSeq: " + cseq + "\r\n")
	if host := uriHost(req.URI); host != "" && res.Status >= 200 && res.Status < 300 {
		b.WriteString("Contact: <sip:uas@" + host + ">\r\n")
	}
	for _, h := range res.Headers {
		b.WriteString(h + "\r\n")
	}
	ct := res.ContentType
	if ct == "" && res.Body != "" {
		ct = "application/sdp"
	}
	if ct != "" {
		b.WriteString("Content-Type: " + ct + "\r\n")
	}
	cl := res.ContentLength
	if cl == "" {
		cl = strconv.Itoa(len(res.Body))
	}
	b.WriteString("Content-Length: " + cl + "\r\n\r\n")
	b.WriteString(res.Body)
	return []byte(b.String())
}

// Polite answers what a far end must answer inside or around a call: 200
// to BYE and OPTIONS, 200 to CANCEL followed by 487 to the INVITE it
// cancels (RFC 3261 §9.2), nothing to ACK or to a datagram that is not a
// request. Scripts fall back to it for the methods they do not script.
func Polite(req *Request) [][]byte {
	switch req.Method {
	case "BYE", "OPTIONS":
		return [][]byte{Reply(req, Response{Status: 200})}
	case "CANCEL":
		num, _, _ := strings.Cut(req.Header("CSeq"), " ")
		return [][]byte{
			Reply(req, Response{Status: 200}),
			Reply(req, Response{Status: 487, Reason: "Request Terminated", ToTag: "cancelled", CSeq: num + " INVITE"}),
		}
	}
	return nil
}

// SDP returns an SDP answer body for RTP at 127.0.0.1:port offering the
// given rtpmap lines' payload types (e.g. "0 PCMU/8000").
func SDP(port int, rtpmaps ...string) string {
	var pts []string
	var maps strings.Builder
	for _, m := range rtpmaps {
		pt, _, _ := strings.Cut(m, " ")
		pts = append(pts, pt)
		maps.WriteString("a=rtpmap:" + m + "\r\n")
	}
	return "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
		fmt.Sprintf("m=audio %d RTP/AVP %s\r\n", port, strings.Join(pts, " ")) + maps.String() + "a=sendrecv\r\n"
}

// uriHost returns host[:port] of a SIP URI such as
// "sip:+8131@127.0.0.1:5070;transport=udp".
func uriHost(uri string) string {
	s, ok := strings.CutPrefix(uri, "sip:")
	if !ok {
		return ""
	}
	if _, after, ok := strings.Cut(s, "@"); ok {
		s = after
	}
	s, _, _ = strings.Cut(s, ";")
	return s
}

// Bye sends the far end's BYE for the dialog inv set up, answered with
// toTag (RFC 3261 §12.2.1.1, §15.1.1): to inv's Contact, From and To
// swapped, CSeq 1 BYE (the far end's first request in the dialog). The
// caller's response comes back to the ScriptedUAS like any datagram.
func (u *ScriptedUAS) Bye(inv *Request, toTag string) error {
	return u.SendInDialog(inv, toTag, InDialog{Method: "BYE", CSeq: 1})
}

// InDialog describes a request of the far end's own inside a dialog.
type InDialog struct {
	Method string // "INVITE" (a re-INVITE), "UPDATE", "ACK", "BYE", …
	// CSeq is its sequence number: higher than the far end's previous
	// request in the dialog, except for an ACK (its INVITE's).
	CSeq int
	// Headers are extra raw header lines ("Session-Expires: 90").
	Headers []string
	// Body, if set, goes with Content-Type application/sdp.
	Body string
	// Contact, if set, is the host:port of the request's Contact (a
	// target refresh elsewhere); empty: the ScriptedUAS's own address.
	Contact string
}

// SendInDialog sends r inside the dialog inv set up, answered with toTag
// (RFC 3261 §12.2.1.1): to inv's Contact, From and To swapped, a fresh
// branch. The caller's response comes back to the ScriptedUAS like any
// datagram (with Request.Status set).
func (u *ScriptedUAS) SendInDialog(inv *Request, toTag string, r InDialog) error {
	contact := inv.Header("Contact")
	if i, j := strings.IndexByte(contact, '<'), strings.IndexByte(contact, '>'); i >= 0 && j > i {
		contact = contact[i+1 : j]
	}
	dst, err := netip.ParseAddrPort(uriHost(contact))
	if err != nil {
		return fmt.Errorf("siptest: %s to Contact %q: %w", r.Method, contact, err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s SIP/2.0\r\n", r.Method, contact)
	fmt.Fprintf(&b, "Via: SIP/2.0/UDP %s;branch=z9hG4bK-%s-%d\r\n", u.addr, strings.ToLower(r.Method), time.Now().UnixNano())
	b.WriteString("From: " + inv.Header("To") + ";tag=" + toTag + "\r\n")
	b.WriteString("To: " + inv.Header("From") + "\r\n")
	b.WriteString("Call-ID: " + inv.Header("Call-ID") + "\r\n")
	fmt.Fprintf(&b, "CSeq: %d %s\r\nMax-Forwards: 70\r\n", r.CSeq, r.Method)
	at := r.Contact
	if at == "" {
		at = u.addr.String()
	}
	fmt.Fprintf(&b, "Contact: <sip:uas@%s>\r\n", at)
	for _, h := range r.Headers {
		b.WriteString(h + "\r\n")
	}
	if r.Body != "" {
		b.WriteString("Content-Type: application/sdp\r\n")
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n%s", len(r.Body), r.Body)
	return u.Send([]byte(b.String()), dst)
}

// WaitResponse waits up to timeout for a response whose CSeq is cseq
// ("2 INVITE") and returns the first such, or nil.
func (u *ScriptedUAS) WaitResponse(cseq string, timeout time.Duration) *Request {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		u.mu.Lock()
		ch := u.notify
		for _, r := range u.reqs {
			if r.Status != 0 && r.Header("CSeq") == cseq {
				u.mu.Unlock()
				return r
			}
		}
		u.mu.Unlock()
		select {
		case <-ch:
		case <-deadline.C:
			return nil
		}
	}
}
