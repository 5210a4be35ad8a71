// Package media is denwa's RTP layer below SIP: it receives RTP (RFC 3550)
// carrying G.711 audio and RFC 4733 telephone-events, and finds the DTMF
// keys in it with package dtmf. Live calls and recorded captures go through
// the same receive path: a [Receiver] is a push sink fed one packet at a
// time, either by a live [Session] or by package media/capture, which reads
// pcap and pcapng files. [ParseDatagram] tells RTP from RTCP and from
// anything else and parses the header in the same pass; every such test
// lives in mux.go.
//
// The send side serves live calls: a [Session] per call streams 20 ms G.711
// frames (prompts, silence, the phone simulator's key presses) paced by one
// shared [Pacer] for all calls, receives the far end's RTP into its
// Receiver (from the SDP address only, unless a NAT'd source is learned
// on purpose, and only keys that began after the answer) with a media
// timeout, hands the keys to its [KeySink], and binds its socket from a
// [PortPool], which draws ports at random. [Offer],
// [ParseAnswer] and [AnswerOffer] build and read the SDP (RFC 3264) with
// pion/sdp; with [SRTPMode] on they exchange SDES keys ([Crypto], RFC 4568)
// and the session protects its RTP with pion/srtp (srtp.go). Keys are
// never printed: every formatter of Crypto and [SRTPKeys] redacts them.
//
// Goroutines: a Pacer runs one goroutine per shard, which sends every
// session's frames and, on Linux, reads their UDP sockets without blocking
// in the same walk. A session whose socket cannot be polled (the in-memory
// ones of media/mediatest, other platforms) runs one read goroutine, which
// Close waits for. A session's KeySink is called on whichever of these
// reads the socket, one call at a time, or on the goroutine that ends the
// session for the keys still sounding then.
//
// Guarantees:
//   - A Receiver is a plain value owned by one goroutine; it starts no
//     goroutines and takes no locks. Its packet path (HandleRTP,
//     HandlePacket) does not allocate in steady state and does not log;
//     it keeps plain counters (see [StreamStats]). A Session's send and
//     receive paths do not allocate per packet either (SRTP included), and log only
//     rate-limited changes (a source learned, foreign sources).
//   - Time on the packet path is the stream's RTP timestamp, extended to 64
//     bits; wall clocks enter only as capture timestamps or an injected
//     clock (SessionConfig.Now).
//   - Buffers passed in are not retained after a call returns: Play's
//     frames may be shared read-only prompt frames, and a payload handed to
//     HandleRTP is read before it returns.
//   - media imports neither SIP, enrollment nor HTTP code, nor the capture
//     reader (gopacket): the live path does not carry offline tools.
package media
