// Package console is the operators' console: the pages, in Japanese and
// English, where the people who run denwa see every enrollment and call,
// act on fraud reports and lift blocks, without SQL. It is served on the
// operators' listener (cmd/denwa: --ops-http, loopback by default), apart
// from the user's screens and the API, under Prefix:
//
//	GET  /console/signin              the sign-in form: one field, an API key with the admin scope
//	POST /console/signin              checks the key → session cookie, 303 to the page asked for
//	POST /console/signout             ends the session on every node
//	GET  /console/                    today at a glance: outcomes over time (SVG chart), calls
//	                                  in progress, failures by outcome and by cause, key sources,
//	                                  time from answer to key (?window=24h|7d|30d)
//	GET  /console/enrollments         search by user, number, state, outcome; cursor pages
//	GET  /console/enrollments/{id}    one enrollment and its call timeline (states, calls, keys
//	                                  and their source, outcomes, causes, nodes, actors), and
//	                                  the user's app passwords
//	POST /console/app-passwords/revoke revokes one of them
//	GET  /console/fraud               blocked numbers, each with 「ブロック解除」; fraud reports;
//	                                  recent unblocks
//	POST /console/blocked/unblock     lifts a block (phone, optional reason), audited
//	GET  /console/webhooks            dead (default) or pending webhooks
//	POST /console/webhooks/redeliver  a dead webhook goes back to pending
//	GET  /console/keys                API keys (name, scopes, state), never a hash or a key
//	POST /console/keys                makes a key and shows it once, on that response only
//	POST /console/keys/revoke         revokes a key
//	GET  /console/static/…            the stylesheet; there is no script at all
//
// Everything shown comes from enroll.Admin (Service.Admin), which the
// admin API and `denwa admin` share, and every change is recorded there
// as an operator event naming the signed-in key ("api-key:<name>").
//
// # Signing in and sessions
//
// Only an active API key with the admin scope signs in; an unknown,
// malformed, revoked or other-scoped key gets the same message, after the
// same least time (Config.SignInDelay), and each failure counts against
// the client's address (Config.SignInFailures per SignInWindow, in this
// process; over it, 429 before any lookup). The key is never stored or
// shown: the session cookie holds a random session ID, the key's name and
// the key's hash, sealed with AES-GCM under a key derived from
// Config.SessionKey, and an expiry (Config.SessionTTL). The cookie is
// HttpOnly, SameSite=Strict, Path=/console/, and Secure when
// Config.SecureCookies is set or the request came over TLS.
//
// No session state lives in the process: every request opens the
// cookie, asks the store whether the session was signed out
// (Service.SessionUsed) and whether the key is still there, unrevoked and
// admin-scoped. So a session works on every node that shares the session
// key (cmd/denwa derives it from the link key), revoking the key ends its
// sessions at their next request, and signing out (Service.UseSession)
// ends the session everywhere, even for a copy of the cookie.
//
// # CSRF
//
// Every POST carries a hidden field csrf: after sign-in an HMAC of the
// session ID (valid only with that session's cookie); on the sign-in
// form an HMAC of a nonce in a SameSite=Strict cookie (double submit), so
// no other site can sign a browser in with its own key. A request whose
// Origin names another host, or whose Sec-Fetch-Site is cross-site, is
// refused before the token is looked at (httpx.SameOrigin).
//
// # Headers and limits
//
// The same headers as the user's screens (httpx.SecurityHeaders): a CSP
// of default-src 'none' with script-src, style-src and img-src 'self' —
// the console sends no script, and its charts are SVG elements drawn by
// the server, coloured by classes of its stylesheet — frame-ancestors
// 'none', X-Frame-Options DENY, nosniff, Referrer-Policy no-referrer,
// Cache-Control no-store (a new API key's page is never cached). Query
// strings over 2 KiB get 414, bodies are cut at MaxBodyBytes, and every
// filter and cursor is checked by enroll.Admin (400 with what is wrong).
package console
