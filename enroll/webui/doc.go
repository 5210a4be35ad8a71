// Package webui is the enrollment screens a user sees, embedded in the
// binary: 「追加のセキュリティ確認」 in three steps, Japanese by default and
// English on request.
//
//	start   GET  /e/{token}           「続ける」 (a browser without a session); never consumes the link
//	        POST /e/{token}/start     consumes the link (Service.UseLink), starts the session → 303
//	step 1  GET  /e/{token}           method 「認証用電話」, country, number, 「電話する」, 「次へ」
//	        POST /e/{token}           Create (the Service reads the number, applies its policy), StartCall → 303
//	step 2  GET  /e/{token}           "calling …, press #"; EventSource on /e/{token}/events
//	        GET  /e/{token}/events    text/event-stream of the enrollment's state (Service.Subscribe)
//	step 3  POST /e/{token}/password  on the "verified" event: the app password, once (no-store)
//	retry   POST /e/{token}/call      「もう一度」 after a failed call, within the limits
//	        GET  /enroll#{token}      the form httpapi hands out: a static page that moves the
//	                                  token from the fragment into the path
//	        GET  /static/…            CSS and JS (no inline script: CSP script-src 'self')
//
// # Links and sessions
//
// A user reaches the screens only through a one-time enrollment link, a
// token signed by enroll.LinkSigner that names the user and, when the
// enrollment was created through the API, the enrollment. A GET or HEAD
// of /e/{token} never consumes the link (mail scanners and link previews
// fetch links before the person clicks): a browser without a session of
// the link gets a page with one button, 「続ける」, whose POST (CSRF: a
// double-submitted nonce cookie) consumes it. The record of use is the
// Service's (UseLink, LinkUsed), shared with the HTTP API, so a link
// consumed here is refused there and the other way round.
//
// The POST binds the link to that browser with a session cookie
// (HttpOnly, SameSite=Lax, Path=/e/{token}) holding, under an HMAC with
// Config.SessionKey, the link's ID, a session ID, the enrollment's ID and
// an expiry. Each step's POST spends the session ID (Service.UseSession)
// and sets a new one, so a request sent twice or a replayed cookie does
// nothing: one session creates one enrollment at most. Every later
// request needs the token in the path and a live session cookie; without
// one, a consumed link gets a 410 page. Invalid and expired links get 410
// (expired) or 404 (invalid) pages too. Request bodies are bounded to
// MaxBodyBytes.
//
// # CSRF
//
// Each form carries a hidden field csrf (fetch sends it as X-CSRF-Token):
// an HMAC of the link's ID under the session key, so it is valid only with
// the session cookie of that link (a synchroniser token that needs no
// server state). Requests whose Origin names another host, or whose
// Sec-Fetch-Site is cross-site, are refused before that.
//
// # Server push
//
// The step-2 page opens an EventSource on /e/{token}/events. The handler
// sends the enrollment as it is and then each change Service.Subscribe
// reports (one "state" event each, JSON, with the failure text in the
// page's language); it ends the stream at a state the page need not wait
// past. On "verified" the page's script POSTs /e/{token}/password and
// shows the password in place of step 2: no reload, no polling. The app
// password is generated there and only its hash is stored, and the
// enrollment is completed (Service.IssueAppPassword) before the response
// is written; a second request,
// or a reload, finds it completed and shows that the password cannot be
// shown again.
//
// # Headers
//
// Every response carries Content-Security-Policy (default-src 'none',
// script-src 'self', style-src 'self', connect-src 'self', form-action
// 'self', frame-ancestors 'none', base-uri 'none'), X-Frame-Options DENY,
// X-Content-Type-Options nosniff, Referrer-Policy no-referrer; every
// page and the event stream Cache-Control no-store.
package webui
