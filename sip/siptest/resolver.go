package siptest

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"sync"
)

// Resolver is a DNS for one test (a sip.Resolver): names map to the
// addresses Set gives them, and every other name is "no such host" at
// once, as a name under .invalid is (RFC 6761), without asking the
// network. Safe for concurrent use.
type Resolver struct {
	mu      sync.Mutex
	hosts   map[string][]netip.Addr
	lookups int
}

// Set makes host resolve to addrs; no addrs makes it unknown again.
func (r *Resolver) Set(host string, addrs ...netip.Addr) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.hosts == nil {
		r.hosts = map[string][]netip.Addr{}
	}
	host = strings.ToLower(host)
	if len(addrs) == 0 {
		delete(r.hosts, host)
		return
	}
	r.hosts[host] = append([]netip.Addr(nil), addrs...)
}

// Lookups returns how many lookups (of either kind) were made.
func (r *Resolver) Lookups() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lookups
}

// LookupNetIP returns host's addresses, or a *net.DNSError "no such host".
func (r *Resolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lookups++
	if a, ok := r.hosts[strings.ToLower(host)]; ok {
		return append([]netip.Addr(nil), a...), nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// LookupSRV knows no SRV records: "no such host".
func (r *Resolver) LookupSRV(_ context.Context, service, proto, name string) (string, []*net.SRV, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lookups++
	return "", nil, &net.DNSError{Err: "no such host", Name: "_" + service + "._" + proto + "." + name, IsNotFound: true}
}
