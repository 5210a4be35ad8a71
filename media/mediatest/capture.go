package mediatest

import (
	"bufio"
	"container/heap"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// Format is a capture file format.
type Format uint8

const (
	PCAP   Format = iota // libpcap, microsecond timestamps
	PCAPNG               // pcapng, one interface, nanosecond timestamps
)

func (f Format) String() string {
	switch f {
	case PCAP:
		return "pcap"
	case PCAPNG:
		return "pcapng"
	}
	return fmt.Sprintf("Format(%d)", uint8(f))
}

// Link is the link-layer header of every record.
type Link uint8

const (
	// Ethernet with zero MAC addresses, as a capture on Linux lo has.
	Ethernet Link = iota
	// LinuxSLL is the 16-byte "cooked" header of a capture on "any".
	LinuxSLL
	// Raw is bare IPv4/IPv6 (LINKTYPE_RAW, 101).
	Raw
)

func (l Link) String() string {
	switch l {
	case Ethernet:
		return "ethernet"
	case LinuxSLL:
		return "linux-sll"
	case Raw:
		return "raw"
	}
	return fmt.Sprintf("Link(%d)", uint8(l))
}

func (l Link) linkType() layers.LinkType {
	switch l {
	case LinuxSLL:
		return layers.LinkTypeLinuxSLL
	case Raw:
		return layers.LinkTypeRaw
	}
	return layers.LinkTypeEthernet
}

// DefaultEpoch is the wall-clock time of a capture's start when
// CaptureOptions.Epoch is zero: fixed, so that files are reproducible.
var DefaultEpoch = time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC)

// CaptureOptions select the file format. The zero value is a pcap file of
// Ethernet frames starting at DefaultEpoch.
type CaptureOptions struct {
	Format Format
	Link   Link
	// Epoch is the wall-clock time of Packet.At == 0; zero means DefaultEpoch.
	Epoch time.Time
	// Snaplen is written in the header; zero means 262144. Records are never cut.
	Snaplen uint32
	// Nanos writes a nanosecond-resolution pcap (pcapng always is).
	Nanos bool
}

// ErrBadPacket is returned for a packet that cannot be written.
var ErrBadPacket = errors.New("mediatest: packet cannot be written")

// CaptureWriter writes packets as UDP datagrams into a capture file. It
// buffers: call Flush when done.
type CaptureWriter struct {
	opt   CaptureOptions
	bw    *bufio.Writer
	pcap  *pcapgo.Writer
	ng    *pcapgo.NgWriter
	sbuf  gopacket.SerializeBuffer
	ipID  uint16
	count int
	// Reused per packet so that writing does not allocate per layer.
	eth     layers.Ethernet
	ip4     layers.IPv4
	ip6     layers.IPv6
	udp     layers.UDP
	payload gopacket.Payload
	addrs   [2][16]byte
	stack   []gopacket.SerializableLayer
}

// NewCaptureWriter writes the file header to w and returns a writer for the
// packets.
func NewCaptureWriter(w io.Writer, opt CaptureOptions) (*CaptureWriter, error) {
	if opt.Epoch.IsZero() {
		opt.Epoch = DefaultEpoch
	}
	if opt.Snaplen == 0 {
		opt.Snaplen = 262144
	}
	cw := &CaptureWriter{opt: opt, bw: bufio.NewWriterSize(w, 64<<10), sbuf: gopacket.NewSerializeBuffer()}
	switch opt.Format {
	case PCAP:
		if opt.Nanos {
			cw.pcap = pcapgo.NewWriterNanos(cw.bw)
		} else {
			cw.pcap = pcapgo.NewWriter(cw.bw)
		}
		if err := cw.pcap.WriteFileHeader(opt.Snaplen, opt.Link.linkType()); err != nil {
			return nil, err
		}
	case PCAPNG:
		ng, err := pcapgo.NewNgWriterInterface(cw.bw, pcapgo.NgInterface{
			Name: "lo", LinkType: opt.Link.linkType(), SnapLength: opt.Snaplen, TimestampResolution: 9,
		}, pcapgo.NgWriterOptions{SectionInfo: pcapgo.NgSectionInfo{Application: "denwa mediatest"}})
		if err != nil {
			return nil, err
		}
		cw.ng = ng
	default:
		return nil, fmt.Errorf("mediatest: unknown capture format %v", opt.Format)
	}
	return cw, nil
}

// WritePacket appends p as one record. p.Payload is not retained.
func (cw *CaptureWriter) WritePacket(p Packet) error {
	data, err := cw.frame(p)
	if err != nil {
		return err
	}
	ci := gopacket.CaptureInfo{
		Timestamp:     cw.opt.Epoch.Add(p.At),
		CaptureLength: len(data),
		Length:        len(data),
	}
	cw.count++
	if cw.ng != nil {
		return cw.ng.WritePacket(ci, data)
	}
	return cw.pcap.WritePacket(ci, data)
}

// Count returns the number of packets written.
func (cw *CaptureWriter) Count() int { return cw.count }

// Flush writes out buffered data.
func (cw *CaptureWriter) Flush() error {
	if cw.ng != nil {
		if err := cw.ng.Flush(); err != nil {
			return err
		}
	}
	return cw.bw.Flush()
}

// frame serializes p with its link, IP and UDP headers (checksums filled in).
// The result is valid until the next call.
func (cw *CaptureWriter) frame(p Packet) ([]byte, error) {
	src, dst := p.Src.Addr().Unmap(), p.Dst.Addr().Unmap()
	if !src.IsValid() || !dst.IsValid() || src.Is4() != dst.Is4() {
		return nil, fmt.Errorf("%w: addresses %v -> %v", ErrBadPacket, p.Src, p.Dst)
	}
	udp := &cw.udp
	*udp = layers.UDP{SrcPort: layers.UDPPort(p.Src.Port()), DstPort: layers.UDPPort(p.Dst.Port())}
	var ip gopacket.SerializableLayer
	etype := layers.EthernetTypeIPv4
	if src.Is4() {
		cw.ipID++
		s4, d4 := src.As4(), dst.As4()
		copy(cw.addrs[0][:], s4[:])
		copy(cw.addrs[1][:], d4[:])
		cw.ip4 = layers.IPv4{
			Version: 4, IHL: 5, TTL: 64, Id: cw.ipID, Flags: layers.IPv4DontFragment,
			Protocol: layers.IPProtocolUDP, SrcIP: cw.addrs[0][:4], DstIP: cw.addrs[1][:4],
		}
		ip = &cw.ip4
	} else {
		etype = layers.EthernetTypeIPv6
		cw.addrs[0], cw.addrs[1] = src.As16(), dst.As16()
		cw.ip6 = layers.IPv6{
			Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolUDP,
			SrcIP: cw.addrs[0][:], DstIP: cw.addrs[1][:],
		}
		ip = &cw.ip6
	}
	if err := udp.SetNetworkLayerForChecksum(ip.(gopacket.NetworkLayer)); err != nil {
		return nil, err
	}
	cw.payload = p.Payload
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	cw.stack = cw.stack[:0]
	if cw.opt.Link == Ethernet {
		if cw.eth.SrcMAC == nil {
			cw.eth.SrcMAC, cw.eth.DstMAC = make(net.HardwareAddr, 6), make(net.HardwareAddr, 6)
		}
		cw.eth.EthernetType = etype
		cw.stack = append(cw.stack, &cw.eth)
	}
	cw.stack = append(cw.stack, ip, udp, &cw.payload)
	err := gopacket.SerializeLayers(cw.sbuf, opts, cw.stack...)
	if err == nil && cw.opt.Link == LinuxSLL {
		// Linux cooked header: packet type 0 (to us), ARPHRD_LOOPBACK,
		// address length 6, address (zero, padded to 8), protocol.
		h, perr := cw.sbuf.PrependBytes(16)
		if perr != nil {
			return nil, perr
		}
		clear(h)
		binary.BigEndian.PutUint16(h[2:], 772)
		binary.BigEndian.PutUint16(h[4:], 6)
		binary.BigEndian.PutUint16(h[14:], uint16(etype))
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadPacket, err)
	}
	return cw.sbuf.Bytes(), nil
}

// WriteCapture writes pkts, in the order given, as a whole capture file.
func WriteCapture(w io.Writer, opt CaptureOptions, pkts []Packet) error {
	cw, err := NewCaptureWriter(w, opt)
	if err != nil {
		return err
	}
	for _, p := range pkts {
		if err := cw.WritePacket(p); err != nil {
			return err
		}
	}
	return cw.Flush()
}

// Capture is several streams recorded at one point, each optionally after
// the SIP INVITE and 200 OK that set it up.
type Capture struct {
	Streams []Stream
	// SIP adds, 100 ms before each stream's Start (or at 0), an INVITE from
	// the stream's sender and a 200 OK from its receiver, with SDP bodies
	// that name the stream's payload types (see SIPDialog).
	SIP bool
}

// Packets returns every packet of the capture in arrival order; packets
// arriving at the same time keep the order of Streams and of sending.
func (c Capture) Packets() ([]Packet, error) {
	var all []Packet
	for i, s := range c.Streams {
		if c.SIP {
			at := max(0, s.Start-100*time.Millisecond)
			all = append(all, SIPDialog(s, fmt.Sprintf("denwa-%d-%08x", i, s.SSRC), at)...)
		}
		ps, err := s.Packets()
		if err != nil {
			return nil, fmt.Errorf("stream %d: %w", i, err)
		}
		all = append(all, ps...)
	}
	slices.SortStableFunc(all, func(a, b Packet) int { return cmpDur(a.At, b.At) })
	return all, nil
}

// WriteTo writes the capture as a file in the given format.
func (c Capture) WriteTo(w io.Writer, opt CaptureOptions) error {
	pkts, err := c.Packets()
	if err != nil {
		return err
	}
	return WriteCapture(w, opt, pkts)
}

// WriteStreams writes the streams as one capture without holding their
// packets in memory: each stream is generated as it is written and the
// streams are merged by arrival time. Streams must have no Jitter or Burst
// (they would reorder packets within a stream). It returns the number of
// packets written.
func WriteStreams(w io.Writer, opt CaptureOptions, streams []Stream) (int, error) {
	cw, err := NewCaptureWriter(w, opt)
	if err != nil {
		return 0, err
	}
	h := make(genHeap, 0, len(streams))
	for i, s := range streams {
		if s.Net.Jitter != 0 || s.Net.Burst != 0 {
			return 0, fmt.Errorf("%w: stream %d: WriteStreams cannot reorder jittered packets", ErrBadStream, i)
		}
		g, err := newGen(s)
		if err != nil {
			return 0, fmt.Errorf("stream %d: %w", i, err)
		}
		if p, ok := g.next(); ok {
			h = append(h, genItem{g: g, p: p, idx: i})
		}
	}
	heap.Init(&h)
	for len(h) > 0 {
		it := &h[0]
		if err := cw.WritePacket(it.p); err != nil {
			return cw.Count(), err
		}
		if p, ok := it.g.next(); ok {
			it.p = p
			heap.Fix(&h, 0)
		} else {
			heap.Pop(&h)
		}
	}
	return cw.Count(), cw.Flush()
}

type genItem struct {
	g   *gen
	p   Packet
	idx int
}

type genHeap []genItem

func (h genHeap) Len() int { return len(h) }
func (h genHeap) Less(i, j int) bool {
	if h[i].p.At != h[j].p.At {
		return h[i].p.At < h[j].p.At
	}
	return h[i].idx < h[j].idx
}
func (h genHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *genHeap) Push(x any)   { *h = append(*h, x.(genItem)) }
func (h *genHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
