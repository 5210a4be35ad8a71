package capture

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// Datagram is one UDP datagram from a capture.
type Datagram struct {
	Time     time.Time // capture timestamp (UTC)
	Src, Dst netip.AddrPort
	// Payload is the UDP payload. It aliases the Reader's buffer
	// and is valid only until the next call to Next: copy what you keep.
	Payload []byte
}

// Stats counts what a Reader has read.
type Stats struct {
	Records   int64 // complete packet records read
	UDP       int64 // UDP datagrams returned by Next
	Fragments int64 // IPv4/IPv6 fragments skipped (not reassembled)
	Short     int64 // UDP datagrams skipped because the capture's snap length cut them
	Other     int64 // records of other protocols or link types, skipped
	Malformed int64 // records whose link, IP or UDP header did not decode
}

// Reader reads the UDP datagrams of a packet capture: pcap (either
// byte order, micro- or nanosecond timestamps) or pcapng, told apart by
// their first bytes whatever the file is called, and either of them
// gzip-compressed. Link types: Ethernet (with 802.1Q/802.1ad VLAN tags),
// Linux cooked capture v1 and v2 (SLL, SLL2), BSD loopback/NULL, and raw
// IPv4/IPv6. UDP over IPv4 and IPv6 (with extension headers); UDP
// checksums are not checked, since loopback captures carry bad ones. IP
// fragments are skipped, not reassembled: RTP never fragments, and a SIP
// message so large that it does only costs its SDP (see Detect).
//
// Decoding is done by gopacket's layers into reused structs, and records
// by pcapgo's zero-copy reads: Next does not allocate per packet. A
// Reader is not safe for concurrent use.
type Reader struct {
	format string
	pcap   *pcapgo.Reader
	ng     *pcapgo.NgReader
	link   layers.LinkType // pcap's link type; pcapng gives one per packet
	err    error           // sticky
	stats  Stats

	eth   layers.Ethernet
	vlan  layers.Dot1Q
	sll   layers.LinuxSLL
	sll2  layers.LinuxSLL2
	loop  layers.Loopback
	ip4   layers.IPv4
	ip6   layers.IPv6
	ip6x  layers.IPv6ExtensionSkipper
	udp   layers.UDP
	frame int64 // record count, for error messages
}

// Magic numbers of the capture formats (pcap: libpcap's file header;
// pcapng: the Section Header Block type, 0x0A0D0D0A in either order).
const (
	pcapMicroLE = 0xA1B2C3D4
	pcapNanoLE  = 0xA1B23C4D
	pcapngSHB   = 0x0A0D0D0A
)

// NewReader reads the capture header from r. It returns an error
// wrapping ErrFormat when r is not a pcap or pcapng capture (or is
// corrupt from its start), and ErrLinkType for a pcap of a link type it
// does not decode.
func NewReader(r io.Reader) (*Reader, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	magic, err := br.Peek(4)
	if len(magic) >= 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, zerr := gzip.NewReader(br)
		if zerr != nil {
			return nil, fmt.Errorf("%w: gzip: %w", ErrFormat, zerr)
		}
		br = bufio.NewReaderSize(zr, 1<<16)
		magic, err = br.Peek(4)
	}
	if err != nil {
		if len(magic) == 0 {
			return nil, fmt.Errorf("%w: empty input", ErrFormat)
		}
		return nil, fmt.Errorf("%w: %d bytes", ErrFormat, len(magic))
	}
	c := &Reader{}
	le, be := binary.LittleEndian.Uint32(magic), binary.BigEndian.Uint32(magic)
	switch {
	case le == pcapngSHB:
		c.format = "pcapng"
		c.ng, err = pcapgo.NewNgReader(br, pcapgo.NgReaderOptions{WantMixedLinkType: true, SkipUnknownVersion: true})
	case le == pcapMicroLE || be == pcapMicroLE || le == pcapNanoLE || be == pcapNanoLE:
		c.format = "pcap"
		c.pcap, err = pcapgo.NewReader(br)
		if err == nil {
			c.link = c.pcap.LinkType()
			if !linkSupported(c.link) {
				return nil, fmt.Errorf("%w: %s (%d)", ErrLinkType, c.link, uint32(c.link))
			}
		}
	default:
		return nil, fmt.Errorf("%w: starts with % x", ErrFormat, magic)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s header: %w", ErrFormat, c.format, err)
	}
	return c, nil
}

// Format returns "pcap" or "pcapng".
func (c *Reader) Format() string { return c.format }

// String describes the reader, for pipeline dumps.
func (c *Reader) String() string {
	if c.pcap != nil {
		return fmt.Sprintf("capture.Reader(pcap, %s)", c.link)
	}
	return "capture.Reader(pcapng)"
}

// Stats returns the counts so far.
func (c *Reader) Stats() Stats { return c.stats }

func linkSupported(l layers.LinkType) bool {
	switch l {
	case layers.LinkTypeEthernet, layers.LinkTypeLinuxSLL, layers.LinkTypeLinuxSLL2,
		layers.LinkTypeNull, layers.LinkTypeLoop,
		layers.LinkTypeRaw, layers.LinkTypeIPv4, layers.LinkTypeIPv6, linkTypeRawAlt:
		return true
	}
	return false
}

// linkTypeRawAlt is DLT_RAW as some BSDs number it in pcap files (12).
const linkTypeRawAlt layers.LinkType = 12

// Next returns the next UDP datagram. Other packets are skipped and
// counted in Stats. At the end of the capture it returns io.EOF; when the
// capture stops in the middle of a record, an error wrapping ErrTruncated
// (after every complete packet); for a malformed record, an error wrapping
// ErrCorrupt (and ErrFormat too when it is the first record). Errors
// are sticky.
func (c *Reader) Next() (Datagram, error) {
	for c.err == nil {
		var data []byte
		var ci gopacket.CaptureInfo
		var err error
		link := c.link
		if c.pcap != nil {
			data, ci, err = c.pcap.ZeroCopyReadPacketData()
		} else {
			data, ci, err = c.ng.ZeroCopyReadPacketData()
			if err == nil && len(ci.AncillaryData) > 0 {
				link, _ = ci.AncillaryData[0].(layers.LinkType)
			}
		}
		if err == io.EOF && ci.CaptureLength > 0 {
			// pcapgo read a whole record header, then no byte of its data.
			err = io.ErrUnexpectedEOF
		}
		if err != nil {
			c.err = c.recordError(err)
			break
		}
		c.frame++
		c.stats.Records++
		if d, ok := c.decode(link, data); ok {
			d.Time = ci.Timestamp
			c.stats.UDP++
			return d, nil
		}
	}
	return Datagram{}, c.err
}

func (c *Reader) recordError(err error) error {
	switch {
	case err == io.EOF:
		return io.EOF
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%w: after %d complete packets", ErrTruncated, c.frame)
	}
	if c.frame == 0 { // corrupt from its start: not a usable capture
		return fmt.Errorf("%w: %w: record 1: %w", ErrFormat, ErrCorrupt, err)
	}
	return fmt.Errorf("%w: record %d: %w", ErrCorrupt, c.frame+1, err)
}

// decode walks the link, IP and UDP headers of one record.
func (c *Reader) decode(link layers.LinkType, data []byte) (Datagram, bool) {
	df := gopacket.NilDecodeFeedback
	var next gopacket.LayerType
	switch link {
	case layers.LinkTypeEthernet:
		if c.eth.DecodeFromBytes(data, df) != nil {
			c.stats.Malformed++
			return Datagram{}, false
		}
		next, data = c.eth.NextLayerType(), c.eth.Payload
	case layers.LinkTypeLinuxSLL:
		if c.sll.DecodeFromBytes(data, df) != nil {
			c.stats.Malformed++
			return Datagram{}, false
		}
		next, data = c.sll.NextLayerType(), c.sll.Payload
	case layers.LinkTypeLinuxSLL2:
		if c.sll2.DecodeFromBytes(data, df) != nil {
			c.stats.Malformed++
			return Datagram{}, false
		}
		next, data = c.sll2.NextLayerType(), c.sll2.Payload
	case layers.LinkTypeNull, layers.LinkTypeLoop:
		if c.loop.DecodeFromBytes(data, df) != nil {
			c.stats.Malformed++
			return Datagram{}, false
		}
		next, data = c.loop.NextLayerType(), c.loop.Payload
	case layers.LinkTypeRaw, layers.LinkTypeIPv4, layers.LinkTypeIPv6, linkTypeRawAlt:
		next = gopacket.LayerTypeZero
		if len(data) > 0 {
			switch data[0] >> 4 {
			case 4:
				next = layers.LayerTypeIPv4
			case 6:
				next = layers.LayerTypeIPv6
			}
		}
	default:
		c.stats.Other++
		return Datagram{}, false
	}
	for range 8 { // VLAN tags and IPv6 extension headers, bounded
		switch next {
		case layers.LayerTypeDot1Q:
			if c.vlan.DecodeFromBytes(data, df) != nil {
				c.stats.Malformed++
				return Datagram{}, false
			}
			next, data = c.vlan.NextLayerType(), c.vlan.Payload
			continue
		case layers.LayerTypeIPv4:
			return c.decodeIPv4(data)
		case layers.LayerTypeIPv6:
			return c.decodeIPv6(data)
		}
		break
	}
	c.stats.Other++
	return Datagram{}, false
}

func (c *Reader) decodeIPv4(data []byte) (Datagram, bool) {
	if c.ip4.DecodeFromBytes(data, gopacket.NilDecodeFeedback) != nil {
		c.stats.Malformed++
		return Datagram{}, false
	}
	if c.ip4.Flags&layers.IPv4MoreFragments != 0 || c.ip4.FragOffset != 0 {
		c.stats.Fragments++
		return Datagram{}, false
	}
	if c.ip4.Protocol != layers.IPProtocolUDP {
		c.stats.Other++
		return Datagram{}, false
	}
	src, _ := netip.AddrFromSlice(c.ip4.SrcIP)
	dst, _ := netip.AddrFromSlice(c.ip4.DstIP)
	return c.decodeUDP(c.ip4.Payload, src, dst)
}

func (c *Reader) decodeIPv6(data []byte) (Datagram, bool) {
	if c.ip6.DecodeFromBytes(data, gopacket.NilDecodeFeedback) != nil {
		c.stats.Malformed++
		return Datagram{}, false
	}
	next, payload := c.ip6.NextLayerType(), c.ip6.Payload
	for range 8 {
		switch {
		case next == layers.LayerTypeUDP:
			src, _ := netip.AddrFromSlice(c.ip6.SrcIP)
			dst, _ := netip.AddrFromSlice(c.ip6.DstIP)
			return c.decodeUDP(payload, src, dst)
		case next == layers.LayerTypeIPv6Fragment:
			c.stats.Fragments++
			return Datagram{}, false
		case layers.LayerClassIPv6Extension.Contains(next):
			if c.ip6x.DecodeFromBytes(payload, gopacket.NilDecodeFeedback) != nil {
				c.stats.Malformed++
				return Datagram{}, false
			}
			next, payload = c.ip6x.NextLayerType(), c.ip6x.Payload
			continue
		}
		break
	}
	c.stats.Other++
	return Datagram{}, false
}

func (c *Reader) decodeUDP(data []byte, src, dst netip.Addr) (Datagram, bool) {
	if c.udp.DecodeFromBytes(data, gopacket.NilDecodeFeedback) != nil {
		c.stats.Malformed++
		return Datagram{}, false
	}
	if int(c.udp.Length) > len(data) {
		c.stats.Short++
		return Datagram{}, false
	}
	return Datagram{
		Src:     netip.AddrPortFrom(src.Unmap(), uint16(c.udp.SrcPort)),
		Dst:     netip.AddrPortFrom(dst.Unmap(), uint16(c.udp.DstPort)),
		Payload: c.udp.Payload,
	}, true
}
