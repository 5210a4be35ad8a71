// Package peers starts real SIP software for interop tests: Kamailio as the
// PBX or proxy (record-route, 407 digest, UDP/TCP/TLS listeners, optional
// rtpengine), linphonec and baresip as the called phone, rtpengine as the
// media relay, with a private CA for TLS.
//
// Every peer runs on 127.0.0.1 (or ::1) from a configuration written into
// t.TempDir(), on free ports, in its own process group that t.Cleanup kills.
// Its stdout and stderr are kept and written to the test log when the test
// fails. Starting waits for the peer to be ready (its port bound, or a line
// in its output) with a deadline; nothing sleeps on a guess.
//
// A peer whose program is missing skips the test, or fails it when
// DENWA_REQUIRE_INTEROP=1 (media/mediatest.RequireTool).
//
// Programs, as packaged by Debian 12 (.ci/run installs them): kamailio and
// kamailio-tls-modules, linphone-cli (linphonec), baresip-core,
// rtpengine-daemon (userspace only), sipsak.
package peers
