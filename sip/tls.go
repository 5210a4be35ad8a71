package sip

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"

	sipgo_sip "github.com/emiago/sipgo/sip"
)

// SIP over TLS (RFC 3261 §26.2, RFC 5630).
//
// The Dialer is a TLS client only. sipgo dials the connection (with
// Config.TLS, see sipgo's TransportTLS: the server name is the next hop's
// host unless the config names one) the first time a request goes to the
// next hop, and keeps it in its pool, keyed by the remote and the local
// address. The Dialer opens it itself before the INVITE (connectTLS), so
// that
//
//   - a refused connection, an untrusted certificate or a name mismatch
//     fails Dial at once with a clear cause (ErrTLS), bounded by
//     Config.InviteTimeout, instead of surfacing as a transaction error;
//   - Via and Contact can carry the connection's local address. The far
//     end then sends its in-dialog requests (BYE) to an address that is
//     this very connection: sipgo's (and most PBXs') connection lookup by
//     remote address finds it, which is connection reuse (RFC 3261 §18,
//     RFC 5923) without a listener, and so without a server certificate
//     for the Dialer.
//
//	Dialer (client)                           trunk / Phone (server)
//	  127.0.0.1:E ──── TCP + TLS handshake ───▶ 127.0.0.1:5061
//	  INVITE  Via: SIP/2.0/TLS 127.0.0.1:E
//	          Contact: <sip:denwa@127.0.0.1:E;transport=tls>
//	  ◀── 200 OK ───────────── same connection
//	  ACK, BYE to the 200's Contact ──────────▶ (pool hit: same connection)
//	  ◀── BYE to 127.0.0.1:E ── same connection (pool hit on the far end)
//
// The Phone is a TLS server: PhoneConfig.TLS carries its certificate and
// its listener is a tls.Listener served by sipgo's ServeTLS.

// ErrTLS: the TLS connection to the trunk could not be set up (handshake
// failure: untrusted certificate, name mismatch, protocol version, or the
// far end closing the connection during the handshake). A CallError
// (Unreachable) wraps it together with crypto/tls's error, so
// errors.As(err, new(*tls.CertificateVerificationError)) works too.
var ErrTLS = errors.New("sip: TLS handshake failed")

// TLSError is a failed TLS handshake with the next hop, with its cause in
// a few words: "certificate signed by unknown authority", "certificate is
// valid for a.example, not b.example", "the far end refused the handshake
// (alert: bad certificate)". It matches ErrTLS (errors.Is) and wraps
// crypto/tls's error (errors.As finds *tls.CertificateVerificationError,
// x509.UnknownAuthorityError, x509.HostnameError, tls.AlertError).
type TLSError struct {
	// Hop is "trunk" or "outbound proxy"; Name the name its certificate
	// was checked against; Addr where the connection went.
	Hop, Name, Addr string
	Err             error
}

func (e *TLSError) Error() string {
	return fmt.Sprintf("sip: TLS: %s (%s %s at %s)", tlsReason(e.Err), e.Hop, e.Name, e.Addr)
}

func (e *TLSError) Unwrap() []error { return []error{ErrTLS, e.Err} }

// tlsReason names the cause of a handshake failure in a few words.
func tlsReason(err error) string {
	var (
		ua x509.UnknownAuthorityError
		he x509.HostnameError
		ci x509.CertificateInvalidError
		ae tls.AlertError
	)
	switch {
	case errors.As(err, &ua):
		if ua.Cert != nil && ua.Cert.Issuer.CommonName != "" {
			return fmt.Sprintf("certificate signed by unknown authority %q", ua.Cert.Issuer.CommonName)
		}
		return "certificate signed by unknown authority"
	case errors.As(err, &he):
		return strings.TrimPrefix(he.Error(), "x509: ")
	case errors.As(err, &ci):
		return strings.TrimPrefix(ci.Error(), "x509: ")
	case errors.As(err, &ae):
		return fmt.Sprintf("the far end refused the handshake (alert: %v)", ae)
	case errors.Is(err, errCertRequired):
		return errCertRequired.Error()
	case errors.Is(err, io.EOF):
		return "the far end closed the connection during the handshake (does it speak TLS there?)"
	}
	return err.Error()
}

// connectTLS opens (or finds open) the TLS connection inv will travel on,
// bounded by Config.InviteTimeout, and, unless Config.Contact overrides
// it, puts the connection's local address in inv's Contact. Via is left
// without a sent-by (see via), so sipgo fills in the same address.
func (d *Dialer) connectTLS(ctx context.Context, inv *sipMsg) error {
	ctx, cancel := context.WithTimeout(ctx, d.s.cfg.InviteTimeout)
	defer cancel()
	d.prepare(inv)
	conn, err := d.ua.TransportLayer().ClientRequestConnection(ctx, inv)
	if err != nil {
		dst := inv.Destination()
		if ctx.Err() != nil {
			// Nothing (or no complete handshake) in time: a far end that
			// accepts and stays silent is as good as absent.
			return fmt.Errorf("sip: tls connection to %s: %w in %v: %w", dst, ErrNoResponse, d.s.cfg.InviteTimeout, err)
		}
		if isTLSError(err) {
			return d.tlsError(dst, err)
		}
		return fmt.Errorf("sip: tls connection to %s: %w", dst, err)
	}
	la := conn.LocalAddr()
	_, _ = conn.TryClose() // drop the reference ClientRequestConnection took; the pool keeps it open
	if d.s.cfg.Contact != "" {
		return nil
	}
	ap, err := netip.ParseAddrPort(la.String())
	if err != nil {
		return fmt.Errorf("sip: tls connection local address %q: %w", la, err)
	}
	ap = unmapAP(ap)
	if ct := inv.Contact(); ct != nil {
		ct.Address.Host, ct.Address.Port = ap.Addr().String(), int(ap.Port())
	}
	return nil
}

// errCertRequired: the trunk asked for a TLS client certificate, none is
// configured, and it closed the connection.
var errCertRequired = errors.New("the far end asked for a client certificate, none is set, and it closed the connection")

// watchCertRequest makes a tls Dialer without a client certificate note
// when the far end asks for one. A TLS 1.3 server that requires one
// refuses only after the client's handshake is over, by closing the
// connection, which the INVITE then sees as a transport error; with this
// note the call's cause can say why (certRefused).
func (s *dialerSetup) watchCertRequest() {
	if s.transport != "tls" {
		return
	}
	if s.tls == nil {
		s.tls = &tls.Config{} // what sipgo uses for nil
	}
	if len(s.tls.Certificates) > 0 || s.tls.GetClientCertificate != nil {
		return
	}
	s.tls.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		s.certAsked.Store(true)
		return &tls.Certificate{}, nil // none: the server decides
	}
}

// certRefused turns the transport error of an INVITE sent over a TLS
// connection whose far end asked for a client certificate we do not have
// into a TLSError that says so; other errors are returned as they are.
func (d *Dialer) certRefused(err error) error {
	var ce *CallError
	if !d.s.certAsked.Load() || !errors.As(err, &ce) || !errors.Is(err, sipgo_sip.ErrTransactionTransport) {
		return err
	}
	dst := hostPort(&d.s.trunk)
	if d.s.proxy != nil {
		dst = hostPort(d.s.proxy)
	}
	refused := *ce
	refused.Err = d.tlsError(dst, errors.Join(errCertRequired, ce.Err))
	return &refused
}

// tlsError describes a handshake failure with the next hop at dst.
func (d *Dialer) tlsError(dst string, err error) *TLSError {
	e := &TLSError{Hop: "trunk", Name: d.s.trunk.Host, Addr: dst, Err: err}
	if d.s.proxy != nil {
		e.Hop, e.Name = "outbound proxy", d.s.proxy.Host
	}
	if d.s.tls != nil && d.s.tls.ServerName != "" {
		e.Name = d.s.tls.ServerName
	}
	return e
}

// tlsLaddr is the source address TLS connections are dialled from: Bind's
// address when it is specified, any otherwise (port always ephemeral).
func (d *Dialer) tlsLaddr() sipgo_sip.Addr {
	a := d.s.bind.Addr()
	if !a.IsValid() || a.IsUnspecified() {
		return sipgo_sip.Addr{}
	}
	return sipgo_sip.Addr{IP: net.IP(a.AsSlice()), Hostname: a.String()}
}

// isTLSError reports whether err comes from the TLS handshake rather than
// from connecting or resolving.
func isTLSError(err error) bool {
	var (
		cve *tls.CertificateVerificationError
		ae  tls.AlertError
		rhe tls.RecordHeaderError
		ua  x509.UnknownAuthorityError
		he  x509.HostnameError
		ci  x509.CertificateInvalidError
	)
	switch {
	case errors.As(err, &cve), errors.As(err, &ae), errors.As(err, &rhe),
		errors.As(err, &ua), errors.As(err, &he), errors.As(err, &ci):
		return true
	}
	// sipgo wraps every handshake failure (an EOF from a far end that
	// hung up mid-handshake included) as "TLS handshake error: …".
	return strings.Contains(err.Error(), "TLS handshake")
}

// tlsServerReady reports whether c can serve TLS: it has a certificate or
// a way to pick one.
func tlsServerReady(c *tls.Config) bool {
	return c != nil && (len(c.Certificates) > 0 || c.GetCertificate != nil || c.GetConfigForClient != nil)
}

// tlsSummary describes a TLS config for Config.String without its keys.
func tlsSummary(c *tls.Config) string {
	if c == nil {
		return "default"
	}
	var parts []string
	if c.ServerName != "" {
		parts = append(parts, "ServerName="+c.ServerName)
	}
	if c.RootCAs != nil {
		parts = append(parts, "RootCAs=custom")
	}
	if c.InsecureSkipVerify {
		parts = append(parts, "InsecureSkipVerify")
	}
	if len(c.Certificates) > 0 || c.GetClientCertificate != nil {
		parts = append(parts, "client-certificate")
	}
	if len(parts) == 0 {
		return "custom"
	}
	return strings.Join(parts, ",")
}
