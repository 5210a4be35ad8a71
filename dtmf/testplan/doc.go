// Package testplan is the shared vocabulary of denwa's DTMF test bench: what
// a test plan is, what each of its cases sends, what the far end heard, how
// the two are matched and judged, and how the result is written.
//
// A [Plan] is a list of [Case] values. Each case sends one key in one [Mode]
// (in-band tones, RFC 4733 telephone-events or a SIP INFO request), describes
// exactly how ([Inband], [RFC4733], [SIPInfo]) and says what a correct
// receiver must do with it ([Expect]: detect it exactly once, reject it, or
// either). Built-in plans come from [Builtin] ("q24", "japan", "quick"); any
// other plan is a JSON file read by [Parse], which refuses hostile input with
// a clear error and enforces the limits in limits.go; [Load] takes either.
//
// Senders turn a case into what goes on the wire: [Case.AppendSamples] (in-band
// audio at 8000 Hz, deterministic for a case ID), [Case.AppendEvents] (the
// telephone-event packets, quirks applied) and [Case.InfoBody] (the SIP INFO
// Content-Type and body). [Schedule] lays the cases of a plan end to end in
// time; [Assign] gives each key the far end heard to the case it belongs to;
// [Judge] applies the case's expectation; [Report] collects the results and is
// written as a table ([Report.WriteTable]), JSON ([Report.WriteJSON]) or JUnit
// XML ([Report.WriteJUnit]).
//
// [Run] is the offline conformance runner: it passes every case through the
// real dtmf.Detector, dtmf.EventDecoder and dtmf.ParseInfo, with no network.
//
// Like dtmf, this package does no I/O of its own (readers and writers are the
// caller's), reads no clock and starts no goroutines. Times are whole
// milliseconds in plans (what a person writes in a plan file) and float
// milliseconds in results; samples at 8000 Hz inside synthesis.
package testplan
