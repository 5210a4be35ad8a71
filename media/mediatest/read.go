package mediatest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// ReadCapture reads every UDP datagram of a pcap or pcapng file (told apart
// by their first bytes, whatever the file's name), decoded with gopacket. It
// is a reference reader for tests, independent of media/capture's
// reader: At is the time since the first record, non-UDP records are
// skipped, and a damaged file gives the datagrams before the damage with an
// error. Ethernet, Linux SLL/SLL2, raw IP and BSD loopback links are read.
func ReadCapture(r io.Reader) ([]Packet, error) {
	br := bufio.NewReader(r)
	magic, err := br.Peek(4)
	if err != nil {
		return nil, fmt.Errorf("mediatest: not a capture: %w", err)
	}
	type source interface {
		ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
	}
	var src source
	var link layers.LinkType
	if bytes.Equal(magic, []byte{0x0A, 0x0D, 0x0D, 0x0A}) {
		ng, err := pcapgo.NewNgReader(br, pcapgo.DefaultNgReaderOptions)
		if err != nil {
			return nil, fmt.Errorf("mediatest: pcapng: %w", err)
		}
		src, link = ng, ng.LinkType()
	} else {
		pr, err := pcapgo.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("mediatest: pcap: %w", err)
		}
		src, link = pr, pr.LinkType()
	}
	var out []Packet
	var first time.Time
	for {
		data, ci, err := src.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("mediatest: record %d: %w", len(out)+1, err)
		}
		if first.IsZero() {
			first = ci.Timestamp
		}
		pkt := gopacket.NewPacket(data, link, gopacket.Default)
		udp, _ := pkt.Layer(layers.LayerTypeUDP).(*layers.UDP)
		if udp == nil {
			continue
		}
		var sa, da netip.Addr
		switch ip := pkt.NetworkLayer().(type) {
		case *layers.IPv4:
			sa, _ = netip.AddrFromSlice(ip.SrcIP)
			da, _ = netip.AddrFromSlice(ip.DstIP)
		case *layers.IPv6:
			sa, _ = netip.AddrFromSlice(ip.SrcIP)
			da, _ = netip.AddrFromSlice(ip.DstIP)
		default:
			continue
		}
		out = append(out, Packet{
			At:      ci.Timestamp.Sub(first),
			Src:     netip.AddrPortFrom(sa.Unmap(), uint16(udp.SrcPort)),
			Dst:     netip.AddrPortFrom(da.Unmap(), uint16(udp.DstPort)),
			Payload: bytes.Clone(udp.Payload),
		})
	}
}
