// Package media is denwa's RTP layer below SIP: it receives RTP (RFC 3550)
// carrying G.711 audio and RFC 4733 telephone-events, and finds the DTMF
// keys in it with package dtmf. Live calls and recorded captures go through
// the same receive path: a [Receiver] is a push sink fed one packet at a
// time, either by a socket loop or by [DetectCapture], which reads pcap and
// pcapng files with [CaptureReader].
//
// The send side serves live calls: a [Session] per call streams 20 ms G.711
// frames (prompts, silence, the phone simulator's key presses) paced by one
// shared [Pacer] goroutine for all calls, receives the far end's RTP into
// its Receiver (read by the same Pacer walk, without blocking, on Linux)
// with symmetric-RTP latching and a media timeout, and binds
// its socket from a [PortPool]. [Offer], [ParseAnswer] and [AnswerOffer]
// build and read the SDP (RFC 3264) with pion/sdp.
//
// Guarantees:
//   - A Receiver is a plain value owned by one goroutine; it starts no
//     goroutines and takes no locks. Its packet path (HandleRTP,
//     HandlePacket) does not allocate in steady state and does not log;
//     it keeps plain counters (see [StreamStats]).
//   - Time on the packet path is the stream's RTP timestamp, extended to 64
//     bits; wall clocks enter only as capture timestamps or an injected
//     clock.
//   - Buffers passed in are not retained after a call returns, and buffers
//     handed out (CaptureReader.Next) are valid only until the next call.
//   - media never imports SIP, enrollment or HTTP code.
package media
