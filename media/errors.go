package media

import "errors"

// Sentinel errors; functions wrap them with %w and the values that matter,
// except on the packet path, which returns them bare so as not to allocate.
var (
	// ErrNotRTP: a packet that is not RTP version 2, or too short for its
	// header, CSRC list, extension or padding.
	ErrNotRTP = errors.New("media: not an RTP packet")
	// ErrTooManyStreams: a packet of a new SSRC beyond
	// ReceiverConfig.MaxStreams; it is dropped.
	ErrTooManyStreams = errors.New("media: too many RTP streams in one session")
	// ErrNotCapture: the input is not a pcap or pcapng file, or is corrupt
	// from its first bytes.
	ErrNotCapture = errors.New("media: not a pcap or pcapng capture")
	// ErrTruncated: the capture ends in the middle of a packet record, as
	// when tcpdump is killed; every complete packet before it was returned.
	ErrTruncated = errors.New("media: capture cut short in the middle of a packet")
	// ErrCorrupt: a packet record inside the capture is malformed (a length
	// beyond the snap length, an unknown interface); reading stops there.
	ErrCorrupt = errors.New("media: corrupt packet record in capture")
	// ErrLinkType: the capture's link-layer type is not one denwa decodes
	// (Ethernet, Linux cooked SLL/SLL2, BSD loopback/NULL, raw IP).
	ErrLinkType = errors.New("media: unsupported capture link type")
	// ErrConfig: a configuration value out of range.
	ErrConfig = errors.New("media: invalid configuration")
)
