package enroll

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// App passwords (アプリ パスワード) let mail clients that cannot do MFA sign
// in once the user's phone is verified. An app password is 16 lower-case
// letters a–z from crypto/rand (26^16 ≈ 2^75 possibilities), shown to the
// user exactly once, grouped as "abcd efgh ijkl mnop", and stored only as
// an argon2id hash in the PHC string format:
//
//	$argon2id$v=19$m=<memory KiB>,t=<passes>,p=<lanes>$<salt>$<hash>
//
// salt and hash in standard base64 without padding (the PHC convention).
// The parameters travel with each hash, so hashes made with older
// parameters still verify after [AppPasswordParams] changes; see
// [AppPasswordNeedsRehash].

// MaxAppPasswordsPerUser is how many app passwords one user may hold at
// once (revoked ones do not count). The store enforces it.
const MaxAppPasswordsPerUser = 40

// AppPasswordLen is the number of letters in an app password.
const AppPasswordLen = 16

// The argon2id parameters of new hashes. A mail gateway or RADIUS
// bridge checks an app password on every login, so a check must stay
// cheap in time and above all in memory (each check in flight holds
// AppPasswordMemoryKiB); the password itself carries 75 bits of
// entropy, so the hash is not what keeps it from being guessed offline.
//
// Chosen by measurement (BenchmarkAppPassword in apppassword_test.go,
// go test -bench AppPassword -benchtime 10x -count 5, on the shared
// 2-core development machine at load average ~5): m=19 MiB, t=2, p=1
// takes 20.5–29.5 ms per hash (median 21.3 ms; a whole
// VerifyAppPassword 22.4–23.6 ms). The alternatives measured then:
// m=64 MiB,t=1,p=1 38–40 ms; m=64 MiB,t=1,p=2 29–40 ms; m=46 MiB,t=1,p=1
// 28–33 ms; m=12 MiB,t=3,p=1 19–22 ms. All but the last fit the
// 20–50 ms budget; the 19 MiB setting (OWASP's first recommended
// argon2id configuration, m=19456 KiB, t=2, p=1) holds under a third of
// the memory of the 64 MiB ones for each check in flight, which matters
// more for a gateway that checks often than the last bit of offline
// cost does. Callers that
// verify on request paths should still bound how many checks run at
// once (for example to the number of CPUs).
const (
	AppPasswordMemoryKiB = 19 * 1024 // m: memory in KiB
	AppPasswordTime      = 2         // t: passes over the memory
	AppPasswordThreads   = 1         // p: lanes
	appPasswordSaltLen   = 16
	appPasswordKeyLen    = 32
)

// Caps on the parameters read from a stored hash, so that a corrupted or
// hostile row cannot make a check allocate gigabytes or run for minutes:
// at most 256 MiB, 10 passes, 16 lanes, a 64-byte salt and a 64-byte
// hash.
const (
	maxArgonMemoryKiB = 256 * 1024
	maxArgonTime      = 10
	maxArgonThreads   = 16
	minArgonSaltLen   = 8
	maxArgonSaltLen   = 64
	minArgonKeyLen    = 16
	maxArgonKeyLen    = 64
	maxPHCLen         = 256
)

// NewAppPassword returns a new app password: 16 lower-case letters a–z
// from crypto/rand, each chosen uniformly (bytes of 234 and above are
// drawn again, so there is no modulo bias). Show it with
// [FormatAppPassword]; store only [HashAppPassword] of it.
func NewAppPassword() (plain string, err error) {
	const limit = 256 - 256%26 // 234: the largest multiple of 26 that fits a byte
	var out [AppPasswordLen]byte
	var buf [32]byte
	n := 0
	for n < len(out) {
		if _, err := rand.Read(buf[:]); err != nil {
			return "", fmt.Errorf("enroll: app password: %w", err)
		}
		for _, b := range buf {
			if b >= limit {
				continue
			}
			out[n] = 'a' + b%26
			n++
			if n == len(out) {
				break
			}
		}
	}
	return string(out[:]), nil
}

// FormatAppPassword returns the display form of an app password, four
// groups of four letters: "abcd efgh ijkl mnop". Text that is no app
// password comes back unchanged.
func FormatAppPassword(plain string) string {
	p, err := NormalizeAppPassword(plain)
	if err != nil {
		return plain
	}
	return p[0:4] + " " + p[4:8] + " " + p[8:12] + " " + p[12:16]
}

// NormalizeAppPassword returns the 16 letters of an app password as
// typed: spaces (also U+3000), tabs and hyphens are dropped, upper case
// and full-width letters (ａ–ｚ, Ａ–Ｚ) become lower-case a–z. Anything
// else, or not exactly 16 letters, is [ErrInvalidAppPassword]. Folding
// case costs no strength, since every app password is lower case.
func NormalizeAppPassword(s string) (string, error) {
	if len(s) > 8*AppPasswordLen {
		return "", ErrInvalidAppPassword
	}
	var out [AppPasswordLen]byte
	n := 0
	for _, r := range s {
		switch {
		case r == ' ' || r == '\t' || r == '-' || r == '\u3000':
			continue
		case r >= 'a' && r <= 'z':
		case r >= 'A' && r <= 'Z':
			r += 'a' - 'A'
		case r >= 'ａ' && r <= 'ｚ':
			r = r - 'ａ' + 'a'
		case r >= 'Ａ' && r <= 'Ｚ':
			r = r - 'Ａ' + 'a'
		default:
			return "", ErrInvalidAppPassword
		}
		if n == len(out) {
			return "", ErrInvalidAppPassword
		}
		out[n] = byte(r)
		n++
	}
	if n != len(out) {
		return "", ErrInvalidAppPassword
	}
	return string(out[:]), nil
}

// HashAppPassword returns the argon2id hash of an app password (in any
// form [NormalizeAppPassword] accepts) as a PHC string, with a fresh
// random 16-byte salt and the AppPassword* parameters. It takes about
// as long as one check (see the constants).
func HashAppPassword(plain string) (string, error) {
	p, err := NormalizeAppPassword(plain)
	if err != nil {
		return "", err
	}
	salt := make([]byte, appPasswordSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("enroll: app password salt: %w", err)
	}
	h := argonHash{
		memory:  AppPasswordMemoryKiB,
		time:    AppPasswordTime,
		threads: AppPasswordThreads,
		salt:    salt,
	}
	h.key = argon2.IDKey([]byte(p), h.salt, h.time, h.memory, h.threads, appPasswordKeyLen)
	return h.String(), nil
}

// VerifyAppPassword reports whether plain is the app password encoded
// was made from. plain may be typed with spaces or upper case; text that
// is no app password is simply false. The comparison is constant-time.
// The error is non-nil only when encoded is no hash this package accepts
// ([ErrInvalidPasswordHash]): a damaged row, not a wrong password.
//
// A check costs what the parameters stored in encoded say, within caps
// (256 MiB, 10 passes, 16 lanes).
func VerifyAppPassword(plain, encoded string) (bool, error) {
	h, err := parseArgonHash(encoded)
	if err != nil {
		return false, err
	}
	p, err := NormalizeAppPassword(plain)
	if err != nil {
		return false, nil
	}
	key := argon2.IDKey([]byte(p), h.salt, h.time, h.memory, h.threads, uint32(len(h.key)))
	return subtle.ConstantTimeCompare(key, h.key) == 1, nil
}

// AppPasswordNeedsRehash reports whether encoded was made with other
// parameters than new hashes get (or cannot be read). After a successful
// check the service may store a fresh [HashAppPassword] of the password.
func AppPasswordNeedsRehash(encoded string) bool {
	h, err := parseArgonHash(encoded)
	return err != nil || h.memory != AppPasswordMemoryKiB || h.time != AppPasswordTime ||
		h.threads != AppPasswordThreads || len(h.salt) != appPasswordSaltLen || len(h.key) != appPasswordKeyLen
}

type argonHash struct {
	memory    uint32
	time      uint32
	threads   uint8
	salt, key []byte
}

var phcB64 = base64.RawStdEncoding.Strict()

func (h argonHash) String() string {
	return "$argon2id$v=" + strconv.Itoa(argon2.Version) +
		"$m=" + strconv.FormatUint(uint64(h.memory), 10) +
		",t=" + strconv.FormatUint(uint64(h.time), 10) +
		",p=" + strconv.FormatUint(uint64(h.threads), 10) +
		"$" + phcB64.EncodeToString(h.salt) + "$" + phcB64.EncodeToString(h.key)
}

// parseArgonHash reads exactly the form String writes:
//
//	$argon2id$v=19$m=19456,t=2,p=1$<salt b64>$<hash b64>
//
// Only argon2id version 19, the three parameters in this order as plain
// decimal numbers, canonical unpadded base64, and values within the caps.
func parseArgonHash(s string) (argonHash, error) {
	bad := func(why string) (argonHash, error) {
		return argonHash{}, fmt.Errorf("%w: %s", ErrInvalidPasswordHash, why)
	}
	if len(s) > maxPHCLen {
		return bad("too long")
	}
	f := strings.Split(s, "$")
	if len(f) != 6 || f[0] != "" {
		return bad("not a PHC string")
	}
	if f[1] != "argon2id" {
		return bad("not argon2id")
	}
	if f[2] != "v="+strconv.Itoa(argon2.Version) {
		return bad("unsupported version")
	}
	var h argonHash
	ps := strings.Split(f[3], ",")
	if len(ps) != 3 {
		return bad("parameters")
	}
	var vals [3]uint64
	for i, name := range []string{"m=", "t=", "p="} {
		v, ok := strings.CutPrefix(ps[i], name)
		if !ok {
			return bad("parameters")
		}
		n, ok := parseDecimal(v)
		if !ok {
			return bad("parameters")
		}
		vals[i] = n
	}
	m, t, p := vals[0], vals[1], vals[2]
	switch {
	case p < 1 || p > maxArgonThreads:
		return bad("p out of range")
	case t < 1 || t > maxArgonTime:
		return bad("t out of range")
	case m < 8*p || m > maxArgonMemoryKiB:
		return bad("m out of range")
	}
	h.memory, h.time, h.threads = uint32(m), uint32(t), uint8(p)
	// The decoder skips CR and LF; a stored hash has none.
	if !isB64Std(f[4]) || !isB64Std(f[5]) {
		return bad("base64")
	}
	var err error
	if h.salt, err = phcB64.DecodeString(f[4]); err != nil || len(h.salt) < minArgonSaltLen || len(h.salt) > maxArgonSaltLen {
		return bad("salt")
	}
	if h.key, err = phcB64.DecodeString(f[5]); err != nil || len(h.key) < minArgonKeyLen || len(h.key) > maxArgonKeyLen {
		return bad("hash")
	}
	return h, nil
}

// isB64Std reports whether s holds only the standard base64 alphabet.
func isB64Std(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/') {
			return false
		}
	}
	return true
}

// parseDecimal reads 1 to 9 ASCII digits without a leading zero.
func parseDecimal(s string) (uint64, bool) {
	if len(s) == 0 || len(s) > 9 || (s[0] == '0' && len(s) > 1) {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, true
}
