// Package mediatest builds RTP streams and packet captures for tests and
// benchmarks of denwa's media path, in the manner of net/http/httptest.
//
// A [Stream] describes one direction of one call: addresses, payload types,
// start sequence number and timestamp, and the key presses it carries, each
// either as in-band tones in the G.711 audio ([Inband]), as RFC 4733
// telephone-event packets ([RFC4733], with the quirks of real senders in
// [EventQuirks]) or both at once. [Stream.Packets] turns it into timed packets,
// with optional loss, jitter and bursts ([Network]); a [Capture] interleaves
// several streams, optionally after a SIP INVITE / 200 OK pair carrying SDP,
// and writes them as pcap or pcapng ([CaptureOptions]). [WriteStreams] writes
// very large captures without holding them in memory, and [LoadStreams] plans
// the streams for one.
//
// Everything is deterministic: the same specs produce the same bytes, which
// is what lets the synthetic captures in testdata/captures be checked byte
// for byte (see TestGenerateCaptures).
//
// The truth a capture holds is what was sent: [Capture.Digits] and
// [Capture.Keys] render it in the formats of testdata/captures/*.digits and
// *.keys.
//
// [ReadCapture] reads captures back with gopacket, as a reference to check
// the capture reader of package media/capture against.
//
// [Synth] writes one RTP stream by hand, packet by packet, and [KeyChan]
// collects the keys a media.Session or sip.Call hands its key sink.
//
// [RequireTool] and [RequireInterop] implement the project's rule for tests
// that need outside tools (sipp, tshark, …): skip when a tool is missing,
// fail instead when DENWA_REQUIRE_INTEROP=1.
//
// RTP packet layout (RFC 3550 §5.1) and the RFC 4733 §2.3 event payload that
// this package writes:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|V=2|P|X|  CC   |M|     PT      |       sequence number         |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                           timestamp                           |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                             SSRC                              |
//	+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
//	|     event     |E|R| volume    |          duration             |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Nothing here is safe for concurrent use unless stated; values are plain
// specs and can be copied.
package mediatest
