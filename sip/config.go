package sip

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	sipgo "github.com/emiago/sipgo/sip"

	"denwa/audio"
	"denwa/media"
)

// Defaults for Config. cmd/denwa's flags and configuration file take
// theirs from here.
const (
	DefaultRingTimeout   = 60 * time.Second
	DefaultInviteTimeout = 32 * time.Second // 64×T1, RFC 3261 Timer B
	// DefaultMaxDuration bounds an answered call: a verification call is
	// over in well under a minute, so this only stops a stuck one.
	DefaultMaxDuration  = 5 * time.Minute
	DefaultMediaTimeout = 30 * time.Second
	DefaultEventPT      = 101
	// The default RTP range: each call takes one even port (RTCP's odd
	// one is left free), so 30000–39999 holds 5,000 calls at once.
	DefaultRTPPortFirst = 30000
	DefaultRTPPortLast  = 39999
	DefaultUserAgent    = "denwa"
	// DefaultRTPLearn is Config.RTPLearn when learning is turned on
	// without a number: five packets, 100 ms of a far end's audio.
	DefaultRTPLearn = 5
)

// Config configures a Dialer. Zero values are documented per field; only
// Trunk is required. NewDialer fills the defaults and validates.
type Config struct {
	// Trunk is the PBX or carrier SIP URI calls go to, e.g.
	// "sip:pbx.example.com:5060;transport=tcp". The number (after the
	// dial plan) becomes the user part of each Request-URI.
	Trunk string
	// Transport is "udp", "tcp" or "tls". Zero: the Trunk's transport
	// parameter, else tls for a "sips:" Trunk, else udp. A "sips:" Trunk
	// requires tls. Over tls the default port is 5061 and the dialer does
	// not listen: see TLS.
	Transport string
	// TLS configures the client side of tls connections (RFC 3261 §26.2):
	// trusted roots (RootCAs), ServerName, versions, and a client
	// certificate offered if the trunk asks for one. It is cloned by
	// NewDialer and used only when the transport is tls. Zero: the
	// system's roots, TLS 1.2 or later, and the server name checked
	// against the certificate is the next hop's host (the Trunk's, or the
	// OutboundProxy's), an IP address included.
	//
	// Over tls, the INVITE opens one connection to the next hop (or
	// reuses the open one), and Via and Contact carry that connection's
	// local address, so the far end sends its in-dialog requests (its
	// BYE) back over the same connection (connection reuse, RFC 3261
	// §18, RFC 5923). A Contact override is put there as given instead.
	TLS *tls.Config
	// Bind is the local SIP address "ip:port" to listen on (for the far
	// end's BYE) and to send from. Zero: "0.0.0.0:0", an ephemeral port on
	// the address that routes to the trunk. Over tls nothing listens:
	// Bind's address (when specified) is where connections are made
	// from, and its port is not used.
	Bind string
	// Contact overrides the host:port put in Contact and Via (a public
	// address behind NAT). Zero: the bound address.
	Contact string
	// From is the caller's URI, e.g. "sip:0312340000@pbx.example.com".
	// Zero: "sip:denwa@<trunk host>".
	From string
	// DisplayName is the caller's name in From (caller ID). Zero: none.
	DisplayName string
	// AssertedIdentity, if set, is put in a P-Asserted-Identity header
	// (RFC 3325) on every INVITE: a sip, sips or tel URI
	// ("sip:+81312340000@trunk.example"), or "Name" <URI>; without a name
	// it takes DisplayName. Zero: no such header.
	AssertedIdentity string
	// Privacy, if set, is the Privacy header of every INVITE (RFC 3323,
	// RFC 3325): priv-values separated by ';' from header, session, user,
	// id, critical, or none alone ("id" asks the trunk to withhold
	// P-Asserted-Identity beyond its trust domain). Zero: no header.
	Privacy string
	// UserPhone adds user=phone to the Request-URI, To, From and
	// P-Asserted-Identity URIs whose user part is a telephone number
	// ("+81312345678", "0312345678"), as some carriers require.
	UserPhone bool
	// AuthUser and Password answer digest challenges (401/407). Zero
	// AuthUser: the From user. The password stays in memory: it is never
	// logged, never put in errors and String redacts it.
	AuthUser string
	Password string
	// Register, when Enabled, keeps the Dialer's contact registered with
	// the PBX or trunk (RFC 3261 §10; see RegisterConfig). Zero: no
	// REGISTER is sent.
	Register RegisterConfig
	// OutboundProxy, if set, is a SIP URI every request is sent through
	// (as a loose-routing Route header, RFC 3261 §8.1.2).
	OutboundProxy string
	// DialPlan rewrites the E.164 number before dialling. Zero: unchanged.
	DialPlan DialPlan
	// RingTimeout bounds the time from INVITE to answer; after it the call
	// is cancelled (CANCEL) and reported NoAnswer. Zero: 60 s.
	RingTimeout time.Duration
	// InviteTimeout bounds the wait for any response to the INVITE; with
	// none, the call is Unreachable. Zero: 32 s (Timer B).
	InviteTimeout time.Duration
	// MaxDuration bounds an answered call; after it the call is hung up
	// and Call.Err is ErrMaxDuration. Zero: DefaultMaxDuration (5 min).
	MaxDuration time.Duration
	// MediaTimeout ends an answered call when no RTP arrives for this long
	// (Call.Err is media's timeout error). Zero: 30 s.
	MediaTimeout time.Duration
	// RTPAddr is the local address for RTP. Zero: the SIP bind address
	// (or the address that routes to the trunk when that is unspecified).
	RTPAddr netip.Addr
	// RTPPortFirst and RTPPortLast bound the RTP ports handed out, one
	// even port per call. Zero: DefaultRTPPortFirst to DefaultRTPPortLast
	// (30000–39999, 5,000 calls).
	RTPPortFirst, RTPPortLast int
	// RTPLearn, when positive, lets a far end behind NAT send its media
	// from another address than its SDP answer named: that source is
	// learned after RTPLearn packets in a row of one SSRC, in sequence,
	// once the call is answered, and given up as soon as the SDP address
	// sends (see media.SessionConfig.Learn). Zero: media is accepted from
	// the SDP address only, which is what a PBX or carrier on a routed
	// network needs. DefaultRTPLearn is the usual value when it is on.
	RTPLearn int
	// MediaNetworks, if not empty, are the networks the trunk's media
	// comes from: an answer whose SDP names an RTP address outside them
	// fails the call, and no source outside them is learned. Zero:
	// wherever the SDP says.
	MediaNetworks []netip.Prefix
	// Jitter sizes the jitter buffer before in-band key detection (see
	// media.JitterConfig). Zero: 40 ms, up to 60 ms.
	Jitter media.JitterConfig
	// Codecs in order of preference: media.KindPCMU, media.KindPCMA.
	// Zero: PCMU, PCMA.
	Codecs []media.PayloadKind
	// EventPT is the telephone-event payload type offered. Zero: 101.
	EventPT uint8
	// SRTP protects the media with SDES-SRTP (RFC 4568): SRTPRequired
	// offers RTP/SAVP and fails a call answered without it;
	// SRTPOptional offers RTP/AVP with keys and falls back to plain RTP.
	// Over udp and tcp the keys cross in clear (NewDialer warns). Zero:
	// plain RTP.
	SRTP media.SRTPMode
	// UserAgent is the User-Agent header. Zero: "denwa".
	UserAgent string
	// Resolver looks up the trunk's host name (the OutboundProxy's when
	// one is set), and a redirect target's: A/AAAA, then SRV for a name
	// without a port (see trunk.go). NewDialer waits for the first
	// resolution, at most 5 s, and starts whatever it gives. Zero:
	// net.DefaultResolver.
	Resolver Resolver
	// TrunkRefresh is how often a trunk named by a host name is resolved
	// again. Zero: DefaultTrunkRefresh (30 s).
	TrunkRefresh time.Duration
	// TrunkPing, when positive, sends OPTIONS to the trunk this often;
	// after TrunkPingFailures failed pings in a row (no answer within
	// TrunkPing, or 503) TrunkHealth reports it down, and up again after
	// one answer. Calls are still placed while it is down. Zero: no ping.
	TrunkPing time.Duration
	// TrunkPingFailures is the failed pings in a row that mark the trunk
	// down. Zero: DefaultTrunkPingFailures (3).
	TrunkPingFailures int
	// Guard protects the SIP port (see Guard): the trunk's and the
	// outbound proxy's addresses (resolved by NewDialer) and Guard.Allow
	// may send requests outside a call.
	Guard Guard
	// Logger receives call events. Zero: slog.Default(). Passwords are
	// never logged.
	Logger *slog.Logger
	// Now is the clock for progress timestamps. Zero: time.Now.
	Now func() time.Time
}

// Defaults for PhoneConfig.
const (
	DefaultKeyDelay    = 500 * time.Millisecond
	DefaultKeyGap      = 200 * time.Millisecond
	DefaultKeyDuration = 120 * time.Millisecond
	// The Phone's RTP range is apart from the Dialer's, so that both run
	// on one machine, and holds as many calls: 4,000.
	DefaultPhoneRTPPortFirst = 40000
	DefaultPhoneRTPPortLast  = 47999
)

// PhoneConfig configures a Phone, the simulated called party. Zero values
// are documented per field.
type PhoneConfig struct {
	// Network is "udp", "tcp" or "tls". Zero: udp.
	Network string
	// TLS is the server configuration for Network "tls" and must carry a
	// certificate (Certificates, GetCertificate or GetConfigForClient);
	// set ClientAuth and ClientCAs to require the caller's certificate.
	// It is cloned. The Phone sends its BYE over the connection the INVITE
	// came in on when the caller's Contact names it (see Config.TLS).
	// Ignored for udp and tcp.
	TLS *tls.Config
	// Listen is the SIP address "ip:port". Zero: "127.0.0.1:0".
	Listen string
	// User, if set, accepts only calls whose Request-URI user is User
	// (others get 404).
	User string
	// RingFor is how long to send 180 Ringing before answering (or before
	// the final Status). Negative rings until the caller gives up. Zero:
	// answer at once.
	RingFor time.Duration
	// Status, if non-zero, is a final status (≥ 300) to answer with
	// instead of answering: 486 busy, 603 decline, 503, ….
	Status int
	// Keys are pressed in order after KeyDelay, e.g. "#", "*#", "0#".
	// CodeKeys ("{code}") stands for the code the caller read out, as
	// the Phone heard it (see Digits): "{code}#", "*{code}#". The Phone
	// waits there for a code read out after its previous key, then
	// presses its digits KeyGap apart; with several codes read out since,
	// the latest.
	Keys string
	// Digits are the prompts the caller reads a challenge code out with,
	// Digits[d] for digit d (cmd/denwa passes its catalog's digit-0 …
	// digit-9). With them the Phone listens to the caller's audio and
	// recognises these prompts in it, frame by frame, which is how it
	// knows the code for {code} in Keys; the caller tells it nothing
	// else. All ten or none. Zero: the Phone does not listen.
	Digits [10]*audio.Prompt
	// KeyMode is RFC 4733 events (zero), in-band tones or SIP INFO.
	KeyMode KeyMode
	// KeyDelay is the wait from answer to the first key; KeyGap between
	// keys; KeyDuration each key's length. Zero: 500 ms, 200 ms, 120 ms.
	KeyDelay, KeyGap, KeyDuration time.Duration
	// HangupAfter, if non-zero, sends BYE this long after the answer.
	HangupAfter time.Duration
	// HangupAfterKeys, if non-zero, sends BYE this long after the last
	// key was pressed (however late the presses ran).
	HangupAfterKeys time.Duration
	// HoldAfter, if non-zero, puts the call on hold this long after the
	// answer, as a phone without music on hold does: a re-INVITE offering
	// a=sendonly, and no RTP sent while held; HoldFor later another
	// re-INVITE (a=sendrecv) resumes it. Zero HoldFor holds to the end.
	// PhoneCall reports the holds and what was heard after the resume.
	HoldAfter, HoldFor time.Duration
	// Silent answers but sends no RTP at all (and presses no keys).
	Silent bool
	// QuietAfterKeys stops sending RTP once the keys are pressed and stays
	// on the line: a line gone dead, which the caller sees as a media
	// timeout.
	QuietAfterKeys bool
	// Codecs accepted, in order of preference. Zero: PCMU, PCMA.
	Codecs []media.PayloadKind
	// EventPT, if non-zero, answers telephone-event with this payload
	// type instead of the caller's. Zero: the offer's.
	EventPT uint8
	// SRTP is what the Phone accepts (media.AnswerConfig.SRTP):
	// SRTPRequired answers 488 to an offer without usable SDES keys,
	// SRTPOptional answers with SRTP when offered. Over udp and tcp the
	// keys cross in clear (NewPhone warns). Zero: plain RTP only.
	SRTP media.SRTPMode
	// RTPAddr, RTPPortFirst and RTPPortLast bound the RTP sockets. Zero:
	// the SIP listen address, DefaultPhoneRTPPortFirst to
	// DefaultPhoneRTPPortLast.
	RTPAddr                   netip.Addr
	RTPPortFirst, RTPPortLast int
	// Calls, if not nil, receives a PhoneCall for every call once it has
	// ended. Sends do not block: a full channel drops the report.
	Calls chan<- PhoneCall
	// Hear, if not nil, makes the Phone listen to each call it answers
	// (not Silent) as the far end of a DTMF test: it is called with the
	// call so far once the call is answered, and the Hearing it returns
	// hears the caller's keys from RTP (in-band, RFC 4733; plain RTP only:
	// SRTP is not decrypted for it) and SIP INFO, and answers the
	// caller's other INFO requests (see Hearing, phone_hear.go). Nil: the
	// Phone drops the keys it is sent.
	Hear func(PhoneCall) Hearing
	// Guard protects the SIP port (see Guard): loopback (127.0.0.0/8,
	// ::1) and Guard.Allow may call. Its zero Rate and MaxTransactions
	// are DefaultPhoneGuardRate and DefaultPhoneGuardMaxTransactions.
	Guard Guard
	// Logger; zero: slog.Default().
	Logger *slog.Logger
}

// String describes the configuration with the password redacted.
func (c Config) String() string {
	pw := ""
	if c.Password != "" {
		pw = "<redacted>"
	}
	return fmt.Sprintf("sip.Config{Trunk:%q Transport:%q TLS:%s Bind:%q From:%q AuthUser:%q Password:%q OutboundProxy:%q DialPlan:%v RingTimeout:%v SRTP:%v}",
		c.Trunk, c.Transport, tlsSummary(c.TLS), c.Bind, c.From, c.AuthUser, pw, c.OutboundProxy, c.DialPlan, c.RingTimeout, c.SRTP)
}

// LogValue keeps the password out of structured logs.
func (c Config) LogValue() slog.Value { return slog.StringValue(c.String()) }

// dialerSetup is a validated Config.
type dialerSetup struct {
	cfg       Config
	trunk     sipgo.Uri
	proxy     *sipgo.Uri
	transport string      // "udp", "tcp", "tls"
	tls       *tls.Config // a clone of Config.TLS; nil: sipgo's zero config
	bind      netip.AddrPort
	from      sipgo.Uri
	authUser  string
	register  *registerSetup // nil: no registration
	identity  identitySetup
	// certAsked: over tls without a client certificate, the far end
	// asked for one (tls.go, watchCertRequest).
	certAsked atomic.Bool
}

func (c Config) setup() (*dialerSetup, error) {
	s := &dialerSetup{cfg: c}
	if c.Trunk == "" {
		return nil, fmt.Errorf("%w: Trunk is required", ErrConfig)
	}
	if err := sipgo.ParseUri(c.Trunk, &s.trunk); err != nil || s.trunk.Host == "" {
		return nil, fmt.Errorf("%w: Trunk %q is not a SIP URI: %v", ErrConfig, c.Trunk, err)
	}
	if sch := strings.ToLower(s.trunk.Scheme); sch != "sip" && sch != "sips" {
		return nil, fmt.Errorf("%w: Trunk %q: scheme %q", ErrConfig, c.Trunk, s.trunk.Scheme)
	}
	s.transport = strings.ToLower(c.Transport)
	if s.transport == "" {
		if tp, ok := s.trunk.UriParams.Get("transport"); ok {
			s.transport = strings.ToLower(tp)
		} else if strings.EqualFold(s.trunk.Scheme, "sips") {
			s.transport = "tls"
		} else {
			s.transport = "udp"
		}
	}
	switch s.transport {
	case "udp", "tcp", "tls":
	default:
		return nil, fmt.Errorf("%w: transport %q (want udp, tcp or tls)", ErrConfig, s.transport)
	}
	if strings.EqualFold(s.trunk.Scheme, "sips") && s.transport != "tls" {
		return nil, fmt.Errorf("%w: Trunk %q is a sips URI but the transport is %s (sips needs tls)", ErrConfig, c.Trunk, s.transport)
	}
	s.tls = c.TLS.Clone()
	s.watchCertRequest()
	if c.OutboundProxy != "" {
		var p sipgo.Uri
		if err := sipgo.ParseUri(c.OutboundProxy, &p); err != nil || p.Host == "" {
			return nil, fmt.Errorf("%w: OutboundProxy %q is not a SIP URI", ErrConfig, c.OutboundProxy)
		}
		s.proxy = &p
	}
	bind := c.Bind
	if bind == "" {
		bind = "0.0.0.0:0"
	}
	ap, err := netip.ParseAddrPort(bind)
	if err != nil {
		return nil, fmt.Errorf("%w: Bind %q: %v", ErrConfig, bind, err)
	}
	s.bind = ap
	if c.Contact != "" {
		if _, _, err := net.SplitHostPort(c.Contact); err != nil {
			return nil, fmt.Errorf("%w: Contact %q: want host:port", ErrConfig, c.Contact)
		}
	}
	if c.From != "" {
		if err := sipgo.ParseUri(c.From, &s.from); err != nil || s.from.Host == "" {
			return nil, fmt.Errorf("%w: From %q is not a SIP URI", ErrConfig, c.From)
		}
	} else {
		s.from = sipgo.Uri{Scheme: "sip", User: "denwa", Host: s.trunk.Host}
	}
	s.authUser = c.AuthUser
	if s.authUser == "" {
		s.authUser = s.from.User
	}
	if err := c.DialPlan.validate(); err != nil {
		return nil, err
	}
	if s.register, err = c.Register.setup(s); err != nil {
		return nil, err
	}
	if s.identity, err = c.setupIdentity(); err != nil {
		return nil, err
	}
	for name, d := range map[string]time.Duration{"RingTimeout": c.RingTimeout, "InviteTimeout": c.InviteTimeout, "MaxDuration": c.MaxDuration, "MediaTimeout": c.MediaTimeout,
		"TrunkRefresh": c.TrunkRefresh, "TrunkPing": c.TrunkPing} {
		if d < 0 {
			return nil, fmt.Errorf("%w: %s %v is negative", ErrConfig, name, d)
		}
	}
	cfg := &s.cfg
	cfg.RingTimeout = orDefault(cfg.RingTimeout, DefaultRingTimeout)
	cfg.InviteTimeout = orDefault(cfg.InviteTimeout, DefaultInviteTimeout)
	cfg.MaxDuration = orDefault(cfg.MaxDuration, DefaultMaxDuration)
	cfg.MediaTimeout = orDefault(cfg.MediaTimeout, DefaultMediaTimeout)
	cfg.TrunkRefresh = orDefault(cfg.TrunkRefresh, DefaultTrunkRefresh)
	if cfg.TrunkPingFailures < 0 {
		return nil, fmt.Errorf("%w: TrunkPingFailures %d is negative", ErrConfig, cfg.TrunkPingFailures)
	}
	if cfg.TrunkPingFailures == 0 {
		cfg.TrunkPingFailures = DefaultTrunkPingFailures
	}
	if cfg.RTPPortFirst, cfg.RTPPortLast, err = rtpPorts(cfg.RTPPortFirst, cfg.RTPPortLast, DefaultRTPPortFirst, DefaultRTPPortLast); err != nil {
		return nil, err
	}
	codecs, err := checkCodecs(cfg.Codecs)
	if err != nil {
		return nil, err
	}
	cfg.Codecs = codecs
	if cfg.EventPT == 0 {
		cfg.EventPT = DefaultEventPT
	}
	if !media.IsDynamic(cfg.EventPT) {
		return nil, fmt.Errorf("%w: EventPT %d is not dynamic (96–127)", ErrConfig, cfg.EventPT)
	}
	if err := checkSRTP(cfg.SRTP); err != nil {
		return nil, err
	}
	if cfg.RTPLearn < 0 {
		return nil, fmt.Errorf("%w: RTPLearn %d is negative", ErrConfig, cfg.RTPLearn)
	}
	if err := cfg.Jitter.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	for _, p := range cfg.MediaNetworks {
		if !p.IsValid() {
			return nil, fmt.Errorf("%w: MediaNetworks: invalid prefix %v", ErrConfig, p)
		}
	}
	cfg.MediaNetworks = slices.Clone(cfg.MediaNetworks)
	if cfg.UserAgent == "" {
		cfg.UserAgent = DefaultUserAgent
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return s, nil
}

// setup fills in PhoneConfig's defaults and validates it; it returns the
// parsed Listen address.
func (c *PhoneConfig) setup() (netip.AddrPort, error) {
	bad := func(format string, args ...any) (netip.AddrPort, error) {
		return netip.AddrPort{}, fmt.Errorf("%w: phone "+format, append([]any{ErrConfig}, args...)...)
	}
	c.Network = strings.ToLower(c.Network)
	switch c.Network {
	case "":
		c.Network = "udp"
	case "udp", "tcp":
	case "tls":
		if !tlsServerReady(c.TLS) {
			return bad("network tls needs PhoneConfig.TLS with a certificate")
		}
		c.TLS = c.TLS.Clone()
	default:
		return bad("network %q (want udp, tcp or tls)", c.Network)
	}
	if c.Listen == "" {
		c.Listen = "127.0.0.1:0"
	}
	listen, err := netip.ParseAddrPort(c.Listen)
	if err != nil {
		return bad("Listen %q: %v", c.Listen, err)
	}
	if a := c.RTPAddr; a.IsUnspecified() || !a.IsValid() && listen.Addr().IsUnspecified() {
		return bad("needs a specified RTPAddr (or Listen address) for its SDP")
	}
	if c.Status != 0 && (c.Status < 300 || c.Status > 699) {
		return bad("Status %d is not a final failure status (300–699)", c.Status)
	}
	if _, err := phoneKeys(c.Keys); err != nil {
		return bad("Keys %q: %v", c.Keys, err)
	}
	hasDigits := c.Digits != [10]*audio.Prompt{}
	if strings.Contains(c.Keys, CodeKeys) && !hasDigits {
		return bad("Keys %q: %s needs Digits, the prompts to hear the code in", c.Keys, CodeKeys)
	}
	if hasDigits { // all ten or none
		for d, p := range c.Digits {
			if p == nil {
				return bad("Digits[%d] is missing (all ten or none)", d)
			}
		}
	}
	if c.KeyMode > KeySIPInfo {
		return bad("KeyMode %d", c.KeyMode)
	}
	if c.KeyDelay < 0 || c.KeyGap < 0 || c.KeyDuration < 0 || c.HangupAfter < 0 || c.HangupAfterKeys < 0 || c.HoldAfter < 0 || c.HoldFor < 0 {
		return bad("timing is negative")
	}
	c.KeyDelay = orDefault(c.KeyDelay, DefaultKeyDelay)
	c.KeyGap = orDefault(c.KeyGap, DefaultKeyGap)
	c.KeyDuration = orDefault(c.KeyDuration, DefaultKeyDuration)
	if c.EventPT != 0 && !media.IsDynamic(c.EventPT) {
		return bad("EventPT %d is not dynamic (96–127)", c.EventPT)
	}
	if c.Codecs, err = checkCodecs(c.Codecs); err != nil {
		return netip.AddrPort{}, err
	}
	if err := checkSRTP(c.SRTP); err != nil {
		return netip.AddrPort{}, err
	}
	if c.RTPPortFirst, c.RTPPortLast, err = rtpPorts(c.RTPPortFirst, c.RTPPortLast, DefaultPhoneRTPPortFirst, DefaultPhoneRTPPortLast); err != nil {
		return netip.AddrPort{}, err
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return listen, nil
}

// rtpPorts returns the RTP port range first–last, or def when both are
// zero, after checking it.
func rtpPorts(first, last, defFirst, defLast int) (int, int, error) {
	if first == 0 && last == 0 {
		return defFirst, defLast, nil
	}
	if first <= 0 || last > 65535 || first > last {
		return 0, 0, fmt.Errorf("%w: RTP ports %d–%d", ErrConfig, first, last)
	}
	return first, last, nil
}

func checkCodecs(in []media.PayloadKind) ([]media.PayloadKind, error) {
	if len(in) == 0 {
		return []media.PayloadKind{media.KindPCMU, media.KindPCMA}, nil
	}
	for i, c := range in {
		if c != media.KindPCMU && c != media.KindPCMA {
			return nil, fmt.Errorf("%w: codec %v (want PCMU or PCMA)", ErrConfig, c)
		}
		if slices.Contains(in[:i], c) {
			return nil, fmt.Errorf("%w: codec %v listed twice", ErrConfig, c)
		}
	}
	return slices.Clone(in), nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}
