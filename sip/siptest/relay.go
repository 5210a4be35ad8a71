package siptest

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	sipgo "github.com/emiago/sipgo/sip"
	"github.com/pion/sdp/v3"
)

// Side names one end of a Relay: the caller, which sends its INVITE to
// the Relay as its trunk, or the callee the Relay forwards it to.
type Side uint8

const (
	Caller Side = iota
	Callee
)

func (s Side) other() Side { return 1 - s }

// String returns "caller" or "callee".
func (s Side) String() string {
	if s == Callee {
		return "callee"
	}
	return "caller"
}

// RelayConfig configures a Relay.
type RelayConfig struct {
	// Callee is the SIP address (UDP) calls are forwarded to, e.g. a
	// Phone's Addr.
	Callee netip.AddrPort
	// ToCallee and ToCaller impair the RTP of each direction of every
	// call.
	ToCallee, ToCaller Impairment
	// Seed seeds the impairments: call n on the Relay (from 0, in the
	// order of their INVITEs) draws the direction towards the callee from
	// PCG(Seed, 2n) and the other from PCG(Seed, 2n+1).
	Seed uint64
}

// Relay is an impaired network path for tests: a caller uses it as its
// SIP trunk (UDP on 127.0.0.1), and it passes every call on to
// RelayConfig.Callee, SIP and RTP both ways, impairing the RTP as
// configured (see Impairment).
//
// It is a minimal B2BUA-like proxy without transactions: it forwards each
// datagram as it comes, retransmissions included. A request gets a Via of
// its own on top (its branch derived from the one below, so a CANCEL and
// a non-2xx ACK match their INVITE), which its responses lose on the way
// back; Contact is rewritten to the Relay's side facing the receiver, so
// the dialog's in-dialog requests (ACK, BYE both ways) come through it
// too; the SDP of offer and answer is rewritten to RTP sockets of the
// Relay, one pair per call. A call's RTP sockets close when its BYE or its
// INVITE's failure is answered.
//
// Goroutines: one reader per SIP socket and, per call, one reader per RTP
// socket and one sender per direction. Close stops and waits for them all.
type Relay struct {
	cfg  RelayConfig
	sip  [2]*net.UDPConn // by the Side it faces
	addr [2]netip.AddrPort
	wg   sync.WaitGroup

	mu       sync.Mutex
	closed   bool
	calls    map[string]*relayCall
	n        uint64               // calls begun
	ended    [2]ImpairStats       // of calls whose media has closed, by the Side it went to
	requests map[string]int       // "METHOD>side": requests forwarded to side
	traces   map[uint64][2]string // of calls whose media has closed (the first maxTraced)
	dropped  int                  // SIP datagrams that could not be routed
}

type relayCall struct {
	n      uint64
	target [2]netip.AddrPort // each side's Contact
	media  *relayMedia
}

// NewRelay starts a Relay on 127.0.0.1 and closes it when t ends.
func NewRelay(t testing.TB, cfg RelayConfig) *Relay {
	t.Helper()
	r, err := StartRelay(cfg)
	if err != nil {
		t.Fatalf("siptest: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// StartRelay starts a Relay on 127.0.0.1; Close stops it.
func StartRelay(cfg RelayConfig) (*Relay, error) {
	if !cfg.Callee.IsValid() {
		return nil, fmt.Errorf("siptest: relay: no callee address")
	}
	r := &Relay{cfg: cfg, calls: map[string]*relayCall{}, requests: map[string]int{}, traces: map[uint64][2]string{}}
	for s := range r.sip {
		c, err := listenLoopback()
		if err != nil {
			r.Close()
			return nil, err
		}
		r.sip[s], r.addr[s] = c, c.LocalAddr().(*net.UDPAddr).AddrPort()
	}
	for s := range r.sip {
		r.wg.Go(func() { r.serveSIP(Side(s)) })
	}
	return r, nil
}

func listenLoopback() (*net.UDPConn, error) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, fmt.Errorf("siptest: relay: %w", err)
	}
	return c, nil
}

// Addr is where the caller sends its INVITE: its trunk.
func (r *Relay) Addr() netip.AddrPort { return r.addr[Caller] }

// URI is the caller's trunk URI, "sip:127.0.0.1:PORT".
func (r *Relay) URI() string { return "sip:" + r.Addr().String() }

// RelayStats is what a Relay has done so far.
type RelayStats struct {
	Calls int // INVITEs that began a call
	// ToCallee and ToCaller sum the RTP impairment of every call, by
	// direction.
	ToCallee, ToCaller ImpairStats
	// Requests counts the SIP requests forwarded, retransmissions
	// included, by "METHOD>side", e.g. "BYE>caller" for a BYE from the
	// callee.
	Requests map[string]int
	// Unroutable counts SIP datagrams dropped: unparsable, or with no
	// way to their destination.
	Unroutable int
}

// Stats returns what the Relay has done so far.
func (r *Relay) Stats() RelayStats {
	r.mu.Lock()
	st := RelayStats{Calls: int(r.n), ToCallee: r.ended[Callee], ToCaller: r.ended[Caller], Requests: map[string]int{}, Unroutable: r.dropped}
	for k, v := range r.requests {
		st.Requests[k] = v
	}
	var live []*relayMedia
	for _, c := range r.calls {
		if c.media != nil {
			live = append(live, c.media)
		}
	}
	r.mu.Unlock()
	for _, m := range live {
		st.ToCallee = st.ToCallee.Add(m.pipes[Callee].snapshot())
		st.ToCaller = st.ToCaller.Add(m.pipes[Caller].snapshot())
	}
	return st
}

// maxCalls bounds the calls a Relay holds at once; a call is let go
// when its BYE, or its INVITE's failure, is answered.
const maxCalls = 256

// maxTraced bounds the calls whose traces a Relay keeps.
const maxTraced = 64

// Trace tells what happened to the first 250 RTP packets (5 s) of call n
// (from 0, in the order of the INVITEs) on their way to side to, one
// character a packet in the order they came: '.' forwarded, 'x' dropped,
// '2' sent twice, 'r' held back to be overtaken. Jitter and stalls are
// not shown. It is empty for a call unknown or beyond the first 64.
func (r *Relay) Trace(n int, to Side) string {
	r.mu.Lock()
	if tr, ok := r.traces[uint64(n)]; ok {
		r.mu.Unlock()
		return tr[to]
	}
	var m *relayMedia
	for _, c := range r.calls {
		if c.n == uint64(n) {
			m = c.media
		}
	}
	r.mu.Unlock()
	if m == nil {
		return ""
	}
	return m.pipes[to].traced()
}

// Close stops the Relay, ends every call's media and waits for its
// goroutines.
func (r *Relay) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	var ms []*relayMedia
	for _, c := range r.calls {
		if c.media != nil {
			ms = append(ms, c.media)
			c.media = nil
		}
	}
	r.mu.Unlock()
	for _, c := range r.sip {
		if c != nil {
			c.Close()
		}
	}
	for _, m := range ms {
		r.endMedia(m)
	}
	r.wg.Wait()
	return nil
}

func (r *Relay) serveSIP(from Side) {
	buf := make([]byte, 65536)
	for {
		n, src, err := r.sip[from].ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		msg, err := sipgo.ParseMessage(append([]byte(nil), buf[:n]...))
		if err == nil {
			switch m := msg.(type) {
			case *sipgo.Request:
				err = r.request(from, m, src)
			case *sipgo.Response:
				err = r.response(from, m)
			}
		}
		if err != nil {
			r.mu.Lock()
			r.dropped++
			r.mu.Unlock()
		}
	}
}

// request forwards req, received from side from (at src), to the other
// side.
func (r *Relay) request(from Side, req *sipgo.Request, src netip.AddrPort) error {
	to := from.other()
	id, top := req.CallID(), req.Via()
	if id == nil || top == nil {
		return fmt.Errorf("no Call-ID or Via")
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	c := r.calls[id.Value()]
	if c == nil && from == Caller && req.IsInvite() {
		if len(r.calls) >= maxCalls {
			r.mu.Unlock()
			return fmt.Errorf("%d calls at once", maxCalls)
		}
		c = &relayCall{n: r.n}
		r.n++
		r.calls[id.Value()] = c
	}
	dest := r.cfg.Callee
	if c != nil && c.target[to].IsValid() {
		dest = c.target[to]
	} else if to == Caller {
		r.mu.Unlock()
		return fmt.Errorf("no route to the caller")
	}
	r.requests[string(req.Method)+">"+to.String()]++
	r.mu.Unlock()

	req.Recipient.Host, req.Recipient.Port = dest.Addr().String(), int(dest.Port())
	// The Via below ours gets where it really came from (RFC 3581), for
	// its responses' way back.
	if top.Params.Has("rport") {
		top.Params.Add("rport", fmt.Sprint(src.Port()))
		top.Params.Add("received", src.Addr().String())
	}
	branch, _ := top.Params.Get("branch")
	via := &sipgo.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: "UDP",
		Host: r.addr[to].Addr().String(), Port: int(r.addr[to].Port()), Params: sipgo.NewParams()}
	via.Params.Add("branch", branch+".relay")
	req.PrependHeader(via)
	if mf := req.MaxForwards(); mf != nil {
		mf.Dec()
	}
	if err := r.rewrite(c, from, req); err != nil {
		return err
	}
	return r.send(to, req.String(), dest)
}

// response forwards res, received from side from, to the other side, to
// the address of the Via below the Relay's.
func (r *Relay) response(from Side, res *sipgo.Response) error {
	to := from.other()
	top := res.Via()
	if top == nil || top.Host != r.addr[from].Addr().String() || top.Port != int(r.addr[from].Port()) {
		return fmt.Errorf("response not through the relay")
	}
	res.RemoveHeader("Via")
	next := res.Via()
	if next == nil {
		return fmt.Errorf("response with one Via")
	}
	dest, err := viaAddr(next)
	if err != nil {
		return err
	}
	var c *relayCall
	if id := res.CallID(); id != nil {
		r.mu.Lock()
		c = r.calls[id.Value()]
		r.mu.Unlock()
	}
	if err := r.rewrite(c, from, res); err != nil {
		return err
	}
	err = r.send(to, res.String(), dest)
	// A call's media ends with its BYE answered, or its INVITE failing.
	if cs := res.CSeq(); c != nil && cs != nil && res.StatusCode >= 200 &&
		(cs.MethodName == sipgo.BYE || cs.MethodName == sipgo.INVITE && res.StatusCode >= 300) {
		r.mu.Lock()
		m := c.media
		c.media = nil
		if id := res.CallID(); id != nil {
			delete(r.calls, id.Value())
		}
		r.mu.Unlock()
		if m != nil {
			r.endMedia(m)
		}
	}
	return err
}

// viaAddr is where a response to the hop of v goes: received and rport
// when the hop's receiver set them, else its sent-by (port 5060 when
// none).
func viaAddr(v *sipgo.ViaHeader) (netip.AddrPort, error) {
	host, port := v.Host, v.Port
	if h, ok := v.Params.Get("received"); ok && h != "" {
		host = h
	}
	if p, ok := v.Params.Get("rport"); ok && p != "" {
		fmt.Sscan(p, &port)
	}
	if port == 0 {
		port = 5060
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("via host %q: %w", host, err)
	}
	return netip.AddrPortFrom(a, uint16(port)), nil
}

// rewrite makes msg, from side from, lead back through the Relay: its
// Contact (kept as that side's target) becomes the Relay's side facing
// the receiver, and its SDP names the call's RTP socket facing the
// receiver (its RTP address kept as where that socket's peer sends to).
func (r *Relay) rewrite(c *relayCall, from Side, msg sipMessage) error {
	to := from.other()
	if ct := msg.Contact(); ct != nil && c != nil {
		if a, err := netip.ParseAddr(ct.Address.Host); err == nil {
			port := ct.Address.Port
			if port == 0 {
				port = 5060
			}
			r.mu.Lock()
			c.target[from] = netip.AddrPortFrom(a, uint16(port))
			r.mu.Unlock()
		}
		ct.Address.Host, ct.Address.Port = r.addr[to].Addr().String(), int(r.addr[to].Port())
	}
	body := msg.Body()
	if len(body) == 0 || c == nil {
		return nil
	}
	if ctype := msg.ContentType(); ctype == nil || !strings.EqualFold(ctype.Value(), "application/sdp") {
		return nil
	}
	m, err := r.callMedia(c)
	if err != nil {
		return err
	}
	out, remote, err := rewriteSDP(body, m.local[to])
	if err != nil {
		return err
	}
	m.setPeer(from, remote)
	msg.SetBody(out)
	return nil
}

// sipMessage is what rewrite needs of a *sipgo.Request or *sipgo.Response.
type sipMessage interface {
	Contact() *sipgo.ContactHeader
	ContentType() *sipgo.ContentTypeHeader
	Body() []byte
	SetBody([]byte)
}

// callMedia returns c's RTP sockets, opening them with the first SDP.
func (r *Relay) callMedia(c *relayCall) (*relayMedia, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c.media != nil {
		return c.media, nil
	}
	if r.closed {
		return nil, fmt.Errorf("relay closed")
	}
	m, err := r.openMedia(c.n)
	if err != nil {
		return nil, err
	}
	c.media = m
	return m, nil
}

func (r *Relay) send(to Side, msg string, dest netip.AddrPort) error {
	_, err := r.sip[to].WriteToUDPAddrPort([]byte(msg), dest)
	return err
}

// rewriteSDP returns body with its (first) audio stream's address and
// port set to local, and the address and port it named.
func rewriteSDP(body []byte, local netip.AddrPort) ([]byte, netip.AddrPort, error) {
	var sd sdp.SessionDescription
	if err := sd.Unmarshal(body); err != nil {
		return nil, netip.AddrPort{}, fmt.Errorf("siptest: relay: SDP: %w", err)
	}
	var host string
	if ci := sd.ConnectionInformation; ci != nil && ci.Address != nil {
		host = ci.Address.Address
		ci.Address.Address = local.Addr().String()
	}
	var port int
	found := false
	for _, md := range sd.MediaDescriptions {
		if md.MediaName.Media != "audio" || found {
			continue
		}
		found = true
		port = md.MediaName.Port.Value
		md.MediaName.Port.Value = int(local.Port())
		if ci := md.ConnectionInformation; ci != nil && ci.Address != nil {
			host = ci.Address.Address
			ci.Address.Address = local.Addr().String()
		}
	}
	a, err := netip.ParseAddr(host)
	if !found || err != nil || port <= 0 || port > 65535 {
		return nil, netip.AddrPort{}, fmt.Errorf("siptest: relay: SDP without an audio address (%q port %d)", host, port)
	}
	out, err := sd.Marshal()
	if err != nil {
		return nil, netip.AddrPort{}, fmt.Errorf("siptest: relay: SDP: %w", err)
	}
	return out, netip.AddrPortFrom(a, uint16(port)), nil
}

// relayMedia is one call's RTP path: a socket facing each side. What a
// side sends to its socket goes through the pipe towards the other side
// and out of the other side's socket to the address its SDP named.
type relayMedia struct {
	conns [2]*net.UDPConn // by the Side they face
	local [2]netip.AddrPort
	pipes [2]*pipe // by the Side they go to
	done  chan struct{}
	end   sync.Once
	n     uint64 // the call's number

	mu   sync.Mutex
	peer [2]netip.AddrPort // where each side receives RTP
}

// openMedia opens call n's RTP sockets and starts forwarding; r.mu is
// held.
func (r *Relay) openMedia(n uint64) (*relayMedia, error) {
	m := &relayMedia{done: make(chan struct{}), n: n}
	for s := range m.conns {
		c, err := listenLoopback()
		if err != nil {
			for _, c := range m.conns[:s] {
				c.Close()
			}
			return nil, err
		}
		m.conns[s], m.local[s] = c, c.LocalAddr().(*net.UDPAddr).AddrPort()
	}
	imp := [2]Impairment{Callee: r.cfg.ToCallee, Caller: r.cfg.ToCaller}
	for s := range m.pipes {
		to := Side(s)
		m.pipes[to] = newPipe(imp[to], r.cfg.Seed, 2*n+uint64(to), func(b []byte) {
			m.mu.Lock()
			dst := m.peer[to]
			m.mu.Unlock()
			if dst.IsValid() {
				m.conns[to].WriteToUDPAddrPort(b, dst)
			}
		})
	}
	for s := range m.conns {
		from := Side(s)
		r.wg.Go(func() { m.pipes[from.other()].run(m.done) })
		r.wg.Go(func() { m.read(from) })
	}
	return m, nil
}

func (m *relayMedia) setPeer(s Side, a netip.AddrPort) {
	m.mu.Lock()
	m.peer[s] = a
	m.mu.Unlock()
}

// read takes the RTP side from sends until its socket closes.
func (m *relayMedia) read(from Side) {
	buf := make([]byte, 2048)
	p := m.pipes[from.other()]
	for {
		n, _, err := m.conns[from].ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		p.push(append([]byte(nil), buf[:n]...), time.Now())
	}
}

// endMedia stops m's goroutines and closes its sockets, keeping its
// counts.
func (r *Relay) endMedia(m *relayMedia) {
	m.end.Do(func() {
		tr := [2]string{Callee: m.pipes[Callee].traced(), Caller: m.pipes[Caller].traced()}
		close(m.done)
		for _, c := range m.conns {
			c.Close()
		}
		r.mu.Lock()
		r.ended[Callee] = r.ended[Callee].Add(m.pipes[Callee].snapshot())
		r.ended[Caller] = r.ended[Caller].Add(m.pipes[Caller].snapshot())
		if m.n < maxTraced {
			r.traces[m.n] = tr
		}
		r.mu.Unlock()
	})
}
