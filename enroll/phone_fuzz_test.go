package enroll

import (
	"errors"
	"testing"
	"unicode/utf8"
)

// FuzzNormalizePhone feeds NormalizePhone what a user could type. It must
// never panic; it returns either a *PhoneError with a known code and both
// messages, or a valid number whose every form reads back as the same
// number:
//
//   - ParseE164(E164) gives the same PhoneNumber;
//   - NormalizePhone of E164 and of Display, with the same country, too;
//   - for Japanese numbers, NormalizePhone of National with "JP" too.
//     (Not for every region: the plan data's national form of some
//     numbers, such as Gabon's +241 2 00 00 00 written "02 00 00 00",
//     reads back as another number; seed gabon_national_form.)
//
// The seeds are the f.Add calls below and the files under
// testdata/fuzz/FuzzNormalizePhone (the "go test fuzz v1" format that go
// test writes: one line per argument, input then country). Run it with
//
//	go test ./enroll -run '^$' -fuzz FuzzNormalizePhone -fuzztime 60s
func FuzzNormalizePhone(f *testing.F) {
	for _, s := range []string{
		"03-1234-5678", "813-1234-5678", "81 3 1234 5678", "+81 3-1234-5678", "+81 (0)3-1234-5678",
		"０３－１２３４－５６７８", "＋８１　３ー１２３４ー５６７８", "090-1234-5678", "050-1234-5678",
		"0120-123-456", "0990-123-456", "0570-123-456", "110", "119", "104", "+1 415 555 2671",
		"+44 20 7946 0958", "010-1-415-555-2671", "", "+", "++81", "81+3", "0120-FLOWERS",
		"03\xff12345678", "+800 1234 5678", "+999 1234 5678", "0000000000000000000000",
	} {
		f.Add(s, "JP")
	}
	f.Add("(415) 555-2671", "US")
	f.Add("020 7946 0958", "gb")
	f.Add("03-1234-5678", "")
	f.Add("03-1234-5678", "XX")
	f.Fuzz(func(t *testing.T, input, country string) {
		p, err := NormalizePhone(input, country)
		if err != nil {
			var pe *PhoneError
			if !errors.As(err, &pe) {
				t.Fatalf("NormalizePhone(%q, %q): %T %v, want *PhoneError", input, country, err, err)
			}
			if _, ok := phoneMessages[pe.Code]; !ok || pe.MessageJA == "" || pe.MessageEN == "" {
				t.Fatalf("NormalizePhone(%q, %q): unknown code or empty message: %+v", input, country, pe)
			}
			if p != (PhoneNumber{}) {
				t.Fatalf("NormalizePhone(%q, %q) = %+v with error %v", input, country, p, err)
			}
			return
		}
		if utf8.RuneCountInString(input) > MaxPhoneInputLen {
			t.Fatalf("NormalizePhone accepted %d characters", utf8.RuneCountInString(input))
		}
		back, err := ParseE164(p.E164)
		if err != nil || back != p {
			t.Fatalf("NormalizePhone(%q, %q) = %+v; ParseE164 gives %+v, %v", input, country, p, back, err)
		}
		forms := []struct{ in, country string }{{p.E164, country}, {p.Display, country}}
		if p.Region == "JP" {
			forms = append(forms, struct{ in, country string }{p.National, "JP"})
		}
		for _, again := range forms {
			q, err := NormalizePhone(again.in, again.country)
			if err != nil || q != p {
				t.Fatalf("NormalizePhone(%q, %q) = %+v; reading %q (%q) again gives %+v, %v",
					input, country, p, again.in, again.country, q, err)
			}
		}
	})
}
