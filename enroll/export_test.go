package enroll

// HashesComputed returns how many argon2id hashes CheckAppPassword has
// computed, so that tests can count the checks evaluated without timing.
func (s *Service) HashesComputed() int64 { return s.hashes.Load() }
