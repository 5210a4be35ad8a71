// Package enroll is denwa's enrollment service. So far it holds the call
// outcomes the whole system shares and the verification dialogue.
//
// # Outcomes
//
// [Outcome] is the closed set of ways a verification call ends
// ("verified", "no-answer", "busy", "rejected", "unreachable", "no-input",
// "wrong-input", "hung-up", "fraud-reported", "failed"); the zero value is
// unknown. A [Result] carries the outcome, the cause of a failure and the
// timeline of the dialogue; [Result.Err] turns it into an [*OutcomeError],
// and [Outcome.ExitCode] is the exit status of `denwa call`.
//
// # The dialogue
//
// [Dialogue.Run] holds the dialogue over a [Line], an answered call seen
// through a small interface this package owns: play a prompt, the keys as
// they arrive, hang up, and whether and why the call ended. cmd/denwa adapts
// a SIP call to it; package enroll imports neither sip, media nor audio.
// Tests use the scriptable fake in package enrolltest.
//
// The meaning of a key sequence is this package's policy, kept in one
// function: # and *# verify (one leading * is the analog caller's switch to
// tones), 0# and *0# report fraud, anything else is a wrong key. The flow
// around it (greeting repeats, barge-in, timeouts, re-prompts, final
// prompts) is documented on [Dialogue.Run].
//
// # Time and goroutines
//
// The dialogue reads the time package's clock and timers; its tests run
// inside [testing/synctest] bubbles, where every timeout is exact and takes
// no real time. A Run starts one goroutine per prompt, which calls
// Line.Play while Run watches the keys, and waits for it to end before it
// goes on: when Run returns, no goroutine it started is left.
package enroll
