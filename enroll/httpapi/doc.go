// Package httpapi is the HTTP API of the enrollment service: JSON under
// /v1/, for the systems that drive enrollments (with bearer API keys) and
// for the user's screens (with the one-time enrollment link), plus
// /healthz and /readyz. It serves nothing else; the web UI is mounted
// beside it by cmd/denwa.
//
// # Errors
//
// Handlers return an error. An *HTTPError carries the status, a stable
// code, the user's message in Japanese and English, and the cause, which
// is logged and never sent; the domain errors of package enroll map to
// their own codes (see the Code* constants). Every error response is
//
//	{"error":{"code":"stable_code","message":"…","message_en":"…"}}
//
// # Credentials
//
// Systems send "Authorization: Bearer dnw_<id>_<secret>" (see
// enroll.NewAPIKey); the key is looked up by its hash and compared in
// constant time; revoked keys are refused. A user's browser holds an
// enrollment link token instead, sent as "Authorization: Bearer <token>"
// or, on the event stream only (EventSource cannot set headers), as the
// query parameter token; a token in the query of any other route is
// refused. A link acts on its own enrollment only: read it, start its
// call, follow its stream, and claim its app password once. Once
// consumed — by that claim, or by the web UI's 「続ける」 (one record of
// use, enroll.Service.UseLink) — it is refused on every route (410
// link_used).
//
// Secrets (API keys, link tokens, app passwords) are never logged: the
// access log names the route pattern, never the raw URL.
//
// # Scopes
//
// Each API key has scopes (enroll.Scopes) and each route that takes a key
// needs one (routeScopes in auth.go; a route missing there needs admin):
// enroll for enrollments and their calls, check for checking app
// passwords, admin for issuing, listing and revoking them. A key without
// the scope gets 403 insufficient_scope. Failed app-password checks are
// limited per user, per client address and in all (enroll.CheckLimits).
//
// # Goroutines
//
// The package starts no goroutine of its own. Each Server-Sent Events
// stream runs in its request's handler and ends when the enrollment is
// final, the client goes, the Service closes or Server.Close is called.
//
// The OpenAPI 3.1 document of the API is served at /v1/openapi.json; a
// test checks it against the routes and error codes.
package httpapi
