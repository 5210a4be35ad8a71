package enroll

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestNormalizePhone(t *testing.T) {
	tests := []struct {
		name, in, country string
		e164, region      string
		typ               PhoneType
		display, national string
	}{
		// The forms of step 1, all one Tokyo number.
		{"national", "03-1234-5678", "JP", "+81312345678", "JP", PhoneTypeFixedLine, "+81 3-1234-5678", "03-1234-5678"},
		{"national no separators", "0312345678", "JP", "+81312345678", "JP", PhoneTypeFixedLine, "+81 3-1234-5678", "03-1234-5678"},
		{"national default country", "03-1234-5678", "", "+81312345678", "JP", PhoneTypeFixedLine, "+81 3-1234-5678", "03-1234-5678"},
		{"national lower-case country", "03-1234-5678", "jp", "+81312345678", "JP", PhoneTypeFixedLine, "+81 3-1234-5678", "03-1234-5678"},
		{"national without trunk 0", "3-1234-5678", "JP", "+81312345678", "JP", PhoneTypeFixedLine, "+81 3-1234-5678", "03-1234-5678"},
		{"country code first hyphens", "813-1234-5678", "JP", "+81312345678", "JP", PhoneTypeFixedLine, "+81 3-1234-5678", "03-1234-5678"},
		{"country code first spaces", "81 3 1234 5678", "JP", "+81312345678", "JP", PhoneTypeFixedLine, "+81 3-1234-5678", "03-1234-5678"},
		{"country code first digits", "81312345678", "JP", "+81312345678", "JP", PhoneTypeFixedLine, "+81 3-1234-5678", "03-1234-5678"},
		{"international", "+81 3-1234-5678", "JP", "+81312345678", "JP", PhoneTypeFixedLine, "+81 3-1234-5678", "03-1234-5678"},
		{"international other country chosen", "+81 3-1234-5678", "US", "+81312345678", "JP", PhoneTypeFixedLine, "+81 3-1234-5678", "03-1234-5678"},
		{"international with (0)", "+81 (0)3-1234-5678", "JP", "+81312345678", "JP", PhoneTypeFixedLine, "+81 3-1234-5678", "03-1234-5678"},
		{"international with 0", "+81 03 1234 5678", "JP", "+81312345678", "JP", PhoneTypeFixedLine, "+81 3-1234-5678", "03-1234-5678"},
		{"E.164", "+81312345678", "JP", "+81312345678", "JP", PhoneTypeFixedLine, "+81 3-1234-5678", "03-1234-5678"},
		{"full-width", "０３－１２３４－５６７８", "JP", "+81312345678", "JP", PhoneTypeFixedLine, "+81 3-1234-5678", "03-1234-5678"},
		{"full-width plus", "＋８１　３ー１２３４ー５６７８", "JP", "+81312345678", "JP", PhoneTypeFixedLine, "+81 3-1234-5678", "03-1234-5678"},
		{"long vowel mark", "03ー1234ー5678", "JP", "+81312345678", "JP", PhoneTypeFixedLine, "+81 3-1234-5678", "03-1234-5678"},
		{"half-width long mark", "03ｰ1234ｰ5678", "JP", "+81312345678", "JP", PhoneTypeFixedLine, "+81 3-1234-5678", "03-1234-5678"},
		{"parentheses", "(03) 1234-5678", "JP", "+81312345678", "JP", PhoneTypeFixedLine, "+81 3-1234-5678", "03-1234-5678"},
		{"full-width parentheses", "（03）1234－5678", "JP", "+81312345678", "JP", PhoneTypeFixedLine, "+81 3-1234-5678", "03-1234-5678"},
		{"dots", "03.1234.5678", "JP", "+81312345678", "JP", PhoneTypeFixedLine, "+81 3-1234-5678", "03-1234-5678"},
		{"dashes and nbsp", "03\u20131234\u00a05678", "JP", "+81312345678", "JP", PhoneTypeFixedLine, "+81 3-1234-5678", "03-1234-5678"},
		{"surrounding spaces", "  03-1234-5678\t", "JP", "+81312345678", "JP", PhoneTypeFixedLine, "+81 3-1234-5678", "03-1234-5678"},

		// Each kind of Japanese number.
		{"Osaka", "06-6123-4567", "JP", "+81661234567", "JP", PhoneTypeFixedLine, "+81 6-6123-4567", "06-6123-4567"},
		{"Sapporo", "011-222-3456", "JP", "+81112223456", "JP", PhoneTypeFixedLine, "+81 11-222-3456", "011-222-3456"},
		{"mobile 090", "090-1234-5678", "JP", "+819012345678", "JP", PhoneTypeMobile, "+81 90-1234-5678", "090-1234-5678"},
		{"mobile 080", "080-1234-5678", "JP", "+818012345678", "JP", PhoneTypeMobile, "+81 80-1234-5678", "080-1234-5678"},
		{"mobile 070", "070-1234-5678", "JP", "+817012345678", "JP", PhoneTypeMobile, "+81 70-1234-5678", "070-1234-5678"},
		{"mobile country code first", "81 90 1234 5678", "JP", "+819012345678", "JP", PhoneTypeMobile, "+81 90-1234-5678", "090-1234-5678"},
		{"IP phone 050", "050-1234-5678", "JP", "+815012345678", "JP", PhoneTypeVoIP, "+81 50-1234-5678", "050-1234-5678"},
		{"toll-free 0120", "0120-123-456", "JP", "+81120123456", "JP", PhoneTypeTollFree, "+81 120-123-456", "0120-123-456"},
		{"toll-free 0800", "0800-123-4567", "JP", "+818001234567", "JP", PhoneTypeTollFree, "+81 800-123-4567", "0800-123-4567"},
		{"premium 0990", "0990-123-456", "JP", "+81990123456", "JP", PhoneTypePremiumRate, "+81 990-123-456", "0990-123-456"},
		{"navi-dial 0570", "0570-123-456", "JP", "+81570123456", "JP", PhoneTypeUAN, "+81 570-123-456", "0570-123-456"},
		{"pager 020", "020-1234-5678", "JP", "+812012345678", "JP", PhoneTypePager, "+81 20-1234-5678", "020-1234-5678"},

		// Foreign numbers.
		{"US international", "+1 415 555 2671", "JP", "+14155552671", "US", PhoneTypeFixedLineOrMobile, "+1 415-555-2671", "(415) 555-2671"},
		{"US national", "(415) 555-2671", "US", "+14155552671", "US", PhoneTypeFixedLineOrMobile, "+1 415-555-2671", "(415) 555-2671"},
		{"US with 1", "1 415 555 2671", "US", "+14155552671", "US", PhoneTypeFixedLineOrMobile, "+1 415-555-2671", "(415) 555-2671"},
		{"US from Japan with 010", "010-1-415-555-2671", "JP", "+14155552671", "US", PhoneTypeFixedLineOrMobile, "+1 415-555-2671", "(415) 555-2671"},
		{"US toll-free", "+1 800 555 0199", "US", "+18005550199", "US", PhoneTypeTollFree, "+1 800-555-0199", "(800) 555-0199"},
		{"UK London", "+44 20 7946 0958", "JP", "+442079460958", "GB", PhoneTypeFixedLine, "+44 20 7946 0958", "020 7946 0958"},
		{"UK national", "020 7946 0958", "GB", "+442079460958", "GB", PhoneTypeFixedLine, "+44 20 7946 0958", "020 7946 0958"},
		{"UK country code first", "44 20 7946 0958", "GB", "+442079460958", "GB", PhoneTypeFixedLine, "+44 20 7946 0958", "020 7946 0958"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NormalizePhone(tt.in, tt.country)
			if err != nil {
				t.Fatalf("NormalizePhone(%q, %q): %v", tt.in, tt.country, err)
			}
			want := PhoneNumber{E164: tt.e164, Region: tt.region, CountryCode: got.CountryCode, Type: tt.typ, Display: tt.display, National: tt.national}
			if got != want {
				t.Errorf("NormalizePhone(%q, %q)\n got %+v\nwant %+v", tt.in, tt.country, got, want)
			}
			back, err := ParseE164(got.E164)
			if err != nil || back != got {
				t.Errorf("ParseE164(%q) = %+v, %v; want %+v", got.E164, back, err, got)
			}
		})
	}
}

func TestNormalizePhoneCountryCode(t *testing.T) {
	for _, tt := range []struct {
		in   string
		code int
	}{{"03-1234-5678", 81}, {"+1 415 555 2671", 1}, {"+44 20 7946 0958", 44}} {
		got, err := NormalizePhone(tt.in, "JP")
		if err != nil || got.CountryCode != tt.code {
			t.Errorf("NormalizePhone(%q).CountryCode = %d, %v; want %d", tt.in, got.CountryCode, err, tt.code)
		}
	}
}

func TestNormalizePhoneRefused(t *testing.T) {
	tests := []struct {
		name, in, country, code string
	}{
		{"empty", "", "JP", PhoneErrEmpty},
		{"separators only", " - ( ) ", "JP", PhoneErrEmpty},
		{"plus only", "+", "JP", PhoneErrInvalidNumber},
		{"too long", strings.Repeat("0", MaxPhoneInputLen+1), "JP", PhoneErrTooLong},
		{"too long spaces", "03-1234-5678" + strings.Repeat(" ", MaxPhoneInputLen), "JP", PhoneErrTooLong},
		{"too long full-width", strings.Repeat("０", MaxPhoneInputLen+1), "JP", PhoneErrTooLong},
		{"huge", strings.Repeat("9", 1<<20), "JP", PhoneErrTooLong},
		{"letters", "03-1234-ABCD", "JP", PhoneErrInvalidCharacter},
		{"vanity", "0120-FLOWERS", "JP", PhoneErrInvalidCharacter},
		{"extension", "03-1234-5678 ext 12", "JP", PhoneErrInvalidCharacter},
		{"plus inside", "81+3-1234-5678", "JP", PhoneErrInvalidCharacter},
		{"two pluses", "++81 3-1234-5678", "JP", PhoneErrInvalidCharacter},
		{"star", "*31#", "JP", PhoneErrInvalidCharacter},
		{"arabic-indic digits", "٠٣١٢٣٤٥٦٧٨", "JP", PhoneErrInvalidCharacter},
		{"invalid UTF-8", "03\xff12345678", "JP", PhoneErrInvalidCharacter},
		{"NUL", "03\x0012345678", "JP", PhoneErrInvalidCharacter},
		{"emergency police", "110", "JP", PhoneErrEmergency},
		{"emergency fire", "119", "JP", PhoneErrEmergency},
		{"directory 104", "104", "JP", PhoneErrTooShort},
		{"time 117", "117", "JP", PhoneErrTooShort},
		{"short 4 digits", "1234", "JP", PhoneErrTooShort},
		{"US emergency", "911", "US", PhoneErrEmergency},
		{"international short", "+81 104", "JP", PhoneErrTooShort},
		{"unknown country", "03-1234-5678", "XX", PhoneErrInvalidCountry},
		{"country name", "03-1234-5678", "Japan", PhoneErrInvalidCountry},
		{"invalid 0180 shape", "0180-123-456", "JP", PhoneErrInvalidNumber},
		{"too few digits toll-free", "0120-12345", "JP", PhoneErrInvalidNumber},
		{"too many digits", "03-1234-56789", "JP", PhoneErrInvalidNumber},
		{"way too many digits", "031234567890123456789", "JP", PhoneErrInvalidNumber},
		{"unknown country code", "+999 1234 5678", "JP", PhoneErrInvalidNumber},
		{"longer than E.164", "+49 201 00000000000", "JP", PhoneErrInvalidNumber},
		{"zero country code", "+0 3 1234 5678", "JP", PhoneErrInvalidNumber},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NormalizePhone(tt.in, tt.country)
			var pe *PhoneError
			if !errors.As(err, &pe) {
				t.Fatalf("NormalizePhone(%.40q, %q) = %+v, %v; want a *PhoneError", tt.in, tt.country, got, err)
			}
			if pe.Code != tt.code {
				t.Errorf("NormalizePhone(%.40q, %q): code %q (%v), want %q", tt.in, tt.country, pe.Code, err, tt.code)
			}
			if got != (PhoneNumber{}) {
				t.Errorf("NormalizePhone(%.40q) returned %+v with its error", tt.in, got)
			}
			checkPhoneMessages(t, pe)
			if len(tt.in) >= 4 && strings.Contains(err.Error(), tt.in) {
				t.Errorf("error %q repeats the input", err)
			}
		})
	}
}

func checkPhoneMessages(t *testing.T, pe *PhoneError) {
	t.Helper()
	if pe.MessageJA == "" || pe.MessageEN == "" {
		t.Errorf("code %q: missing message: %+v", pe.Code, pe)
	}
	if !strings.Contains(pe.Error(), pe.Code) || !strings.HasPrefix(pe.Error(), "enroll: ") {
		t.Errorf("Error() = %q; want the package prefix and the code", pe.Error())
	}
}

func TestPhoneMessagesComplete(t *testing.T) {
	codes := []string{PhoneErrEmpty, PhoneErrTooLong, PhoneErrInvalidCharacter, PhoneErrInvalidCountry,
		PhoneErrInvalidNumber, PhoneErrTooShort, PhoneErrEmergency, PhoneErrCountryNotAllowed,
		PhoneErrPremiumRate, PhoneErrTollFree, PhoneErrSharedCost, PhoneErrTypeNotAllowed}
	if len(codes) != len(phoneMessages) {
		t.Errorf("%d codes, %d messages", len(codes), len(phoneMessages))
	}
	for _, c := range codes {
		checkPhoneMessages(t, phoneErr(c))
	}
}

func TestPhonePolicyCheck(t *testing.T) {
	usJP := PhonePolicy{AllowedRegions: []string{"jp", "US"}}
	anyType := PhonePolicy{AllowTypes: []PhoneType{PhoneTypeTollFree, PhoneTypePremiumRate, PhoneTypeUAN}}
	tests := []struct {
		name   string
		policy PhonePolicy
		in     string
		code   string // "" means allowed
	}{
		{"Tokyo", PhonePolicy{}, "03-1234-5678", ""},
		{"Osaka", PhonePolicy{}, "06-6123-4567", ""},
		{"mobile 090", PhonePolicy{}, "090-1234-5678", ""},
		{"mobile 080", PhonePolicy{}, "080-1234-5678", ""},
		{"mobile 070", PhonePolicy{}, "070-1234-5678", ""},
		{"IP phone 050", PhonePolicy{}, "050-1234-5678", ""},
		{"toll-free 0120", PhonePolicy{}, "0120-123-456", PhoneErrTollFree},
		{"toll-free 0800", PhonePolicy{}, "0800-123-4567", PhoneErrTollFree},
		{"premium 0990", PhonePolicy{}, "0990-123-456", PhoneErrPremiumRate},
		{"navi-dial 0570", PhonePolicy{}, "0570-123-456", PhoneErrSharedCost},
		{"pager 020", PhonePolicy{}, "020-1234-5678", PhoneErrTypeNotAllowed},
		{"personal 060", PhonePolicy{}, "060-012-3456", PhoneErrTypeNotAllowed},
		{"US default policy", PhonePolicy{}, "+1 415 555 2671", PhoneErrCountryNotAllowed},
		{"UK default policy", PhonePolicy{}, "+44 20 7946 0958", PhoneErrCountryNotAllowed},
		{"US allowed", usJP, "+1 415 555 2671", ""},
		{"JP allowed lower-case", usJP, "03-1234-5678", ""},
		{"UK not in list", usJP, "+44 20 7946 0958", PhoneErrCountryNotAllowed},
		{"US premium", usJP, "+1 900 555 0199", PhoneErrPremiumRate},
		{"US toll-free", usJP, "+1 800 555 0199", PhoneErrTollFree},
		{"international freephone", usJP, "+800 1234 5678", PhoneErrCountryNotAllowed},
		{"toll-free allowed explicitly", anyType, "0120-123-456", ""},
		{"premium allowed explicitly", anyType, "0990-123-456", ""},
		{"UAN allowed explicitly", anyType, "0570-123-456", ""},
		{"mobile not in explicit list", anyType, "090-1234-5678", PhoneErrTypeNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.policy.Validate(); err != nil {
				t.Fatal(err)
			}
			n, err := NormalizePhone(tt.in, "JP")
			if err != nil {
				t.Fatalf("NormalizePhone(%q): %v", tt.in, err)
			}
			err = tt.policy.Check(n)
			if tt.code == "" {
				if err != nil {
					t.Fatalf("Check(%s): %v", n.E164, err)
				}
				return
			}
			var pe *PhoneError
			if !errors.As(err, &pe) || pe.Code != tt.code {
				t.Fatalf("Check(%s) = %v; want code %q", n.E164, err, tt.code)
			}
			checkPhoneMessages(t, pe)
		})
	}
}

// Check judges the E.164 number, not the other fields: a hand-built
// PhoneNumber cannot dress a premium number as a mobile one.
func TestPhonePolicyCheckTrustsOnlyE164(t *testing.T) {
	var p PhonePolicy
	forged := PhoneNumber{E164: "+81990123456", Region: "JP", Type: PhoneTypeMobile}
	var pe *PhoneError
	if err := p.Check(forged); !errors.As(err, &pe) || pe.Code != PhoneErrPremiumRate {
		t.Errorf("Check(forged premium) = %v; want premium_rate", err)
	}
	for _, e164 := range []string{"", "+", "81312345678", "+81 3-1234-5678", "+810312345678", "+8131234567890123", "+81110", "+0312345678"} {
		err := p.Check(PhoneNumber{E164: e164, Region: "JP", Type: PhoneTypeFixedLine})
		if !errors.As(err, &pe) || pe.Code != PhoneErrInvalidNumber {
			t.Errorf("Check(E164 %q) = %v; want invalid_number", e164, err)
		}
	}
}

func TestPhonePolicyValidate(t *testing.T) {
	for _, p := range []PhonePolicy{
		{AllowedRegions: []string{"JP", "XX"}},
		{AllowedRegions: []string{"Japan"}},
		{AllowedRegions: []string{""}},
		{AllowTypes: []PhoneType{PhoneType(200)}},
	} {
		if err := p.Validate(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("Validate(%+v) = %v; want ErrInvalidConfig", p, err)
		}
	}
}

func TestParseE164(t *testing.T) {
	for _, s := range []string{"", "+", "+81", "81312345678", "+81 312345678", "+81-3-1234-5678",
		"+810312345678", "+0081312345678", "+81312345678 ", "+８１312345678", "+81312345678\x00",
		"+1234567890123456", "+81110", "+999123456789"} {
		if p, err := ParseE164(s); err == nil {
			t.Errorf("ParseE164(%q) = %+v; want an error", s, p)
		}
	}
}

func TestPhoneTypeText(t *testing.T) {
	seen := map[string]bool{}
	for i := range phoneTypeNames {
		pt := PhoneType(i)
		b, err := json.Marshal(pt)
		if err != nil {
			t.Fatal(err)
		}
		var back PhoneType
		if err := json.Unmarshal(b, &back); err != nil || back != pt {
			t.Errorf("%v: JSON %s read back as %v, %v", pt, b, back, err)
		}
		if seen[pt.String()] {
			t.Errorf("duplicate name %q", pt)
		}
		seen[pt.String()] = true
	}
	if got := PhoneType(200).String(); got != "PhoneType(200)" {
		t.Errorf("PhoneType(200).String() = %q", got)
	}
	if _, err := PhoneType(200).MarshalText(); err == nil {
		t.Error("MarshalText(200) succeeded")
	}
	var pt PhoneType
	if err := pt.UnmarshalText([]byte("Mobile")); err == nil {
		t.Error("UnmarshalText(Mobile) succeeded")
	}
}

func BenchmarkNormalizePhone(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := NormalizePhone("０３－１２３４－５６７８", "JP"); err != nil {
			b.Fatal(err)
		}
	}
}

func ExampleNormalizePhone() {
	for _, typed := range []string{"03-1234-5678", "813-1234-5678", "０９０－１２３４－５６７８", "+81 50 1234 5678"} {
		n, err := NormalizePhone(typed, "JP")
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Println(n.E164, n.Display, n.Type)
	}
	_, err := NormalizePhone("110", "JP")
	var pe *PhoneError
	if errors.As(err, &pe) {
		fmt.Println(pe.Code, pe.MessageJA)
	}
	// Output:
	// +81312345678 +81 3-1234-5678 fixed-line
	// +81312345678 +81 3-1234-5678 fixed-line
	// +819012345678 +81 90-1234-5678 mobile
	// +815012345678 +81 50-1234-5678 voip
	// emergency_number 110 や 119 などの緊急通報用の番号は登録できません。
}

func ExamplePhonePolicy_Check() {
	var policy PhonePolicy // Japan only; fixed-line, mobile and VoIP
	for _, typed := range []string{"090-1234-5678", "0120-123-456", "0570-123-456", "+1 415 555 2671"} {
		n, _ := NormalizePhone(typed, "JP")
		var pe *PhoneError
		if err := policy.Check(n); errors.As(err, &pe) {
			fmt.Println(n.E164, pe.Code)
		} else {
			fmt.Println(n.E164, "ok")
		}
	}
	// Output:
	// +819012345678 ok
	// +81120123456 toll_free
	// +81570123456 shared_cost
	// +14155552671 country_not_allowed
}
