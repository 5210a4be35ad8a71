package enroll

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/crypto/argon2"
)

var appPasswordRE = regexp.MustCompile(`^[a-z]{16}$`)

func TestNewAppPassword(t *testing.T) {
	const n = 5000
	seen := make(map[string]bool, n)
	var counts [26]int
	for range n {
		p, err := NewAppPassword()
		if err != nil {
			t.Fatal(err)
		}
		if !appPasswordRE.MatchString(p) {
			t.Fatalf("NewAppPassword() = %q; want 16 letters a-z", p)
		}
		if seen[p] {
			t.Fatalf("NewAppPassword() repeated %q", p)
		}
		seen[p] = true
		for i := range len(p) {
			counts[p[i]-'a']++
		}
	}
	// 80000 letters, 3077 expected per letter (sd ≈ 54): every letter is
	// used and none is far off. A modulo-biased generator (byte % 26)
	// gives a–v about 3.1 % more often than w–z; that is below what this
	// test resolves, so the rejection loop is checked by reading it, and
	// this test only catches gross mistakes.
	const want = n * AppPasswordLen / 26
	for i, c := range counts {
		if c < want*85/100 || c > want*115/100 {
			t.Errorf("letter %c drawn %d times; want about %d", 'a'+i, c, want)
		}
	}
}

func TestFormatAppPassword(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"abcdefghijklmnop", "abcd efgh ijkl mnop"},
		{"abcd efgh ijkl mnop", "abcd efgh ijkl mnop"},
		{"ABCDEFGHIJKLMNOP", "abcd efgh ijkl mnop"},
		{"short", "short"},
	} {
		if got := FormatAppPassword(tt.in); got != tt.want {
			t.Errorf("FormatAppPassword(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

func TestNormalizeAppPassword(t *testing.T) {
	const want = "abcdefghijklmnop"
	for _, in := range []string{
		"abcdefghijklmnop", "abcd efgh ijkl mnop", " abcd  efgh\tijkl mnop ", "ABCD-EFGH-IJKL-MNOP",
		"abcd\u3000efgh\u3000ijkl\u3000mnop", "ａｂｃｄ　ｅｆｇｈ　ｉｊｋｌ　ｍｎｏｐ", "ＡＢＣＤefghijklmnop",
	} {
		if got, err := NormalizeAppPassword(in); err != nil || got != want {
			t.Errorf("NormalizeAppPassword(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{
		"", "abcdefghijklmno", "abcdefghijklmnopq", "abcdefghijklmno1", "abcdefghijklmnoé",
		"abcdefghijklmno\x00", "abcdefghijklmno\xff", strings.Repeat("a", 1<<20),
		strings.Repeat(" ", 200) + "abcdefghijklmnop",
	} {
		if got, err := NormalizeAppPassword(in); !errors.Is(err, ErrInvalidAppPassword) {
			t.Errorf("NormalizeAppPassword(%.40q) = %q, %v; want ErrInvalidAppPassword", in, got, err)
		}
	}
}

func TestHashAppPassword(t *testing.T) {
	plain, err := NewAppPassword()
	if err != nil {
		t.Fatal(err)
	}
	enc, err := HashAppPassword(plain)
	if err != nil {
		t.Fatal(err)
	}
	phc := regexp.MustCompile(`^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)
	if !phc.MatchString(enc) {
		t.Fatalf("HashAppPassword = %q; want the PHC form", enc)
	}
	if strings.Contains(enc, plain) {
		t.Fatal("the hash contains the password")
	}
	if AppPasswordNeedsRehash(enc) {
		t.Error("a fresh hash needs rehash")
	}
	// A fresh salt every time.
	enc2, err := HashAppPassword(plain)
	if err != nil {
		t.Fatal(err)
	}
	if enc2 == enc {
		t.Error("two hashes of one password are equal")
	}

	for _, try := range []string{plain, FormatAppPassword(plain), strings.ToUpper(plain), " " + FormatAppPassword(plain) + " "} {
		ok, err := VerifyAppPassword(try, enc)
		if err != nil || !ok {
			t.Errorf("VerifyAppPassword(%q) = %v, %v; want true", try, ok, err)
		}
	}
	other := []byte(plain)
	other[0] = 'a' + (other[0]-'a'+1)%26
	for _, try := range []string{string(other), "", plain[:15], plain + "a", plain[:15] + "1", strings.Repeat("x", 1<<16)} {
		ok, err := VerifyAppPassword(try, enc)
		if err != nil || ok {
			t.Errorf("VerifyAppPassword(%.30q) = %v, %v; want false, nil", try, ok, err)
		}
	}

	for _, bad := range []string{"abcdefghijklmno7", "qwertyuiopasdfghj"} {
		_, err := HashAppPassword(bad)
		if !errors.Is(err, ErrInvalidAppPassword) {
			t.Errorf("HashAppPassword(%q) = %v; want ErrInvalidAppPassword", bad, err)
		} else if strings.Contains(err.Error(), bad[:8]) {
			t.Errorf("error %q repeats its input", err)
		}
	}
}

// Hashes made with other parameters (within the caps) still verify.
func TestVerifyAppPasswordOtherParams(t *testing.T) {
	const plain = "qwertyuiopasdfgh"
	for _, p := range []struct {
		m, t       uint32
		p          uint8
		salt, keyN int
	}{
		{64, 1, 1, 8, 16},
		{1024, 3, 4, 64, 64},
		{2048, 1, 2, 16, 32},
	} {
		h := argonHash{memory: p.m, time: p.t, threads: p.p, salt: make([]byte, p.salt)}
		for i := range h.salt {
			h.salt[i] = byte(i * 7)
		}
		h.key = argon2.IDKey([]byte(plain), h.salt, p.t, p.m, p.p, uint32(p.keyN))
		enc := h.String()
		ok, err := VerifyAppPassword("QWER TYUI OPAS DFGH", enc)
		if err != nil || !ok {
			t.Errorf("VerifyAppPassword(%s) = %v, %v; want true", enc, ok, err)
		}
		if !AppPasswordNeedsRehash(enc) {
			t.Errorf("AppPasswordNeedsRehash(%s) = false", enc)
		}
	}
}

func TestVerifyAppPasswordMalformed(t *testing.T) {
	const plain = "abcdefghijklmnop"
	good, err := HashAppPassword(plain)
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Split(good, "$")
	salt, key := f[4], f[5]
	with := func(params, s, k string) string { return "$argon2id$v=19$" + params + "$" + s + "$" + k }
	cases := map[string]string{
		"empty":              "",
		"dollar":             "$",
		"argon2i":            strings.Replace(good, "argon2id", "argon2i", 1),
		"argon2d":            strings.Replace(good, "argon2id", "argon2d", 1),
		"bcrypt":             "$2a$10$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234",
		"version 16":         strings.Replace(good, "v=19", "v=16", 1),
		"no version":         "$argon2id$m=19456,t=2,p=1$" + salt + "$" + key,
		"extra field":        good + "$",
		"leading text":       "x" + good,
		"params order":       with("t=2,m=19456,p=1", salt, key),
		"missing param":      with("m=19456,t=2", salt, key),
		"extra param":        with("m=19456,t=2,p=1,k=1", salt, key),
		"space in params":    with("m=19456, t=2,p=1", salt, key),
		"plus sign":          with("m=+19456,t=2,p=1", salt, key),
		"negative":           with("m=19456,t=-2,p=1", salt, key),
		"leading zero":       with("m=019456,t=2,p=1", salt, key),
		"hex":                with("m=0x4c00,t=2,p=1", salt, key),
		"empty value":        with("m=,t=2,p=1", salt, key),
		"m 100 GB":           with("m=104857600,t=2,p=1", salt, key),
		"m over cap":         with("m=262145,t=2,p=1", salt, key),
		"m overflow":         with("m=99999999999999999999,t=2,p=1", salt, key),
		"m below 8p":         with("m=15,t=1,p=2", salt, key),
		"t zero":             with("m=19456,t=0,p=1", salt, key),
		"t over cap":         with("m=19456,t=11,p=1", salt, key),
		"t huge":             with("m=19456,t=4294967295,p=1", salt, key),
		"p zero":             with("m=19456,t=2,p=0", salt, key),
		"p over cap":         with("m=19456,t=2,p=17", salt, key),
		"p 256 wraps":        with("m=19456,t=2,p=257", salt, key),
		"salt padded":        with("m=19456,t=2,p=1", salt+"==", key),
		"salt url alphabet":  with("m=19456,t=2,p=1", strings.Repeat("_", 22), key),
		"salt empty":         with("m=19456,t=2,p=1", "", key),
		"salt short":         with("m=19456,t=2,p=1", "AAAAAA", key),
		"salt long":          with("m=19456,t=2,p=1", strings.Repeat("A", 88), key),
		"salt non-canonical": with("m=19456,t=2,p=1", "AAAAAAAAAAAAAAAAAAAAAB", key),
		"hash short":         with("m=19456,t=2,p=1", salt, "AAAAAAAAAAAAAAAAAAA"),
		"hash empty":         with("m=19456,t=2,p=1", salt, ""),
		"hash long":          with("m=19456,t=2,p=1", salt, strings.Repeat("A", 88)),
		"hash bad char":      with("m=19456,t=2,p=1", salt, key[:42]+"*"),
		"CR in hash":         with("m=19456,t=2,p=1", salt, key[:10]+"\r"+key[10:]),
		"LF in salt":         with("m=19456,t=2,p=1", salt[:5]+"\n"+salt[5:], key),
		"huge":               good + strings.Repeat("A", 1<<20),
		"NUL":                good[:10] + "\x00" + good[11:],
	}
	for name, enc := range cases {
		t.Run(name, func(t *testing.T) {
			ok, err := VerifyAppPassword(plain, enc)
			if ok || !errors.Is(err, ErrInvalidPasswordHash) {
				t.Fatalf("VerifyAppPassword(%.60q) = %v, %v; want ErrInvalidPasswordHash", enc, ok, err)
			}
			if strings.Contains(err.Error(), plain) {
				t.Errorf("error %q contains the password", err)
			}
			if !AppPasswordNeedsRehash(enc) {
				t.Error("AppPasswordNeedsRehash = false for a malformed hash")
			}
		})
	}
	// The unmodified hash still verifies: the cases fail for their own reason.
	if ok, err := VerifyAppPassword(plain, with("m=19456,t=2,p=1", salt, key)); !ok || err != nil {
		t.Fatalf("control: %v, %v", ok, err)
	}
}

func TestParseArgonHashCaps(t *testing.T) {
	// The largest values accepted are the caps themselves.
	salt := phcB64.EncodeToString(make([]byte, maxArgonSaltLen))
	key := phcB64.EncodeToString(make([]byte, maxArgonKeyLen))
	enc := fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$%s$%s", maxArgonMemoryKiB, maxArgonTime, maxArgonThreads, salt, key)
	if len(enc) > maxPHCLen {
		t.Fatalf("a hash at the caps is %d bytes, over maxPHCLen %d", len(enc), maxPHCLen)
	}
	h, err := parseArgonHash(enc)
	if err != nil {
		t.Fatal(err)
	}
	if h.memory != maxArgonMemoryKiB || h.time != maxArgonTime || int(h.threads) != maxArgonThreads {
		t.Errorf("parsed %+v", h)
	}
	if got := h.String(); got != enc {
		t.Errorf("String() = %q; want %q", got, enc)
	}
}

func FuzzVerifyAppPasswordHash(f *testing.F) {
	f.Add("$argon2id$v=19$m=64,t=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA")
	f.Add("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g")
	f.Fuzz(func(t *testing.T, enc string) {
		h, err := parseArgonHash(enc)
		if err != nil {
			return
		}
		if h.memory > maxArgonMemoryKiB || h.time > maxArgonTime || h.threads > maxArgonThreads || h.threads == 0 {
			t.Fatalf("accepted out-of-range parameters %+v", h)
		}
		if h.String() != enc {
			t.Fatalf("accepted a non-canonical form %q (canonical %q)", enc, h.String())
		}
	})
}

// BenchmarkAppPassword measures one hash (what a check costs) with the
// chosen parameters and with the alternatives that were considered.
func BenchmarkAppPassword(b *testing.B) {
	pw := []byte("abcdefghijklmnop")
	salt := make([]byte, 16)
	for _, p := range []struct {
		name    string
		m, t    uint32
		threads uint8
	}{
		{"chosen/m=19MiB,t=2,p=1", AppPasswordMemoryKiB, AppPasswordTime, AppPasswordThreads},
		{"m=46MiB,t=1,p=1", 46 * 1024, 1, 1},
		{"m=64MiB,t=1,p=2", 64 * 1024, 1, 2},
		{"m=64MiB,t=1,p=1", 64 * 1024, 1, 1},
		{"m=12MiB,t=3,p=1", 12 * 1024, 3, 1},
	} {
		b.Run(p.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				argon2.IDKey(pw, salt, p.t, p.m, p.threads, 32)
			}
		})
	}
}

func BenchmarkVerifyAppPassword(b *testing.B) {
	enc, err := HashAppPassword("abcdefghijklmnop")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if ok, _ := VerifyAppPassword("abcd efgh ijkl mnop", enc); !ok {
			b.Fatal("no match")
		}
	}
}
