package capture

import "errors"

// Sentinel errors, wrapped with %w and the values that matter.
var (
	// ErrFormat: the input is not a pcap or pcapng capture, or is corrupt
	// from its first bytes.
	ErrFormat = errors.New("capture: not a pcap or pcapng capture")
	// ErrTruncated: the capture ends in the middle of a packet record, as
	// when tcpdump is killed; every complete packet before it was returned.
	ErrTruncated = errors.New("capture: cut short in the middle of a packet")
	// ErrCorrupt: a packet record inside the capture is malformed (a length
	// beyond the snap length, an unknown interface); reading stops there.
	ErrCorrupt = errors.New("capture: corrupt packet record")
	// ErrLinkType: the capture's link-layer type is not one denwa decodes
	// (Ethernet, Linux cooked SLL/SLL2, BSD loopback/NULL, raw IP).
	ErrLinkType = errors.New("capture: unsupported link type")
)
