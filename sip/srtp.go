package sip

import (
	"fmt"
	"log/slog"

	"denwa/media"
)

// SDES-SRTP (Config.SRTP, PhoneConfig.SRTP): the keys travel in the SDP
// (RFC 4568), so only a tls transport keeps them from whoever sees the
// SIP; over udp or tcp they cross in clear, which is allowed with a
// warning at start.

// checkSRTP validates an SRTP mode setting.
func checkSRTP(m media.SRTPMode) error {
	if m > media.SRTPRequired {
		return fmt.Errorf("%w: SRTP mode %v (want off, optional or required)", ErrConfig, m)
	}
	return nil
}

// ClearKeysWarning is what the Dialer and the Phone log at start (WARN)
// when SRTP is on over udp or tcp; commands that log nothing by default
// print it themselves (KeysInClear).
const ClearKeysWarning = "SRTP keys (SDES) travel in the SIP messages, which this transport sends in clear: " +
	"whoever sees the signalling can decrypt the media; use tls to protect them"

func keysInClear(m media.SRTPMode, transport string) bool {
	return m != media.SRTPOff && transport != "tls"
}

// warnClearKeys says, once at start, that SRTP keys will cross the
// network in clear on this transport.
func warnClearKeys(log *slog.Logger, m media.SRTPMode, transport string) {
	if keysInClear(m, transport) {
		log.Warn(ClearKeysWarning, "srtp", m.String(), "transport", transport)
	}
}

// KeysInClear reports whether the Dialer's SRTP keys cross the network in
// clear: SRTP is on and the transport is not tls.
func (d *Dialer) KeysInClear() bool { return keysInClear(d.s.cfg.SRTP, d.s.transport) }

// KeysInClear reports whether the Phone's SRTP keys cross the network in
// clear: SRTP is on and the network is not tls.
func (p *Phone) KeysInClear() bool { return keysInClear(p.cfg.SRTP, p.cfg.Network) }

// offerConfig returns the offer for one call: with SRTP on, fresh keys.
func (d *Dialer) offerConfig(addr media.PacketConn) media.OfferConfig {
	oc := media.OfferConfig{Port: addr.LocalAddrPort().Port(), Codecs: d.s.cfg.Codecs, EventPT: d.s.cfg.EventPT, SRTP: d.s.cfg.SRTP}
	if oc.SRTP != media.SRTPOff {
		oc.Crypto = media.OfferCrypto()
	}
	return oc
}

// srtpRefused explains a 488/606 to an offer that required SRTP: a far
// end without SRTP refuses RTP/SAVP that way.
func srtpRefused(ce *CallError, offered media.OfferConfig) {
	if offered.SRTP == media.SRTPRequired && ce.Kind == NoCommonCodec && ce.Err == nil {
		ce.Err = fmt.Errorf("%w: the far end refused the RTP/SAVP offer (%d); it may not support SRTP", media.ErrSRTPRequired, ce.Status)
	}
}

// SRTPAuthFailures returns how many SRTP packets the calls' media has
// dropped because they failed authentication: tampered, or protected
// with another key (see media.SessionStats; replays are not counted).
func (d *Dialer) SRTPAuthFailures() int64 { return d.srtpAuthFailed.Load() }
