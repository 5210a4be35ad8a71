// Package dtmf is denwa's pure signal-processing core for DTMF keys
// (ITU-T Q.23/Q.24 tones and RFC 4733 telephone-events).
//
// It does no I/O, starts no goroutines and takes no locks. Time is counted in
// samples at 8000 Hz, which is also the unit of RTP timestamps for G.711 and
// telephone-event/8000, so events from both sources share one timeline once
// the caller has extended RTP timestamps to 64 bits (see [Clock32]).
//
// Every stateful type here (Detector, EventDecoder, Merger, Collector) is a
// plain value owned by one stream: it is not safe for concurrent use, and
// the hot paths append to a caller-owned slice and do not allocate.
package dtmf
