package media

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"denwa/dtmf"
	"denwa/media/mediatest"

	"github.com/pion/rtp"
)

// Benchmarks of the per-packet media paths (issue 6): RTP parse and
// marshal, the Receiver's demultiplexing, and the session's receive
// handling. Select them with
//
//	go test ./media -run '^$' -bench 'RTP|Demux|Handle' -benchmem
//
// Each one warms its streams up before the timed loop (a stream's first
// packet allocates its detector and buffers), so allocs/op is the steady
// per-packet figure, and checks after the loop that the work was done.
// The send step with its socket write is BenchmarkSendTick (pacer_test.go);
// BenchmarkReceiverAudio (receiver_test.go) is HandlePacket on silence.

// benchEventPT is the telephone-event payload type of these benchmarks.
const benchEventPT = 101

// benchFrames returns n distinct 20 ms μ-law frames of speech-like audio.
func benchFrames(n int) [][]byte {
	return speechLike(time.Duration(n) * FrameInterval)
}

// benchPacket is one marshalled RTP packet and its timestamp relative to
// the start of a cycle of presses.
type benchPacket struct {
	buf []byte
	ts  uint32
}

// benchPresses marshals the packets of presses of '1'…'4', 100 ms each,
// one every 200 ms (period timestamp units): the cycle repeats with every
// timestamp shifted by period.
func benchPresses(b *testing.B) (pkts []benchPacket, period uint32) {
	b.Helper()
	const every = 1600
	for i, k := range []dtmf.Key{'1', '2', '3', '4'} {
		start := int64(i * every)
		evs, err := dtmf.GenerateEvent(nil, k, start, 800, dtmf.EventGenConfig{})
		if err != nil {
			b.Fatal(err)
		}
		for _, ev := range evs {
			var payload [dtmf.EventPayloadLen]byte
			ev.Payload.MarshalTo(payload[:])
			pkts = append(pkts, benchPacket{
				buf: mediatest.RTP(0xe7e7, benchEventPT, 0, 0, ev.Marker, payload[:]),
				ts:  uint32(ev.Timestamp),
			})
		}
	}
	return pkts, 4 * every
}

func benchReceiverConfig() ReceiverConfig {
	pts := DefaultPayloadTypes()
	pts[benchEventPT] = KindTelephoneEvent
	return ReceiverConfig{PayloadTypes: pts, NoGuess: true}
}

// setSeqTS rewrites an RTP packet's sequence number and timestamp.
func setSeqTS(p []byte, seq uint16, ts uint32) {
	binary.BigEndian.PutUint16(p[2:], seq)
	binary.BigEndian.PutUint32(p[4:], ts)
}

// BenchmarkRTPParse is the receive path's one parse of a datagram
// (ParseDatagram: the RTP/RTCP check, pion's rtp.Header.Unmarshal and the
// padding).
func BenchmarkRTPParse(b *testing.B) {
	ev := dtmf.EventPayload{Code: 5, Volume: 10, Duration: 480}
	var evb [dtmf.EventPayloadLen]byte
	ev.MarshalTo(evb[:])
	cases := []struct {
		name string
		buf  []byte
	}{
		{"pcmu-172B", mediatest.RTP(0x1234, 0, 7, 1600, false, benchFrames(1)[0])},
		{"event-16B", mediatest.RTP(0x1234, benchEventPT, 7, 1600, true, evb[:])},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			var h rtp.Header
			var n, bytes int
			b.ReportAllocs()
			b.SetBytes(int64(len(c.buf)))
			for b.Loop() {
				class, payload := ParseDatagram(&h, c.buf)
				if class != ClassRTP {
					b.Fatal(class)
				}
				n++
				bytes += len(payload)
			}
			if want := n * (len(c.buf) - 12); bytes != want || h.SSRC != 0x1234 || h.SequenceNumber != 7 {
				b.Fatalf("parsed %d payload bytes in %d packets (want %d), header %+v", bytes, n, want, h)
			}
		})
	}
}

// BenchmarkRTPMarshal is what the send path does per packet: the header's
// MarshalTo and the payload copy into the session's one packet buffer.
// "header" is pion's MarshalTo plus copy alone; the session cases run
// Session.nextPacketLocked (under s.mu, as the pacer does) without the
// socket write and the timeout check that BenchmarkSendTick adds.
func BenchmarkRTPMarshal(b *testing.B) {
	frames := benchFrames(500)
	b.Run("header", func(b *testing.B) {
		h := rtp.Header{Version: 2, PayloadType: 0, SSRC: 0x1234}
		buf := make([]byte, 12+FrameSamples)
		var n, i int
		b.ReportAllocs()
		b.SetBytes(int64(len(buf)))
		for b.Loop() {
			h.SequenceNumber++
			h.Timestamp += FrameSamples
			m, err := h.MarshalTo(buf)
			if err != nil {
				b.Fatal(err)
			}
			n = m + copy(buf[m:], frames[i])
			if i++; i == len(frames) {
				i = 0
			}
		}
		checkMarshalled(b, buf[:n], h.SequenceNumber, 0)
	})
	b.Run("session-prompt", func(b *testing.B) {
		s := benchSession(b, netip.MustParseAddrPort("127.0.0.1:9"))
		pb := &playback{frames: frames, done: make(chan struct{})}
		s.play = pb
		var n int
		b.ReportAllocs()
		b.SetBytes(12 + FrameSamples)
		for b.Loop() {
			s.mu.Lock()
			if pb.next == len(pb.frames)-1 { // loop the prompt, never end it
				pb.next = 0
			}
			n = s.nextPacketLocked()
			s.mu.Unlock()
		}
		checkMarshalled(b, s.pkt[:n], s.seq-1, s.pt)
	})
	b.Run("session-rfc4733", func(b *testing.B) {
		s := benchSession(b, netip.MustParseAddrPort("127.0.0.1:9"))
		evs, err := dtmf.GenerateEvent(nil, '#', 0, 8000*60, dtmf.EventGenConfig{})
		if err != nil {
			b.Fatal(err)
		}
		p := &keyPress{mode: RFC4733, events: evs, done: make(chan struct{})}
		s.press = p
		var n int
		b.ReportAllocs()
		b.SetBytes(12 + dtmf.EventPayloadLen)
		for b.Loop() {
			s.mu.Lock()
			if p.i == len(p.events)-1 { // never reach the END: the press goes on
				p.i = 0
			}
			n = s.nextPacketLocked()
			s.mu.Unlock()
		}
		checkMarshalled(b, s.pkt[:n], s.seq-1, s.eventPT)
	})
}

// checkMarshalled parses the last packet a marshal benchmark built.
func checkMarshalled(b *testing.B, buf []byte, seq uint16, pt uint8) {
	b.Helper()
	var h rtp.Header
	class, payload := ParseDatagram(&h, buf)
	if class != ClassRTP || h.SequenceNumber != seq || h.PayloadType != pt || len(payload) == 0 {
		b.Fatalf("last packet: %v, seq %d (want %d), pt %d (want %d), %d payload bytes", class, h.SequenceNumber, seq, h.PayloadType, pt, len(payload))
	}
}

// BenchmarkHandlePacket is Receiver.HandlePacket, parse included, for one
// stream of speech-like PCMU (decode and in-band detector) and for one of
// RFC 4733 key presses (decoder and merger; the sink counts the keys).
func BenchmarkHandlePacket(b *testing.B) {
	b.Run("pcmu", func(b *testing.B) {
		r, err := NewReceiver(benchReceiverConfig(), nil)
		if err != nil {
			b.Fatal(err)
		}
		frames := benchFrames(500)
		bufs := make([][]byte, len(frames))
		for i, f := range frames {
			bufs[i] = mediatest.RTP(0x1234, 0, 0, 0, false, f)
		}
		if err := r.HandlePacket(bufs[0]); err != nil { // the stream appears
			b.Fatal(err)
		}
		n := 1
		b.ReportAllocs()
		b.SetBytes(int64(len(bufs[0])))
		for b.Loop() {
			p := bufs[n%len(bufs)]
			setSeqTS(p, uint16(n), uint32(n*FrameSamples))
			if err := r.HandlePacket(p); err != nil {
				b.Fatal(err)
			}
			n++
		}
		st := r.Streams()[0].Stats
		if st.Packets != int64(n) || st.Audio != int64(n) || st.Late+st.Gaps+st.Resyncs+st.Lost != 0 {
			b.Fatalf("%d packets sent, stream stats %+v", n, st)
		}
	})
	b.Run("rfc4733", func(b *testing.B) {
		keys := 0
		r, err := NewReceiver(benchReceiverConfig(), KeySinkFunc(func(Key) { keys++ }))
		if err != nil {
			b.Fatal(err)
		}
		pkts, period := benchPresses(b)
		send := func(n int) error {
			p := pkts[n%len(pkts)]
			setSeqTS(p.buf, uint16(n), p.ts+uint32(n/len(pkts))*period)
			return r.HandlePacket(p.buf)
		}
		if err := send(0); err != nil {
			b.Fatal(err)
		}
		n := 1
		b.ReportAllocs()
		b.SetBytes(int64(len(pkts[0].buf)))
		for b.Loop() {
			if err := send(n); err != nil {
				b.Fatal(err)
			}
			n++
		}
		r.Flush()
		st := r.Streams()[0].Stats
		presses := (n + len(pkts)/4 - 1) / (len(pkts) / 4)
		if st.Events != int64(n) || st.Bad+st.Lost != 0 || keys < presses-1 || keys > presses {
			b.Fatalf("%d packets of %d presses sent, %d keys, stream stats %+v", n, presses, keys, st)
		}
	})
}

// BenchmarkDemux feeds one Receiver round-robin with packets of many
// SSRCs, so every packet misses the last-stream shortcut and goes through
// the per-SSRC lookup. "cn" sends comfort noise (payload type 13, counted
// as ignored): demultiplexing and sequence accounting alone; "pcmu" adds
// each stream's decode and detector, its state cold in the cache.
func BenchmarkDemux(b *testing.B) {
	frames := benchFrames(64)
	for _, kind := range []struct {
		name string
		pt   uint8
	}{{"cn", 13}, {"pcmu", 0}} {
		for _, streams := range []int{1, 8, 64} {
			b.Run(fmt.Sprintf("%s/streams=%d", kind.name, streams), func(b *testing.B) {
				cfg := benchReceiverConfig()
				cfg.MaxStreams = streams
				r, err := NewReceiver(cfg, nil)
				if err != nil {
					b.Fatal(err)
				}
				bufs := make([][]byte, streams)
				for i := range bufs {
					bufs[i] = mediatest.RTP(0x10000+uint32(i)*0x9e3779b1, kind.pt, 0, 0, false, frames[i])
					if err := r.HandlePacket(bufs[i]); err != nil { // the streams appear
						b.Fatal(err)
					}
				}
				n := streams
				b.ReportAllocs()
				b.SetBytes(int64(len(bufs[0])))
				for b.Loop() {
					p, k := bufs[n%streams], n/streams
					setSeqTS(p, uint16(k), uint32(k*FrameSamples))
					if err := r.HandlePacket(p); err != nil {
						b.Fatal(err)
					}
					n++
				}
				var got, used, lost int64
				for _, si := range r.Streams() {
					got += si.Stats.Packets
					used += si.Stats.Audio   // pcmu
					used += si.Stats.Ignored // cn
					lost += si.Stats.Lost + si.Stats.Late
				}
				if len(r.Streams()) != streams || got != int64(n) || used != int64(n) || lost != 0 || r.Dropped() != 0 {
					b.Fatalf("%d packets to %d streams: %d streams, %d packets, %d decoded or ignored, %d lost or late, %d dropped",
						n, streams, len(r.Streams()), got, used, lost, r.Dropped())
				}
			})
		}
	}
}

// BenchmarkSessionHandle is the session's receive handling of one
// datagram (Session.handleDatagram: ParseDatagram, the source check, the
// counters and the Receiver): "pcmu" from the SDP address, "foreign" from
// another address (counted, dropped, log rate-limited).
func BenchmarkSessionHandle(b *testing.B) {
	remote := netip.MustParseAddrPort("192.0.2.7:40000")
	frames := benchFrames(500)
	// A sub-benchmark runs once per -count: each run marshals its packets
	// afresh, since the loop rewrites their sequence numbers and timestamps.
	packets := func(b *testing.B) [][]byte {
		bufs := make([][]byte, len(frames))
		for i, f := range frames {
			bufs[i] = mediatest.RTP(0x1234, 0, 0, 0, false, f)
		}
		return bufs
	}
	b.Run("pcmu", func(b *testing.B) {
		s := benchSession(b, remote)
		bufs := packets(b)
		s.handleDatagram(bufs[0], remote)
		n := 1
		b.ReportAllocs()
		b.SetBytes(int64(len(bufs[0])))
		for b.Loop() {
			p := bufs[n%len(bufs)]
			setSeqTS(p, uint16(n), uint32(n*FrameSamples))
			s.handleDatagram(p, remote)
			n++
		}
		st := s.Stats()
		rs := s.recv.Streams()
		if st.Learned || st.PacketsReceived != int64(n) || st.Garbage+st.Foreign+st.Ignored != 0 ||
			len(rs) != 1 || rs[0].Stats.Audio != int64(n) || rs[0].Stats.Late+rs[0].Stats.Lost != 0 {
			b.Fatalf("%d packets sent: session %+v, receiver %+v", n, st, rs)
		}
	})
	b.Run("foreign", func(b *testing.B) {
		s := benchSession(b, remote)
		bufs := packets(b)
		s.handleDatagram(bufs[0], remote)
		other := netip.MustParseAddrPort("198.51.100.9:40000")
		n := 0
		b.ReportAllocs()
		b.SetBytes(int64(len(bufs[0])))
		for b.Loop() {
			s.handleDatagram(bufs[n%len(bufs)], other)
			n++
		}
		if st := s.Stats(); st.Foreign != int64(n) || st.PacketsReceived != 1 {
			b.Fatalf("%d foreign packets sent: session %+v", n, st)
		}
	})
}

// benchSession is a PCMU session with telephone-events at benchEventPT
// that sends to remote over a quietConn, on a pacer that never ticks: its
// read goroutine stays blocked in the read until Close, so the benchmark
// goroutine may drive handleDatagram and nextPacketLocked itself.
func benchSession(b testing.TB, remote netip.AddrPort) *Session {
	b.Helper()
	p := newPacer(PacerConfig{}, false)
	s, err := NewSession(SessionConfig{
		Conn: newQuietConn(), Remote: remote, Codec: KindPCMU, EventPT: benchEventPT,
		Pacer: p, MediaTimeout: -1,
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		s.Close()
		p.Close()
	})
	return s
}

// quietConn is a PacketConn on which nothing ever arrives: the first
// read (the session's drain) finds nothing, later ones block until Close
// and ignore deadlines (so the read loop's idle check never runs), writes
// are dropped.
type quietConn struct {
	once    sync.Once
	closed  chan struct{}
	drained atomic.Bool
}

func newQuietConn() *quietConn { return &quietConn{closed: make(chan struct{})} }

func (c *quietConn) ReadFromUDPAddrPort([]byte) (int, netip.AddrPort, error) {
	if !c.drained.Swap(true) {
		return 0, netip.AddrPort{}, os.ErrDeadlineExceeded
	}
	<-c.closed
	return 0, netip.AddrPort{}, net.ErrClosed
}

func (c *quietConn) WriteToUDPAddrPort(p []byte, _ netip.AddrPort) (int, error) {
	return len(p), nil
}

func (c *quietConn) LocalAddrPort() netip.AddrPort {
	return netip.MustParseAddrPort("127.0.0.1:30000")
}

func (c *quietConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return nil
}

func (c *quietConn) SetReadDeadline(time.Time) error { return nil }
