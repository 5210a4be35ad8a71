package capture

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// tpkt is one datagram to write into a test capture.
type tpkt struct {
	at       time.Duration
	src, dst netip.AddrPort
	payload  []byte
	frag     bool // an IP fragment (MF set) instead of a whole datagram
	tcp      bool // TCP instead of UDP
	vlan     bool // an 802.1Q tag (Ethernet only)
	snap     int  // cut the record to this many bytes
}

var epoch = time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC)

// ipFrame serializes the IP packet of p (with checksums).
func ipFrame(t testing.TB, p tpkt) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	var ls []gopacket.SerializableLayer
	var netLayer gopacket.NetworkLayer
	proto := layers.IPProtocolUDP
	if p.tcp {
		proto = layers.IPProtocolTCP
	}
	if p.src.Addr().Is4() {
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: proto, SrcIP: p.src.Addr().AsSlice(), DstIP: p.dst.Addr().AsSlice()}
		if p.frag {
			ip.Flags = layers.IPv4MoreFragments
		}
		ls, netLayer = append(ls, ip), ip
	} else {
		ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: proto, SrcIP: p.src.Addr().AsSlice(), DstIP: p.dst.Addr().AsSlice()}
		ls, netLayer = append(ls, ip), ip
		if p.frag {
			ip.NextHeader = layers.IPProtocolIPv6Fragment
			ls = append(ls, &layers.IPv6Fragment{NextHeader: proto, MoreFragments: true, Identification: 7})
		}
	}
	if p.tcp {
		tcp := &layers.TCP{SrcPort: layers.TCPPort(p.src.Port()), DstPort: layers.TCPPort(p.dst.Port()), ACK: true, Window: 1000}
		tcp.SetNetworkLayerForChecksum(netLayer)
		ls = append(ls, tcp)
	} else {
		udp := &layers.UDP{SrcPort: layers.UDPPort(p.src.Port()), DstPort: layers.UDPPort(p.dst.Port())}
		udp.SetNetworkLayerForChecksum(netLayer)
		ls = append(ls, udp)
	}
	ls = append(ls, gopacket.Payload(p.payload))
	if err := gopacket.SerializeLayers(buf, opts, ls...); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// linkFrame wraps p's IP packet in the link layer.
func linkFrame(t testing.TB, link layers.LinkType, p tpkt) []byte {
	t.Helper()
	ip := ipFrame(t, p)
	etype := layers.EthernetTypeIPv4
	if !p.src.Addr().Is4() {
		etype = layers.EthernetTypeIPv6
	}
	switch link {
	case layers.LinkTypeEthernet:
		buf := gopacket.NewSerializeBuffer()
		eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: etype}
		ls := []gopacket.SerializableLayer{eth}
		if p.vlan {
			eth.EthernetType = layers.EthernetTypeDot1Q
			ls = append(ls, &layers.Dot1Q{VLANIdentifier: 42, Type: etype})
		}
		ls = append(ls, gopacket.Payload(ip))
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{}, ls...); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	case layers.LinkTypeLinuxSLL: // 16-byte cooked header
		h := make([]byte, 16)
		binary.BigEndian.PutUint16(h[0:], 4) // outgoing
		binary.BigEndian.PutUint16(h[2:], 772)
		binary.BigEndian.PutUint16(h[4:], 6)
		binary.BigEndian.PutUint16(h[14:], uint16(etype))
		return append(h, ip...)
	case layers.LinkTypeLinuxSLL2: // 20-byte cooked header v2
		h := make([]byte, 20)
		binary.BigEndian.PutUint16(h[0:], uint16(etype))
		binary.BigEndian.PutUint32(h[4:], 1)
		binary.BigEndian.PutUint16(h[8:], 772)
		h[10], h[11] = 0, 6
		return append(h, ip...)
	case layers.LinkTypeNull: // host-order (little-endian) address family
		fam := uint32(2)
		if !p.src.Addr().Is4() {
			fam = 30 // macOS AF_INET6
		}
		return append(binary.LittleEndian.AppendUint32(nil, fam), ip...)
	case layers.LinkTypeLoop: // network-order address family
		fam := uint32(2)
		if !p.src.Addr().Is4() {
			fam = 24
		}
		return append(binary.BigEndian.AppendUint32(nil, fam), ip...)
	case layers.LinkTypeRaw, layers.LinkTypeIPv4, layers.LinkTypeIPv6:
		return ip
	}
	t.Fatalf("link type %v", link)
	return nil
}

// writePcap writes pkts as a little-endian microsecond pcap.
func writePcap(t testing.TB, link layers.LinkType, pkts []tpkt) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := pcapgo.NewWriter(&buf)
	if err := w.WriteFileHeader(65535, link); err != nil {
		t.Fatal(err)
	}
	for _, p := range pkts {
		data := linkFrame(t, link, p)
		ci := gopacket.CaptureInfo{Timestamp: epoch.Add(p.at), CaptureLength: len(data), Length: len(data)}
		if p.snap > 0 && p.snap < len(data) {
			data, ci.CaptureLength = data[:p.snap], p.snap
		}
		if err := w.WritePacket(ci, data); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

// writePcapng writes pkts as pcapng.
func writePcapng(t testing.TB, link layers.LinkType, pkts []tpkt) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := pcapgo.NewNgWriter(&buf, link)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pkts {
		data := linkFrame(t, link, p)
		ci := gopacket.CaptureInfo{Timestamp: epoch.Add(p.at), CaptureLength: len(data), Length: len(data)}
		if err := w.WritePacket(ci, data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// toBigEndian rewrites a little-endian pcap as big-endian, optionally
// with nanosecond timestamps.
func toBigEndian(t testing.TB, le []byte, nanos bool) []byte {
	t.Helper()
	b := bytes.Clone(le)
	swap32 := func(o int) { binary.BigEndian.PutUint32(b[o:], binary.LittleEndian.Uint32(b[o:])) }
	swap16 := func(o int) { binary.BigEndian.PutUint16(b[o:], binary.LittleEndian.Uint16(b[o:])) }
	if nanos {
		binary.LittleEndian.PutUint32(b, pcapNanoLE)
	}
	swap32(0)
	swap16(4)
	swap16(6)
	for _, o := range []int{8, 12, 16, 20} {
		swap32(o)
	}
	for o := 24; o+16 <= len(b); {
		n := int(binary.LittleEndian.Uint32(b[o+8:]))
		if nanos {
			us := binary.LittleEndian.Uint32(b[o+4:])
			binary.LittleEndian.PutUint32(b[o+4:], us*1000)
		}
		for _, f := range []int{0, 4, 8, 12} {
			swap32(o + f)
		}
		o += 16 + n
	}
	return b
}

// silenceFrame is 20 ms of μ-law silence.
var silenceFrame = bytes.Repeat([]byte{0xFF}, 160)

var (
	a4 = netip.MustParseAddrPort("192.0.2.10:40000")
	b4 = netip.MustParseAddrPort("198.51.100.20:50000")
	a6 = netip.MustParseAddrPort("[2001:db8::a]:40002")
	b6 = netip.MustParseAddrPort("[2001:db8::b]:50002")
)

func readAll(t testing.TB, in []byte) ([]Datagram, *Reader, error) {
	t.Helper()
	cr, err := NewReader(bytes.NewReader(in))
	if err != nil {
		return nil, nil, err
	}
	var out []Datagram
	for {
		d, err := cr.Next()
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return out, cr, err
		}
		d.Payload = bytes.Clone(d.Payload)
		out = append(out, d)
	}
}

func TestReaderLinkTypes(t *testing.T) {
	pkts := []tpkt{
		{at: 0, src: a4, dst: b4, payload: []byte("hello v4")},
		{at: 20 * time.Millisecond, src: a6, dst: b6, payload: []byte("hello v6")},
		{at: 40 * time.Millisecond, src: b4, dst: a4, payload: []byte{}},
	}
	links := []layers.LinkType{layers.LinkTypeEthernet, layers.LinkTypeLinuxSLL, layers.LinkTypeLinuxSLL2,
		layers.LinkTypeNull, layers.LinkTypeLoop, layers.LinkTypeRaw, layers.LinkTypeIPv4}
	for _, link := range links {
		for _, format := range []string{"pcap", "pcapng", "pcap-be", "pcap-be-nanos", "pcap.gz"} {
			t.Run(link.String()+"/"+format, func(t *testing.T) {
				var in []byte
				switch format {
				case "pcapng":
					in = writePcapng(t, link, pkts)
				default:
					in = writePcap(t, link, pkts)
				}
				switch format {
				case "pcap-be":
					in = toBigEndian(t, in, false)
				case "pcap-be-nanos":
					in = toBigEndian(t, in, true)
				case "pcap.gz":
					var z bytes.Buffer
					zw := gzip.NewWriter(&z)
					zw.Write(in)
					zw.Close()
					in = z.Bytes()
				}
				got, cr, err := readAll(t, in)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != len(pkts) {
					t.Fatalf("%d datagrams, want %d (stats %+v)", len(got), len(pkts), cr.Stats())
				}
				for i, p := range pkts {
					g := got[i]
					if g.Src != p.src || g.Dst != p.dst || !bytes.Equal(g.Payload, p.payload) || !g.Time.Equal(epoch.Add(p.at)) {
						t.Errorf("datagram %d: %v → %v %q at %v", i, g.Src, g.Dst, g.Payload, g.Time)
					}
				}
				if want := map[bool]string{true: "pcapng", false: "pcap"}[format == "pcapng"]; cr.Format() != want {
					t.Errorf("Format() = %q", cr.Format())
				}
			})
		}
	}
}

func TestReaderSkips(t *testing.T) {
	pkts := []tpkt{
		{src: a4, dst: b4, payload: []byte("one")},
		{src: a4, dst: b4, payload: []byte("frag4"), frag: true},
		{src: a6, dst: b6, payload: []byte("frag6"), frag: true},
		{src: a4, dst: b4, payload: []byte("tcp"), tcp: true},
		{src: a6, dst: b6, payload: []byte("tcp6"), tcp: true},
		{src: a4, dst: b4, payload: []byte("vlan"), vlan: true},
		{src: a4, dst: b4, payload: bytes.Repeat([]byte("x"), 200), snap: 100},
		{src: a6, dst: b6, payload: []byte("last")},
	}
	got, cr, err := readAll(t, writePcap(t, layers.LinkTypeEthernet, pkts))
	if err != nil {
		t.Fatal(err)
	}
	var payloads []string
	for _, d := range got {
		payloads = append(payloads, string(d.Payload))
	}
	if len(got) != 3 || payloads[0] != "one" || payloads[1] != "vlan" || payloads[2] != "last" {
		t.Errorf("got %q", payloads)
	}
	want := Stats{Records: 8, UDP: 3, Fragments: 2, Short: 1, Other: 2}
	if cr.Stats() != want {
		t.Errorf("stats\n got %+v\nwant %+v", cr.Stats(), want)
	}
}

// A capture cut anywhere inside its last record gives every complete
// packet and then ErrTruncated; a cut between records is a clean end.
func TestReaderTruncated(t *testing.T) {
	pkts := []tpkt{{src: a4, dst: b4, payload: []byte("one")}, {src: a4, dst: b4, payload: []byte("two")}, {src: a4, dst: b4, payload: []byte("three")}}
	for _, format := range []string{"pcap", "pcapng"} {
		var full, upTo2 []byte
		if format == "pcap" {
			full, upTo2 = writePcap(t, layers.LinkTypeEthernet, pkts), writePcap(t, layers.LinkTypeEthernet, pkts[:2])
		} else {
			full, upTo2 = writePcapng(t, layers.LinkTypeEthernet, pkts), writePcapng(t, layers.LinkTypeEthernet, pkts[:2])
		}
		for cut := len(upTo2); cut <= len(full); cut++ {
			got, _, err := readAll(t, full[:cut])
			switch cut {
			case len(upTo2):
				if err != nil || len(got) != 2 {
					t.Errorf("%s cut between records: %d datagrams, %v", format, len(got), err)
				}
			case len(full):
				if err != nil || len(got) != 3 {
					t.Errorf("%s whole: %d datagrams, %v", format, len(got), err)
				}
			default:
				if !errors.Is(err, ErrTruncated) || len(got) != 2 {
					t.Errorf("%s cut at %d of %d: %d datagrams, %v", format, cut, len(full), len(got), err)
				}
			}
		}
	}
}

func TestReaderNotCapture(t *testing.T) {
	good := writePcap(t, layers.LinkTypeEthernet, []tpkt{{src: a4, dst: b4, payload: []byte("x")}})
	badVersion := bytes.Clone(good)
	badVersion[4] = 9
	ng := writePcapng(t, layers.LinkTypeEthernet, nil)
	badNG := bytes.Clone(ng)
	badNG[8] = 0 // byte-order magic
	cases := []struct {
		name string
		in   []byte
		err  error
	}{
		{"empty", nil, ErrFormat},
		{"3 bytes", []byte{0xd4, 0xc3, 0xb2}, ErrFormat},
		{"text", []byte("INVITE sip:1000@example.com SIP/2.0\r\n"), ErrFormat},
		{"WAV", []byte("RIFF\x24\x00\x00\x00WAVEfmt "), ErrFormat},
		{"pcap header cut", good[:20], ErrFormat},
		{"pcap version 9", badVersion, ErrFormat},
		{"pcapng bad byte order", badNG, ErrFormat},
		{"pcapng header cut", ng[:10], ErrFormat},
		{"gzip garbage", []byte{0x1f, 0x8b, 0, 0, 0, 0}, ErrFormat},
		{"gzipped text", gz([]byte("hello world")), ErrFormat},
		{"pcap of 802.11", writePcap(t, layers.LinkTypeIEEE802_11, nil), ErrLinkType},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := NewReader(bytes.NewReader(c.in))
			if !errors.Is(err, c.err) {
				t.Errorf("err = %v, want %v", err, c.err)
			}
		})
	}
}

func gz(b []byte) []byte {
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write(b)
	zw.Close()
	return z.Bytes()
}

// A record whose length runs past the snap length is corrupt: the
// packets before it are kept.
func TestReaderCorruptRecord(t *testing.T) {
	in := writePcap(t, layers.LinkTypeEthernet, []tpkt{{src: a4, dst: b4, payload: []byte("one")}, {src: a4, dst: b4, payload: []byte("two")}})
	second := 24 + 16 + len(linkFrame(t, layers.LinkTypeEthernet, tpkt{src: a4, dst: b4, payload: []byte("one")}))
	binary.LittleEndian.PutUint32(in[second+8:], 0x7fffffff)
	got, _, err := readAll(t, in)
	if !errors.Is(err, ErrCorrupt) || len(got) != 1 {
		t.Errorf("%d datagrams, %v", len(got), err)
	}
}

func TestReaderZeroAllocs(t *testing.T) {
	var pkts []tpkt
	for i := range 300 {
		pkts = append(pkts, tpkt{at: time.Duration(i) * 20 * time.Millisecond, src: a4, dst: b4, payload: silenceFrame})
		pkts = append(pkts, tpkt{at: time.Duration(i) * 20 * time.Millisecond, src: a6, dst: b6, payload: silenceFrame})
	}
	for _, format := range []string{"pcap", "pcapng"} {
		in := writePcap(t, layers.LinkTypeEthernet, pkts)
		if format == "pcapng" {
			in = writePcapng(t, layers.LinkTypeEthernet, pkts)
		}
		cr, err := NewReader(bytes.NewReader(in))
		if err != nil {
			t.Fatal(err)
		}
		for range 10 {
			cr.Next()
		}
		allocs := testing.AllocsPerRun(200, func() {
			if _, err := cr.Next(); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: Next allocates %v times a packet", format, allocs)
		}
	}
}
