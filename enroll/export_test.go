package enroll

import "context"

// HashesComputed returns how many argon2id hashes CheckAppPassword has
// computed, so that tests can count the checks evaluated without timing.
func (s *Service) HashesComputed() int64 { return s.hashes.Load() }

// RenewLease renews the node's lease now, as the lease holder does every
// third of the lease.
func (s *Service) RenewLease(ctx context.Context) error { return s.renewLease(ctx) }
