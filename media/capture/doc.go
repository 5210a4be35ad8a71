// Package capture finds the DTMF keys in recorded calls. [Reader] reads the
// UDP datagrams of a pcap or pcapng file (decoded with gopacket); [Detect]
// sorts them into RTP streams and runs each through its own
// media.Receiver, the receive path live calls use, with the payload types
// that the SIP messages of the same capture negotiated ([LooksLikeSIP],
// [SIPBody], media.ParseSDPAudio).
//
// It is offline analysis, for `denwa detect` and tests. Package media,
// which every live call uses, neither imports it nor gopacket; the
// layering test of cmd/denwa keeps it so.
//
// Guarantees:
//   - A Reader is not safe for concurrent use. Next does not allocate per
//     packet, and the Datagram it returns aliases the reader's buffer: it
//     is valid only until the next call.
//   - Detect reads its input once, then detects the streams in parallel on
//     Options.Workers goroutines, which have all ended when it returns.
package capture
