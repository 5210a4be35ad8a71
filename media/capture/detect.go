package capture

import (
	"errors"
	"io"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"denwa/dtmf"
	"denwa/media"

	"github.com/pion/rtp"
)

// Options configures Detect. The zero value works.
type Options struct {
	// Receiver is the template for each stream's media.Receiver. Its
	// PayloadTypes are the fallback for streams whose SDP was not seen
	// (zero value: media.DefaultPayloadTypes). Src, Dst and Now are set per
	// stream and ignored here.
	Receiver media.ReceiverConfig
	// Workers is how many streams are detected at once; zero means
	// runtime.GOMAXPROCS(0).
	Workers int
}

// Stream is one RTP stream of a capture and the keys found in it.
type Stream struct {
	ID media.StreamID
	// FirstSeen and LastSeen are the capture timestamps of its first and
	// last packets.
	FirstSeen, LastSeen time.Time
	// PayloadTypes is the map the stream was decoded with; FromSDP says
	// whether it came from a SIP message's SDP rather than the fallback.
	PayloadTypes media.PayloadTypes
	FromSDP      bool
	Stats        media.StreamStats
	// Keys in order of Start. Key.At is measured from the stream's first
	// packet's RTP timestamp; Key.Began is zero.
	Keys []media.Key
}

// SIPStats counts the SIP messages a capture carried.
type SIPStats struct {
	Messages int64 // UDP datagrams that look like SIP
	SDP      int64 // of which carried an SDP body with an m=audio line
	BadSDP   int64 // SDP bodies that could not be read (ignored)
	// Info counts INFO requests that carried a key, retransmissions
	// included (Result.Info holds each key once).
	Info int64
}

// InfoKey is a key a SIP INFO request of the capture carried (see
// ParseInfoKey).
type InfoKey struct {
	// Time is the capture timestamp of the request's first copy.
	Time     time.Time
	Src, Dst netip.AddrPort
	CallID   string
	Key      dtmf.Key
	// Duration is the press's length in samples as the request gave it;
	// 0 when it gave none.
	Duration int64
}

// Result is what Detect found.
type Result struct {
	Format string // "pcap" or "pcapng"
	// Start is the capture timestamp of the first UDP datagram: where the
	// capture's timeline begins for a reader of it (SIP included).
	Start time.Time
	// Streams are the RTP streams that carried G.711 or telephone-events,
	// in the order of their first packets.
	Streams []Stream
	// Info are the keys SIP INFO requests carried, in capture order, each
	// once however often its request was retransmitted. They are not
	// merged with the RTP streams' keys: a phone that sends a press both
	// ways shows it in both.
	Info    []InfoKey
	Capture Stats
	SIP     SIPStats
	RTP     int64 // UDP datagrams taken as RTP
	RTCP    int64 // RTCP datagrams skipped
	NotRTP  int64 // other UDP datagrams skipped (STUN, DNS, …)
}

// skipPorts are well-known UDP ports whose traffic is never RTP; their
// random first bytes would otherwise pass for RTP version 2 a quarter of
// the time.
var skipPorts = map[uint16]bool{53: true, 67: true, 68: true, 123: true, 137: true, 138: true,
	161: true, 162: true, 514: true, 1900: true, 5353: true, 5355: true}

// Detect finds the DTMF keys in every RTP stream of a pcap or pcapng
// capture, as `denwa detect` prints them.
//
// It reads the capture once (see Reader), sorting UDP datagrams into SIP,
// RTCP (skipped), RTP and the rest (media.ParseDatagram): RTP is a valid
// version-2 header on ports other than well-known non-RTP services. A
// stream is one (source address, destination address, SSRC); its payloads
// are copied into one growing arena per stream, so reading costs no
// allocation per packet. SIP messages with SDP teach which payload types
// each RTP destination address:port receives (media.ParseSDPAudio): a stream
// uses the last SDP for its destination seen before its first packet (or
// the first one after), else the only SDP for its destination port (NAT),
// else opts.Receiver.PayloadTypes with the dynamic-payload-type guess.
// Malformed SIP and SDP are counted and ignored. SIP INFO requests that
// carry a key (ParseInfoKey) go to Result.Info, once per request however
// often it was retransmitted.
//
// Then the streams are detected in parallel, each by its own
// media.Receiver on one of opts.Workers goroutines, and the results are returned in order
// of first packet. Streams that carried neither G.711 nor telephone-events
// are left out.
//
// A capture cut short or corrupt part-way returns the result for every
// packet before the break together with an error wrapping ErrTruncated or
// ErrCorrupt; a caller may print the error as a warning and use the
// result. Any other error (ErrFormat, ErrLinkType, media.ErrConfig) comes
// with a nil result.
func Detect(r io.Reader, opts Options) (*Result, error) {
	if _, err := media.NewReceiver(opts.Receiver, nil); err != nil {
		return nil, err
	}
	fallback := opts.Receiver.PayloadTypes
	if fallback == (media.PayloadTypes{}) {
		fallback = media.DefaultPayloadTypes()
	}
	cr, err := NewReader(r)
	if err != nil {
		return nil, err
	}
	res := &Result{Format: cr.Format()}
	flows, sdps, readErr := demux(cr, res)
	res.Capture = cr.Stats()
	if readErr != nil && !errors.Is(readErr, ErrTruncated) && !errors.Is(readErr, ErrCorrupt) {
		return nil, readErr
	}
	for _, f := range flows {
		f.pts, f.fromSDP = sdps.lookup(f.key.dst, f.firstDgram)
		if !f.fromSDP {
			f.pts = fallback
		}
	}
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	results := make([]Stream, len(flows))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(workers, len(flows)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(flows) {
					return
				}
				results[i] = flows[i].detect(opts.Receiver)
				flows[i] = nil // let the arena go
			}
		})
	}
	wg.Wait()
	for _, sr := range results {
		if sr.Stats.Audio+sr.Stats.Events > 0 {
			res.Streams = append(res.Streams, sr)
		}
	}
	return res, readErr
}

type flowKey struct {
	src, dst netip.AddrPort
	ssrc     uint32
}

// rec is one RTP packet of a flow; its payload is arena[off:off+n].
type rec struct {
	off, n uint32
	ts     uint32
	seq    uint16
	ptm    uint8 // payload type | 0x80 for the marker bit
}

type flow struct {
	key         flowKey
	firstDgram  int64 // datagram number of the first packet
	first, last time.Time
	arena       []byte
	recs        []rec
	pts         media.PayloadTypes
	fromSDP     bool
}

// demux reads the whole capture into flows and learned SDP.
func demux(cr *Reader, res *Result) ([]*flow, *sdpBook, error) {
	byKey := map[flowKey]*flow{}
	var flows []*flow
	book := &sdpBook{}
	infoSeen := map[[2]string]bool{}
	var hdr rtp.Header
	var n int64
	for {
		d, err := cr.Next()
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return flows, book, err
		}
		n++
		if n == 1 {
			res.Start = d.Time
		}
		p := d.Payload
		if LooksLikeSIP(p) {
			res.SIP.Messages++
			if k, callID, cseq, ok := ParseInfoKey(p); ok {
				res.SIP.Info++
				if id := [2]string{callID, cseq}; !infoSeen[id] {
					infoSeen[id] = true
					res.Info = append(res.Info, InfoKey{Time: d.Time, Src: d.Src, Dst: d.Dst, CallID: callID, Key: k.Key, Duration: k.Duration})
				}
				continue
			}
			if body := SIPBody(p); body != nil {
				if audio, err := media.ParseSDPAudio(body); err == nil {
					res.SIP.SDP++
					book.add(n, audio)
				} else {
					res.SIP.BadSDP++
				}
			}
			continue
		}
		class, payload := media.ParseDatagram(&hdr, p)
		if class == media.ClassRTCP {
			res.RTCP++
			continue
		}
		if skipPorts[d.Src.Port()] || skipPorts[d.Dst.Port()] {
			res.NotRTP++
			continue
		}
		if class != media.ClassRTP || len(payload) > 1<<16 {
			res.NotRTP++
			continue
		}
		res.RTP++
		k := flowKey{d.Src, d.Dst, hdr.SSRC}
		f := byKey[k]
		if f == nil {
			f = &flow{key: k, firstDgram: n, first: d.Time}
			byKey[k] = f
			flows = append(flows, f)
		}
		f.last = d.Time
		ptm := hdr.PayloadType & 0x7f
		if hdr.Marker {
			ptm |= 0x80
		}
		f.recs = append(f.recs, rec{off: uint32(len(f.arena)), n: uint32(len(payload)), ts: hdr.Timestamp, seq: hdr.SequenceNumber, ptm: ptm})
		f.arena = append(f.arena, payload...)
	}
}

// detect runs one flow through its own media.Receiver.
func (f *flow) detect(tmpl media.ReceiverConfig) Stream {
	cfg := tmpl
	cfg.PayloadTypes = f.pts
	cfg.Src, cfg.Dst = f.key.src, f.key.dst
	cfg.Now = func() time.Time { return f.first } // the stream's FirstSeen
	out := Stream{
		ID:        media.StreamID{SSRC: f.key.ssrc, Src: f.key.src, Dst: f.key.dst},
		FirstSeen: f.first, LastSeen: f.last,
		PayloadTypes: f.pts, FromSDP: f.fromSDP,
	}
	r, err := media.NewReceiver(cfg, media.KeySinkFunc(func(k media.Key) { out.Keys = append(out.Keys, k) }))
	if err != nil { // validated by Detect
		panic(err)
	}
	h := rtp.Header{Version: 2, SSRC: f.key.ssrc}
	for _, p := range f.recs {
		h.PayloadType, h.Marker = p.ptm&0x7f, p.ptm&0x80 != 0
		h.SequenceNumber, h.Timestamp = p.seq, p.ts
		r.HandleRTP(&h, f.arena[p.off:p.off+p.n]) // errors are counted in the stats
	}
	r.Flush()
	if st := r.Streams(); len(st) > 0 {
		out.Stats = st[0].Stats
	}
	slices.SortStableFunc(out.Keys, func(a, b media.Key) int {
		switch {
		case a.Start < b.Start:
			return -1
		case a.Start > b.Start:
			return 1
		}
		return 0
	})
	return out
}

// sdpBook holds the SDP seen in a capture, by RTP destination.
type sdpBook struct {
	byAddr map[netip.AddrPort][]sdpEntry
	byPort map[uint16]map[netip.Addr]bool
}

type sdpEntry struct {
	dgram int64 // datagram number of the SIP message
	pts   media.PayloadTypes
}

func (b *sdpBook) add(dgram int64, audio []media.SDPAudio) {
	if b.byAddr == nil {
		b.byAddr = map[netip.AddrPort][]sdpEntry{}
		b.byPort = map[uint16]map[netip.Addr]bool{}
	}
	for _, a := range audio {
		b.byAddr[a.Addr] = append(b.byAddr[a.Addr], sdpEntry{dgram, a.PayloadTypes})
		if b.byPort[a.Addr.Port()] == nil {
			b.byPort[a.Addr.Port()] = map[netip.Addr]bool{}
		}
		b.byPort[a.Addr.Port()][a.Addr.Addr()] = true
	}
}

// lookup returns the payload types SDP gave for RTP sent to dst by a flow
// whose first packet was datagram n.
func (b *sdpBook) lookup(dst netip.AddrPort, n int64) (media.PayloadTypes, bool) {
	es := b.byAddr[dst]
	if len(es) == 0 {
		// Behind NAT the SDP names a private address: accept the port
		// alone when exactly one address announced it.
		addrs := b.byPort[dst.Port()]
		if len(addrs) != 1 {
			return media.PayloadTypes{}, false
		}
		for a := range addrs {
			es = b.byAddr[netip.AddrPortFrom(a, dst.Port())]
		}
	}
	best := es[0]
	for _, e := range es {
		if e.dgram <= n {
			best = e
		}
	}
	return best.pts, true
}
