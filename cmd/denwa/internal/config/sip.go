package config

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"denwa/media"
	"denwa/sip"
)

// SIP is how denwa reaches the PBX or trunk: the "sip" section of serve's
// config file, and the flags `denwa call` shares with `denwa serve`.
type SIP struct {
	Trunk         string `json:"trunk" flag:"trunk" doc:"SIP URI of the PBX or trunk, e.g. sip:pbx.example.com:5060;transport=tcp (required); the number dialled becomes the Request-URI user"`
	Transport     string `json:"transport" flag:"transport" doc:"udp, tcp or tls; empty: the trunk URI's transport, else udp"`
	From          string `json:"from" flag:"from" doc:"caller URI (caller ID), e.g. sip:0312340000@pbx.example.com; empty: sip:denwa@<trunk host>"`
	DisplayName   string `json:"display_name" flag:"display-name" doc:"caller display name"`
	User          string `json:"user" flag:"user" doc:"digest authentication user (the password: DENWA_SIP_PASSWORD, never a flag); empty: the From user"`
	Password      Secret `json:"-" secret:"password" doc:"digest password"`
	PasswordFile  string `json:"password_file" doc:"file holding the digest password (instead of DENWA_SIP_PASSWORD)"`
	Bind          string `json:"bind" flag:"bind" doc:"local SIP address ip:port (listens for the far end's BYE); empty: an ephemeral port"`
	Contact       string `json:"contact" flag:"contact" doc:"host:port put in Contact and Via (a public address behind NAT); empty: the bound address"`
	OutboundProxy string `json:"outbound_proxy" flag:"outbound-proxy" doc:"SIP URI every request is sent through"`

	Register       bool     `json:"register" flag:"register" doc:"register denwa's contact with the PBX or trunk (REGISTER, RFC 3261 §10) as the From user, with the digest user and password; refreshed before it runs out, retried with backoff after a failure, removed on exit; denwa call registers before its call, serve's calls do not wait for it"`
	Registrar      string   `json:"registrar" flag:"registrar" doc:"SIP URI of the registrar; empty: the trunk's host and port"`
	RegisterExpiry Duration `json:"register_expiry" flag:"register-expiry" doc:"registration lifetime asked for (the registrar may grant another, which is refreshed at half)"`

	AssertedIdentity string `json:"asserted_identity" flag:"asserted-identity" doc:"P-Asserted-Identity on every INVITE (RFC 3325): a sip or tel URI, or \"Name\" <URI>; without a name it takes the display name; empty: none"`
	Privacy          string `json:"privacy" flag:"privacy" doc:"Privacy header on every INVITE (RFC 3323/3325): id, header, session, user, critical joined by ';', or none; empty: no header"`
	UserPhone        bool   `json:"user_phone" flag:"user-phone" doc:"add user=phone to the Request-URI, To, From and P-Asserted-Identity whose user is a telephone number"`

	// TLS: how the trunk is trusted over tls, and what denwa shows it.
	TLSCA         string `json:"tls_ca" flag:"tls-ca" doc:"PEM file of the CA certificates that sign the trunk's TLS certificate; they replace the system's roots; empty: the system's roots"`
	TLSServerName string `json:"tls_server_name" flag:"tls-server-name" doc:"name the trunk's TLS certificate must hold; empty: the host of the trunk (or of the outbound proxy)"`
	TLSCert       string `json:"tls_cert" flag:"tls-cert" doc:"PEM file of a client certificate, offered when the trunk asks for one (with --tls-key)"`
	TLSKey        string `json:"tls_key" flag:"tls-key" doc:"PEM file of the client certificate's private key (with --tls-cert)"`
	TLSMinVersion string `json:"tls_min_version" flag:"tls-min-version" doc:"lowest TLS version accepted: 1.2 or 1.3; empty: 1.2"`

	RTP

	RTPLearn      int      `json:"rtp_learn" flag:"rtp-learn" doc:"accept media from another address than the SDP answer's once this many packets in a row of one stream came from it after the answer (a far end behind NAT; 5 is usual); 0: only from the SDP address"`
	MediaNetworks []string `json:"media_networks" flag:"media-networks" doc:"networks (CIDR, or an IP address) the trunk's media comes from; an SDP answer elsewhere fails the call and nothing elsewhere is learned; empty: wherever the SDP says"`
	JitterBuffer  string   `json:"jitter_buffer" flag:"jitter-buffer" doc:"how long received audio waits to be put in order before in-band key detection, MIN-MAX (it starts at MIN and grows towards MAX while packets arrive out of order), one duration for a fixed depth, or off; RFC 4733 keys never wait"`

	DialPlan    []string `json:"dial_plan" flag:"dial-plan" doc:"number rewrites before dialling, PREFIX>REPLACEMENT (\"+81>0\"), first match wins"`
	RingTimeout Duration `json:"ring_timeout" flag:"ring-timeout" doc:"give up (CANCEL) when not answered within this"`
	MaxDuration Duration `json:"max_duration" flag:"max-duration" doc:"hang up an answered call after this"`
	EventPT     uint8    `json:"event_pt" flag:"event-pt" doc:"telephone-event payload type offered"`

	TrunkRefresh Duration `json:"trunk_refresh" flag:"trunk-refresh" doc:"resolve the trunk's host name again this often (A/AAAA, then SRV); while it does not resolve, calls fail at once as unreachable and /readyz says so"`
	TrunkPing    Duration `json:"trunk_ping" flag:"trunk-ping" doc:"send OPTIONS to the trunk this often; 3 unanswered in a row mark it down in /readyz and metrics until one is answered (calls are still placed); 0: off"`
	SIPGuard
}

// SIPGuard is how the SIP port holds under abuse (sip.Guard): who may send
// requests outside a call, and how many. call and serve share it with the
// phone simulator (DefaultPhoneSIPGuard).
type SIPGuard struct {
	Allow           []string `json:"sip_allow" flag:"sip-allow" doc:"networks (CIDR, or an IP address; comma-separated) whose SIP requests outside a call (OPTIONS, INVITE) are answered, besides the trunk's and the outbound proxy's addresses (the phone: loopback), which always are; requests from elsewhere are dropped without an answer"`
	Rate            int      `json:"sip_rate" flag:"sip-rate" doc:"SIP requests outside a call a second per source address, beyond which they are answered 503 with Retry-After"`
	Burst           int      `json:"sip_burst" flag:"sip-burst" doc:"burst allowed above --sip-rate; 0: twice the rate"`
	Ceiling         int      `json:"sip_ceiling" flag:"sip-ceiling" doc:"SIP requests a second per source answered at all (served or 503); beyond it they are dropped without an answer; 0: five times the rate"`
	MaxTransactions int      `json:"sip_max_transactions" flag:"sip-max-transactions" doc:"SIP server transactions held at once; a request beyond it is answered 503"`
}

// DefaultSIPGuard returns sip's Guard defaults, for call and serve (Allow
// empty: only the trunk's addresses).
func DefaultSIPGuard() SIPGuard {
	return SIPGuard{Allow: []string{}, Rate: sip.DefaultGuardRate, MaxTransactions: sip.DefaultGuardMaxTransactions}
}

// DefaultPhoneSIPGuard returns the phone simulator's Guard defaults, sip's
// for a Phone: loopback only, and limits that a load test from one
// source stays under.
func DefaultPhoneSIPGuard() SIPGuard {
	return SIPGuard{Allow: []string{}, Rate: sip.DefaultPhoneGuardRate, MaxTransactions: sip.DefaultPhoneGuardMaxTransactions}
}

// BindSIPGuardFlags registers the guard's flags (the phone simulator's),
// bound to g, with g's values as the defaults.
func BindSIPGuardFlags(fs *pflag.FlagSet, g *SIPGuard) { bindFlags(fs, settingsOf(g, "sip."), false) }

// guard checks g and turns it into a sip.Guard; name gives a setting's
// name in errors from its path below "sip." and its flag.
func (g *SIPGuard) guard(name func(path, flag string) string) (sip.Guard, []error) {
	var errs []error
	bad := func(path, flag, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", name(path, flag), fmt.Sprintf(format, a...)))
	}
	var list []string
	for _, a := range g.Allow {
		list = append(list, strings.Split(a, ",")...)
	}
	nets, err := parseNetworks(list)
	if err != nil {
		bad("sip_allow", "sip-allow", "%v", err)
	}
	for _, n := range []struct {
		path, flag string
		v, min     int
	}{{"sip_rate", "sip-rate", g.Rate, 1}, {"sip_burst", "sip-burst", g.Burst, 0}, {"sip_ceiling", "sip-ceiling", g.Ceiling, 0},
		{"sip_max_transactions", "sip-max-transactions", g.MaxTransactions, 1}} {
		if n.v < n.min {
			bad(n.path, n.flag, "%d: want %d or more", n.v, n.min)
		}
	}
	if g.Ceiling != 0 && g.Ceiling <= g.Rate {
		bad("sip_ceiling", "sip-ceiling", "%d: want more than the rate (%d), or 0", g.Ceiling, g.Rate)
	}
	return sip.Guard{Allow: nets, Rate: g.Rate, Burst: g.Burst, Ceiling: g.Ceiling, MaxTransactions: g.MaxTransactions}, errs
}

// PhoneGuard checks g (the phone simulator's flags) and turns it into a
// sip.Guard; its errors name the flags.
func (g *SIPGuard) PhoneGuard() (sip.Guard, error) {
	sg, errs := g.guard(func(_, flag string) string { return "--" + flag })
	return sg, errors.Join(errs...)
}

// RTP is the media both ends of a call need, the dialer's and the
// simulated phone's: the flags `denwa phone` shares with call and serve.
type RTP struct {
	Codecs   string    `json:"codecs" flag:"codec" doc:"codecs offered or accepted, in order of preference: pcmu, pcma"`
	RTPPorts PortRange `json:"rtp_ports" flag:"rtp-ports" doc:"RTP port range FIRST-LAST: a call takes an even port for RTP and the odd one above it for RTCP"`
	SRTP     string    `json:"srtp" flag:"srtp" doc:"SDES-SRTP for the media: off, optional (keys offered on RTP/AVP, plain RTP if the far end ignores them) or required (RTP/SAVP; calls without it fail); over udp/tcp the keys cross in clear"`
}

// DefaultRTP returns the media defaults of the commands that place calls
// (call, serve) and of serve's config: both codecs, and sip's default RTP
// port range (sip.DefaultRTPPortFirst to sip.DefaultRTPPortLast), which
// holds thousands of calls at once.
func DefaultRTP() RTP {
	return RTP{Codecs: "pcmu,pcma", RTPPorts: PortRange{sip.DefaultRTPPortFirst, sip.DefaultRTPPortLast}, SRTP: "off"}
}

// DefaultPhoneRTP returns the phone simulator's media defaults: both
// codecs, and sip's range for it (sip.DefaultPhoneRTPPortFirst to
// sip.DefaultPhoneRTPPortLast), apart from the caller's so that a phone
// and a caller on one machine never compete for ports.
func DefaultPhoneRTP() RTP {
	return RTP{Codecs: "pcmu,pcma", RTPPorts: PortRange{sip.DefaultPhoneRTPPortFirst, sip.DefaultPhoneRTPPortLast}, SRTP: "off"}
}

// DefaultSIP returns the SIP defaults, sip's own.
func DefaultSIP() SIP {
	return SIP{
		RTP:         DefaultRTP(),
		RingTimeout: Duration(sip.DefaultRingTimeout),
		MaxDuration: Duration(sip.DefaultMaxDuration),
		EventPT:     sip.DefaultEventPT,

		RegisterExpiry: Duration(sip.DefaultRegisterExpiry),
		TrunkRefresh:   Duration(sip.DefaultTrunkRefresh),

		MediaNetworks: []string{}, // none: wherever the SDP says
		JitterBuffer:  formatJitter(media.JitterConfig{}),
		SIPGuard:      DefaultSIPGuard(),
	}
}

// BindSIPFlags registers a flag for every SIP setting that has one, bound
// to s, with s's values as the defaults.
func BindSIPFlags(fs *pflag.FlagSet, s *SIP) { bindFlags(fs, settingsOf(s, "sip."), false) }

// BindRTPFlags registers the RTP flags, bound to r, with r's values as the
// defaults.
func BindRTPFlags(fs *pflag.FlagSet, r *RTP) { bindFlags(fs, settingsOf(r, "sip."), false) }

// DialerConfig checks s and turns it into a sip.Config (without Logger).
// Its errors, one line per bad setting, name the flags.
func (s *SIP) DialerConfig() (sip.Config, error) {
	return s.dialerConfig(func(_, flag string) string { return "--" + flag })
}

// PayloadKinds checks and converts r.Codecs.
func (r *RTP) PayloadKinds() ([]media.PayloadKind, error) { return parseCodecs(r.Codecs) }

// SRTPMode checks and converts r.SRTP.
func (r *RTP) SRTPMode() (media.SRTPMode, error) {
	m, err := media.ParseSRTPMode(r.SRTP)
	if err != nil {
		return 0, fmt.Errorf("%q: want off, optional or required", r.SRTP)
	}
	return m, nil
}

// dialerConfig checks s; name gives a setting's name in errors from its
// path below "sip." and its flag.
func (s *SIP) dialerConfig(name func(path, flag string) string) (sip.Config, error) {
	var errs []error
	bad := func(path, flag, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", name(path, flag), fmt.Sprintf(format, a...)))
	}
	if s.Trunk == "" {
		how := ""
		if n := name("trunk", "trunk"); n != "--trunk" {
			how = " (--trunk, " + EnvName(n) + " or " + n + " in the config file)"
		}
		bad("trunk", "trunk", "required: the SIP URI of the PBX or trunk%s", how)
	}
	switch strings.ToLower(s.Transport) {
	case "", "udp", "tcp", "tls":
	default:
		bad("transport", "transport", "%q: want udp, tcp or tls", s.Transport)
	}
	codecs, err := s.PayloadKinds()
	if err != nil {
		bad("codecs", "codec", "%v", err)
	}
	if err := s.RTPPorts.check(); err != nil {
		bad("rtp_ports", "rtp-ports", "%v", err)
	}
	srtp, err := s.SRTPMode()
	if err != nil {
		bad("srtp", "srtp", "%v", err)
	}
	plan, err := parseDialPlan(s.DialPlan)
	if err != nil {
		bad("dial_plan", "dial-plan", "%v", err)
	}
	if s.RingTimeout <= 0 {
		bad("ring_timeout", "ring-timeout", "must be positive")
	}
	if s.MaxDuration <= 0 {
		bad("max_duration", "max-duration", "must be positive")
	}
	if s.EventPT < 96 || s.EventPT > 127 {
		bad("event_pt", "event-pt", "%d: want a dynamic payload type, 96 to 127", s.EventPT)
	}
	if s.RegisterExpiry < Duration(time.Second) {
		bad("register_expiry", "register-expiry", "%s: want at least 1s", time.Duration(s.RegisterExpiry))
	}
	if s.TrunkRefresh <= 0 {
		bad("trunk_refresh", "trunk-refresh", "must be positive")
	}
	if s.TrunkPing < 0 {
		bad("trunk_ping", "trunk-ping", "must not be negative (0 turns it off)")
	}
	if s.RTPLearn < 0 {
		bad("rtp_learn", "rtp-learn", "%d: want a number of packets, or 0 for off", s.RTPLearn)
	}
	nets, err := parseNetworks(s.MediaNetworks)
	if err != nil {
		bad("media_networks", "media-networks", "%v", err)
	}
	tlsConf, err := s.tlsConfig(name)
	if err != nil {
		errs = append(errs, err)
	}
	jitter, err := parseJitter(s.JitterBuffer)
	if err != nil {
		bad("jitter_buffer", "jitter-buffer", "%v", err)
	}
	guard, gerrs := s.guard(name)
	errs = append(errs, gerrs...)
	if err := errors.Join(errs...); err != nil {
		return sip.Config{}, err
	}
	return sip.Config{TLS: tlsConf,
		Trunk: s.Trunk, Transport: strings.ToLower(s.Transport), Bind: s.Bind, Contact: s.Contact,
		From: s.From, DisplayName: s.DisplayName, AuthUser: s.User, Password: string(s.Password.value),
		OutboundProxy: s.OutboundProxy, DialPlan: plan, RingTimeout: time.Duration(s.RingTimeout),
		MaxDuration: time.Duration(s.MaxDuration), RTPPortFirst: s.RTPPorts.First, RTPPortLast: s.RTPPorts.Last,
		Codecs: codecs, EventPT: s.EventPT, RTPLearn: s.RTPLearn, MediaNetworks: nets, SRTP: srtp, Jitter: jitter, Guard: guard,
		TrunkRefresh: time.Duration(s.TrunkRefresh), TrunkPing: time.Duration(s.TrunkPing),
		Register:         sip.RegisterConfig{Enabled: s.Register, Registrar: s.Registrar, Expiry: time.Duration(s.RegisterExpiry)},
		AssertedIdentity: s.AssertedIdentity, Privacy: s.Privacy, UserPhone: s.UserPhone,
	}, nil
}

// parseJitter turns "40ms-60ms", "60ms" or "off" into a jitter buffer
// configuration.
func parseJitter(s string) (media.JitterConfig, error) {
	s = strings.TrimSpace(s)
	if strings.EqualFold(s, "off") {
		return media.JitterConfig{Off: true}, nil
	}
	lo, hi, isRange := strings.Cut(s, "-")
	mn, err1 := time.ParseDuration(strings.TrimSpace(lo))
	mx, err2 := mn, error(nil)
	if isRange {
		mx, err2 = time.ParseDuration(strings.TrimSpace(hi))
	}
	c := media.JitterConfig{Min: mn, Max: mx}
	if err1 != nil || err2 != nil || mn <= 0 || c.Validate() != nil {
		return media.JitterConfig{}, fmt.Errorf("%q: want MIN-MAX (40ms-60ms), one duration (60ms) or off; each from 1ms to %v, MIN at most MAX", s, media.MaxJitterDepth)
	}
	return c, nil
}

// formatJitter writes c as parseJitter reads it, defaults filled in.
func formatJitter(c media.JitterConfig) string {
	return strings.ReplaceAll(c.String(), "–", "-")
}

// parseNetworks turns "192.0.2.0/24" and "192.0.2.7" (one address) into
// prefixes.
func parseNetworks(l []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, n := range l {
		n = strings.TrimSpace(n)
		if p, err := netip.ParsePrefix(n); err == nil {
			out = append(out, p.Masked())
		} else if a, err := netip.ParseAddr(n); err == nil {
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
		} else {
			return nil, fmt.Errorf("%q: want a network such as 192.0.2.0/24 or an IP address", n)
		}
	}
	return out, nil
}

// parseCodecs turns "pcmu,pcma" into media payload kinds.
func parseCodecs(s string) ([]media.PayloadKind, error) {
	var out []media.PayloadKind
	for c := range strings.SplitSeq(s, ",") {
		switch strings.ToLower(strings.TrimSpace(c)) {
		case "pcmu", "ulaw", "g711u":
			out = append(out, media.KindPCMU)
		case "pcma", "alaw", "g711a":
			out = append(out, media.KindPCMA)
		default:
			return nil, fmt.Errorf("%q: want pcmu, pcma or both (pcmu,pcma)", c)
		}
	}
	return out, nil
}

// parseDialPlan turns "+81>0" into a rule that strips "+81" and prepends "0".
func parseDialPlan(rules []string) (sip.DialPlan, error) {
	var plan sip.DialPlan
	for _, r := range rules {
		match, repl, ok := strings.Cut(r, ">")
		if !ok || match == "" {
			return nil, fmt.Errorf("%q: want PREFIX>REPLACEMENT, e.g. '+81>0' ('>0' is not allowed)", r)
		}
		plan = append(plan, sip.Rule{Match: match, Strip: len(match), Prepend: repl})
	}
	return plan, nil
}
