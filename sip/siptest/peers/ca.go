package peers

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// CA is a private certificate authority for tests (ECDSA P-256, valid
// from an hour ago for a day). Safe for concurrent use.
type CA struct {
	Cert *x509.Certificate
	// Pool holds Cert: the roots a client trusting the CA uses.
	Pool *x509.CertPool
	// CertFile is Cert in PEM, once written (NewCA writes it).
	CertFile string
	key      *ecdsa.PrivateKey
	serial   atomic.Int64
}

// Leaf is a certificate the CA issued, as PEM files (for Kamailio,
// baresip, denwa's --tls-cert and --tls-key) and as a tls.Certificate.
type Leaf struct {
	CertFile, KeyFile string
	TLS               tls.Certificate
}

// MakeCA makes a CA named name, in memory only.
func MakeCA(name string) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	ca := &CA{Pool: x509.NewCertPool(), key: key}
	if ca.Cert, err = x509.ParseCertificate(der); err != nil {
		return nil, err
	}
	ca.serial.Store(1)
	ca.Pool.AddCert(ca.Cert)
	return ca, nil
}

// NewCA makes a CA named name and writes its certificate into
// t.TempDir() (CertFile).
func NewCA(t testing.TB, name string) *CA {
	t.Helper()
	ca, err := MakeCA(name)
	if err != nil {
		t.Fatalf("peers: CA: %v", err)
	}
	ca.CertFile = filepath.Join(t.TempDir(), "ca.pem")
	writeFile(t, ca.CertFile, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw})))
	return ca
}

// IssueServer issues a server certificate for names, each an IP address
// or a DNS name; the first is the common name.
func (ca *CA) IssueServer(names ...string) (tls.Certificate, error) {
	tmpl := &x509.Certificate{ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	if len(names) > 0 {
		tmpl.Subject.CommonName = names[0]
	}
	return ca.issue(tmpl)
}

// IssueClient issues a client certificate named name.
func (ca *CA) IssueClient(name string) (tls.Certificate, error) {
	return ca.issue(&x509.Certificate{Subject: pkix.Name{CommonName: name},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
}

// Server issues a server certificate for names (see IssueServer) and
// writes it and its key into t.TempDir().
func (ca *CA) Server(t testing.TB, names ...string) Leaf {
	t.Helper()
	c, err := ca.IssueServer(names...)
	return leafFiles(t, c, err)
}

// Client issues a client certificate named name and writes it and its
// key into t.TempDir().
func (ca *CA) Client(t testing.TB, name string) Leaf {
	t.Helper()
	c, err := ca.IssueClient(name)
	return leafFiles(t, c, err)
}

func (ca *CA) issue(tmpl *x509.Certificate) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl.SerialNumber = big.NewInt(ca.serial.Add(1))
	tmpl.NotBefore, tmpl.NotAfter = ca.Cert.NotBefore, ca.Cert.NotAfter
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

func leafFiles(t testing.TB, c tls.Certificate, err error) Leaf {
	t.Helper()
	if err != nil {
		t.Fatalf("peers: certificate: %v", err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		t.Fatalf("peers: %v", err)
	}
	dir := t.TempDir()
	l := Leaf{CertFile: filepath.Join(dir, "cert.pem"), KeyFile: filepath.Join(dir, "key.pem"), TLS: c}
	writeFile(t, l.CertFile, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]})))
	writeFile(t, l.KeyFile, string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})))
	return l
}
