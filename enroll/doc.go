// Package enroll is denwa's enrollment service: it owns the life of a
// verification phone (認証用電話) from the number a user typed to the app
// password issued once it is verified, the call outcomes the whole system
// shares, and the verification dialogue.
//
// # The service
//
// [Service] creates enrollments ([Service.Create]: a number normalised by
// [NormalizePhone] and checked by ServiceConfig.PhonePolicy, the one place
// the toll-fraud policy is enforced; the front doors in httpapi and webui
// only translate its errors and reach the Store only through the Service),
// places the verification
// call through a [Dialer] this package owns ([Service.StartCall]: abuse
// [Limits] first, then a compare-and-set from pending or a retryable failure
// to calling, so that one call is placed even when asked twice at once, on
// one node or several), records every transition in an audit trail that
// never holds a secret, queues webhooks in an outbox, and pushes state
// changes to subscribers ([Service.Subscribe]). A `0#` fraud report blocks
// the number. The [Store] interface is the one source of truth: SQLite
// (package store/sqlite) for one node, PostgreSQL (store/postgres) for
// several; [Service.Recover] fails calls a crash left in calling, and a
// named node holds a lease in the Store and ends the calls of nodes whose
// lease lapsed ([Service.ReapLostNodes]). App passwords are 16 letters from crypto/rand stored only
// as argon2id hashes ([NewAppPassword], [HashAppPassword]); one-time
// enrollment links are HMAC-signed, expiring tokens ([LinkSigner]) used once
// ([Service.UseLink]); API keys are stored hashed ([NewAPIKey]).
//
// The Service is split by role: service.go (configuration and lifecycle),
// service_enrollments.go, service_calls.go (the call runner),
// service_subscribe.go (publish/subscribe, following a [Watcher] store),
// service_results.go (call ends the store refused, the sweep),
// service_nodes.go (leases and lost nodes), service_credentials.go (API
// keys, links, app passwords); errors.go holds every error value.
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
// tones), 0# and *0# report fraud, anything else is a wrong key. In
// challenge mode ([DialogueConfig.ChallengeDigits]) the call reads out a
// random code instead, and the code followed by # verifies; the code never
// leaves the dialogue (its digits are masked in the [Result]). The flow
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
