package config

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"

	"denwa/sip"
)

// tlsConfig turns the TLS settings into the dialer's TLS client
// configuration; nil when none is set (sip's default: the system's roots, TLS 1.2 or
// later, the next hop's host as the server name). name gives a setting's
// name in errors.
func (s *SIP) tlsConfig(name func(path, flag string) string) (*tls.Config, error) {
	if s.TLSCA == "" && s.TLSServerName == "" && s.TLSCert == "" && s.TLSKey == "" && s.TLSMinVersion == "" {
		return nil, nil
	}
	var errs []error
	bad := func(path, flag, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", name(path, flag), fmt.Sprintf(format, a...)))
	}
	c := &tls.Config{ServerName: s.TLSServerName, MinVersion: tls.VersionTLS12}
	switch s.TLSMinVersion {
	case "", "1.2":
	case "1.3":
		c.MinVersion = tls.VersionTLS13
	default:
		bad("tls_min_version", "tls-min-version", "%q: want 1.2 or 1.3", s.TLSMinVersion)
	}
	if s.TLSCA != "" {
		pem, err := os.ReadFile(s.TLSCA)
		c.RootCAs = x509.NewCertPool()
		switch {
		case err != nil:
			bad("tls_ca", "tls-ca", "%v", err)
		case !c.RootCAs.AppendCertsFromPEM(pem):
			bad("tls_ca", "tls-ca", "%s holds no PEM certificate", s.TLSCA)
		}
	}
	switch {
	case s.TLSCert != "" && s.TLSKey != "":
		cert, err := tls.LoadX509KeyPair(s.TLSCert, s.TLSKey)
		if err != nil {
			bad("tls_cert", "tls-cert", "with %s: %v", name("tls_key", "tls-key"), err)
		}
		c.Certificates = []tls.Certificate{cert}
	case s.TLSCert != "":
		bad("tls_key", "tls-key", "required with %s", name("tls_cert", "tls-cert"))
	case s.TLSKey != "":
		bad("tls_cert", "tls-cert", "required with %s", name("tls_key", "tls-key"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return c, nil
}

// ExplainTLS adds to err, when its cause is a TLS handshake failure with
// the trunk (a *sip.TLSError), which setting to look at; other errors are
// returned as they are. The result wraps err.
func ExplainTLS(err error) error {
	var te *sip.TLSError
	if !errors.As(err, &te) {
		return err
	}
	var (
		ua x509.UnknownAuthorityError
		he x509.HostnameError
		ae tls.AlertError
	)
	hint := ""
	switch {
	case errors.As(err, &ua):
		hint = "set --tls-ca (sip.tls_ca) to the CA certificate that signed the trunk's"
	case errors.As(err, &he):
		hint = "set --tls-server-name (sip.tls_server_name) to a name the trunk's certificate holds"
	case errors.As(err, &ae) && (ae == 42 || ae == 116 || ae == 48), // bad_certificate, certificate_required, unknown_ca
		strings.Contains(te.Error(), "asked for a client certificate"):
		hint = "the trunk wants a client certificate it trusts: set --tls-cert and --tls-key (sip.tls_cert, sip.tls_key)"
	case errors.As(err, &ae) && ae == 70: // protocol_version
		hint = "no TLS version both ends accept: check --tls-min-version (sip.tls_min_version)"
	default:
		return err
	}
	return &hintError{err: err, hint: hint}
}

type hintError struct {
	err  error
	hint string
}

func (e *hintError) Error() string { return e.err.Error() + "; " + e.hint }
func (e *hintError) Unwrap() error { return e.err }
