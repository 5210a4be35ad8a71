package enroll

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"
)

// Phone numbers: what a user types in step 1 of the flow becomes an E.164
// number, or a [*PhoneError] that says in Japanese and English what was
// wrong. [NormalizePhone] decides what the number is; [PhonePolicy.Check]
// decides whether denwa may call it. Both are pure functions of their
// arguments (the numbering plan is the metadata compiled into
// github.com/nyaruka/phonenumbers) and safe for concurrent use.

// MaxPhoneInputLen is the longest input, in characters, that
// [NormalizePhone] reads. The longest E.164 number has 15 digits; 64
// characters leave room for a plus sign, separators and full-width forms
// and nothing else. Longer input is refused before it reaches the parser.
const MaxPhoneInputLen = 64

// DefaultPhoneCountry is the country [NormalizePhone] assumes when none is
// chosen: the UI's default, 日本 (+81).
const DefaultPhoneCountry = "JP"

// PhoneType is the kind of line a number belongs to, as the numbering
// plan says. The zero value is unknown. The String forms are stable: they
// are stored and shown in the API.
type PhoneType uint8

const (
	PhoneTypeUnknown           PhoneType = iota // not classified
	PhoneTypeFixedLine                          // geographic number: 03, 06, …
	PhoneTypeMobile                             // 090, 080, 070
	PhoneTypeFixedLineOrMobile                  // the plan cannot tell (the US and Canada)
	PhoneTypeTollFree                           // freephone: 0120, 0800
	PhoneTypePremiumRate                        // premium rate: 0990 (ダイヤル Q2)
	PhoneTypeSharedCost                         // shared cost
	PhoneTypeVoIP                               // IP telephony: 050
	PhoneTypePersonal                           // personal numbers that forward elsewhere: 060
	PhoneTypePager                              // pagers and M2M: 020
	PhoneTypeUAN                                // universal access number: 0570 (ナビダイヤル)
	PhoneTypeVoicemail                          // voicemail access
)

var phoneTypeNames = [...]string{
	PhoneTypeUnknown:           "unknown",
	PhoneTypeFixedLine:         "fixed-line",
	PhoneTypeMobile:            "mobile",
	PhoneTypeFixedLineOrMobile: "fixed-line-or-mobile",
	PhoneTypeTollFree:          "toll-free",
	PhoneTypePremiumRate:       "premium-rate",
	PhoneTypeSharedCost:        "shared-cost",
	PhoneTypeVoIP:              "voip",
	PhoneTypePersonal:          "personal",
	PhoneTypePager:             "pager",
	PhoneTypeUAN:               "uan",
	PhoneTypeVoicemail:         "voicemail",
}

// String returns the stable name: "fixed-line", "mobile", "toll-free", ….
func (t PhoneType) String() string {
	if int(t) < len(phoneTypeNames) {
		return phoneTypeNames[t]
	}
	return "PhoneType(" + strconv.Itoa(int(t)) + ")"
}

// MarshalText returns the String form; an out-of-range value is an error.
func (t PhoneType) MarshalText() ([]byte, error) {
	if int(t) >= len(phoneTypeNames) {
		return nil, fmt.Errorf("enroll: invalid phone type %d", uint8(t))
	}
	return []byte(phoneTypeNames[t]), nil
}

// UnmarshalText accepts the String forms.
func (t *PhoneType) UnmarshalText(b []byte) error {
	for i, n := range phoneTypeNames {
		if n == string(b) {
			*t = PhoneType(i)
			return nil
		}
	}
	return fmt.Errorf("enroll: unknown phone type %q", b)
}

func phoneTypeOf(t phonenumbers.PhoneNumberType) PhoneType {
	switch t {
	case phonenumbers.FIXED_LINE:
		return PhoneTypeFixedLine
	case phonenumbers.MOBILE:
		return PhoneTypeMobile
	case phonenumbers.FIXED_LINE_OR_MOBILE:
		return PhoneTypeFixedLineOrMobile
	case phonenumbers.TOLL_FREE:
		return PhoneTypeTollFree
	case phonenumbers.PREMIUM_RATE:
		return PhoneTypePremiumRate
	case phonenumbers.SHARED_COST:
		return PhoneTypeSharedCost
	case phonenumbers.VOIP:
		return PhoneTypeVoIP
	case phonenumbers.PERSONAL_NUMBER:
		return PhoneTypePersonal
	case phonenumbers.PAGER:
		return PhoneTypePager
	case phonenumbers.UAN:
		return PhoneTypeUAN
	case phonenumbers.VOICEMAIL:
		return PhoneTypeVoicemail
	}
	return PhoneTypeUnknown
}

// PhoneNumber is a valid phone number in the forms denwa stores and
// shows. Build one with [NormalizePhone] or [ParseE164]; E164 is the only
// field worth storing, since ParseE164 derives the others from it.
type PhoneNumber struct {
	E164        string    // "+81312345678": stored, dialled, compared
	Region      string    // ISO 3166-1 region of the number: "JP"; "001" for non-geographic numbers
	CountryCode int       // country calling code: 81
	Type        PhoneType // fixed-line, mobile, …
	Display     string    // international format, shown to the user: "+81 3-1234-5678"
	National    string    // national format: "03-1234-5678"
}

// String returns the display form.
func (p PhoneNumber) String() string { return p.Display }

// Stable [PhoneError] codes. The API returns them to clients, so they
// never change meaning.
const (
	PhoneErrEmpty             = "empty"               // nothing typed
	PhoneErrTooLong           = "too_long"            // more than MaxPhoneInputLen characters
	PhoneErrInvalidCharacter  = "invalid_character"   // a letter or symbol that is no digit or separator
	PhoneErrInvalidCountry    = "invalid_country"     // the chosen country is no ISO region we know
	PhoneErrInvalidNumber     = "invalid_number"      // digits that are no number in the plan
	PhoneErrTooShort          = "too_short"           // a short code (104, 117, …) or too few digits
	PhoneErrEmergency         = "emergency_number"    // 110, 118, 119 and the like
	PhoneErrCountryNotAllowed = "country_not_allowed" // a region outside PhonePolicy.AllowedRegions
	PhoneErrPremiumRate       = "premium_rate"        // 0990 and other premium-rate numbers
	PhoneErrTollFree          = "toll_free"           // 0120, 0800 and other freephone numbers
	PhoneErrSharedCost        = "shared_cost"         // 0570 (ナビダイヤル) and other shared-cost numbers
	PhoneErrTypeNotAllowed    = "type_not_allowed"    // another type outside PhonePolicy.AllowTypes (pager, personal, …)
)

// PhoneError is why a number was refused. Code is stable and meant for
// programs; MessageJA and MessageEN are for the user, in the UI's
// language. Neither the message nor Error contains the number typed (a
// phone number is personal data and errors get logged).
type PhoneError struct {
	Code      string // one of the PhoneErr* constants
	MessageJA string
	MessageEN string
}

func (e *PhoneError) Error() string {
	return "enroll: phone number refused (" + e.Code + "): " + e.MessageEN
}

func phoneErr(code string) *PhoneError {
	m := phoneMessages[code]
	return &PhoneError{Code: code, MessageJA: m[0], MessageEN: m[1]}
}

var phoneMessages = map[string][2]string{
	PhoneErrEmpty: {
		"電話番号を入力してください。",
		"Enter a phone number.",
	},
	PhoneErrTooLong: {
		"入力が長すぎます。電話番号は 64 文字以内で入力してください。",
		"The input is too long. Enter the phone number in 64 characters or fewer.",
	},
	PhoneErrInvalidCharacter: {
		"電話番号に使えない文字が含まれています。数字、+、ハイフン、空白、括弧だけで入力してください。",
		"The phone number contains a character that is not allowed. Use only digits, +, hyphens, spaces and parentheses.",
	},
	PhoneErrInvalidCountry: {
		"国・地域の選択が正しくありません。選び直してください。",
		"The selected country or region is not valid. Please select it again.",
	},
	PhoneErrInvalidNumber: {
		"この電話番号は正しくありません。市外局番から、番号を確かめてもう一度入力してください。",
		"This is not a valid phone number. Check the number, including the area code, and try again.",
	},
	PhoneErrTooShort: {
		"番号が短すぎます。104 などの短い番号は登録できません。市外局番から入力してください。",
		"The number is too short. Short service numbers such as 104 cannot be registered; enter the full number including the area code.",
	},
	PhoneErrEmergency: {
		"110 や 119 などの緊急通報用の番号は登録できません。",
		"Emergency numbers such as 110 or 119 cannot be registered.",
	},
	PhoneErrCountryNotAllowed: {
		"この国・地域の電話番号は登録できません。",
		"Phone numbers in this country or region cannot be registered.",
	},
	PhoneErrPremiumRate: {
		"ダイヤル Q2（0990）などの有料情報サービスの番号は登録できません。",
		"Premium-rate numbers (such as 0990 in Japan) cannot be registered.",
	},
	PhoneErrTollFree: {
		"フリーダイヤル（0120・0800）などの着信課金の番号は登録できません。",
		"Toll-free numbers (such as 0120 or 0800 in Japan) cannot be registered.",
	},
	PhoneErrSharedCost: {
		"ナビダイヤル（0570）などの番号は登録できません。",
		"Shared-cost numbers (such as 0570 in Japan) cannot be registered.",
	},
	PhoneErrTypeNotAllowed: {
		"この種類の電話番号は登録できません。固定電話か携帯電話の番号を入力してください。",
		"This kind of phone number cannot be registered. Enter a landline or mobile number.",
	},
}

// NormalizePhone reads a number typed by a user, with country the ISO
// 3166-1 region chosen in the UI ("JP"; empty means [DefaultPhoneCountry];
// case does not matter), and returns it as a valid [PhoneNumber] or a
// [*PhoneError]. Every form below reads as +81312345678:
//
//	03-1234-5678       national, with the chosen country
//	813-1234-5678      country code first, no plus (see below)
//	81 3 1234 5678
//	+81 3-1234-5678    international
//	+81 (0)3-1234-5678
//	０３－１２３４－５６７８  full-width digits and hyphens
//
// Between the digits it accepts spaces (also U+3000 and no-break space),
// hyphens and dashes (including the katakana long mark ー, ｰ and the
// full-width －), dots and parentheses (half and full width); a plus (+ or
// ＋) only in front. Anything else (letters, an extension, other scripts'
// digits) is refused. Input longer than [MaxPhoneInputLen] characters is
// refused before it reaches the parser.
//
// Country code first: digits that do not start with the country's
// national prefix (0 in Japan) but do start with its calling code (81) are
// read as an international number when that makes a valid number. In
// Japan national numbers are written with their leading 0, so 81… can only
// be the country code. Otherwise the digits are a national number (the
// national prefix may be left out: 3-1234-5678 is Tokyo too), or, from
// Japan, an international call with the 010 prefix.
//
// NormalizePhone refuses what is no callable number at all: invalid
// numbers, short codes (104) and emergency numbers (110, 119). Whether
// denwa may call a valid number is [PhonePolicy.Check]'s decision.
func NormalizePhone(input, country string) (PhoneNumber, error) {
	region, perr := phoneRegion(country)
	if perr != nil {
		return PhoneNumber{}, perr
	}
	plus, digits, perr := cleanPhoneInput(input)
	if perr != nil {
		return PhoneNumber{}, perr
	}
	if plus {
		n, err := phonenumbers.Parse("+"+digits, region)
		if p, ok := validPhone(n, err); ok {
			return p, nil
		}
		return PhoneNumber{}, classifyInvalid(n, err, "", "")
	}

	// Country code first, without the plus.
	cc := strconv.Itoa(phonenumbers.GetCountryCodeForRegion(region))
	ndd := phonenumbers.GetNddPrefixForRegion(region, true)
	if strings.HasPrefix(digits, cc) && (ndd == "" || !strings.HasPrefix(digits, ndd)) {
		if p, ok := validPhone(phonenumbers.Parse("+"+digits, region)); ok {
			return p, nil
		}
	}
	n, err := phonenumbers.Parse(digits, region)
	if p, ok := validPhone(n, err); ok {
		return p, nil
	}
	return PhoneNumber{}, classifyInvalid(n, err, digits, region)
}

// ParseE164 reads a number in E.164 form ("+81312345678"), as stored, and
// returns it with every field filled. Anything but a plus and up to 15
// digits of a valid number, in canonical form, is an error; the error is
// a [*PhoneError] with code invalid_number.
func ParseE164(s string) (PhoneNumber, error) {
	if len(s) < 3 || len(s) > 16 || s[0] != '+' || s[1] == '0' {
		return PhoneNumber{}, phoneErr(PhoneErrInvalidNumber)
	}
	for i := 1; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return PhoneNumber{}, phoneErr(PhoneErrInvalidNumber)
		}
	}
	p, ok := validPhone(phonenumbers.Parse(s, "ZZ"))
	if !ok || p.E164 != s {
		return PhoneNumber{}, phoneErr(PhoneErrInvalidNumber)
	}
	return p, nil
}

// validPhone returns the parser's result as a PhoneNumber when it is a
// valid number that fits E.164: at most 15 digits. (The plan data knows
// longer valid numbers, such as some German ones, but E.164 does not,
// and neither do the trunks that would dial them.)
func validPhone(n *phonenumbers.PhoneNumber, err error) (PhoneNumber, bool) {
	if err != nil || !phonenumbers.IsValidNumber(n) {
		return PhoneNumber{}, false
	}
	p := phoneNumberOf(n)
	if len(p.E164) > 16 {
		return PhoneNumber{}, false
	}
	return p, true
}

func phoneNumberOf(n *phonenumbers.PhoneNumber) PhoneNumber {
	return PhoneNumber{
		E164:        phonenumbers.Format(n, phonenumbers.E164),
		Region:      phonenumbers.GetRegionCodeForNumber(n),
		CountryCode: int(n.GetCountryCode()),
		Type:        phoneTypeOf(phonenumbers.GetNumberType(n)),
		Display:     phonenumbers.Format(n, phonenumbers.INTERNATIONAL),
		National:    phonenumbers.Format(n, phonenumbers.NATIONAL),
	}
}

// phoneRegion validates the chosen country.
func phoneRegion(country string) (string, *PhoneError) {
	if country == "" {
		return DefaultPhoneCountry, nil
	}
	if len(country) != 2 {
		return "", phoneErr(PhoneErrInvalidCountry)
	}
	region := strings.ToUpper(country)
	if phonenumbers.GetCountryCodeForRegion(region) == 0 {
		return "", phoneErr(PhoneErrInvalidCountry)
	}
	return region, nil
}

// cleanPhoneInput reduces input to an optional leading plus and ASCII
// digits, or refuses it. At most 17 digits survive (the longest national
// significant number libphonenumber knows plus room for a prefix is less
// than that after a country code; more is no number).
func cleanPhoneInput(input string) (plus bool, digits string, _ *PhoneError) {
	// Bytes first: a rune is at most 4 bytes, so this bounds the work
	// before counting runes.
	if len(input) > 4*MaxPhoneInputLen || utf8.RuneCountInString(input) > MaxPhoneInputLen {
		return false, "", phoneErr(PhoneErrTooLong)
	}
	var buf [MaxPhoneInputLen]byte
	d := buf[:0]
	for _, r := range input {
		switch {
		case r >= '0' && r <= '9':
			d = append(d, byte(r))
		case r >= '０' && r <= '９':
			d = append(d, byte(r-'０'+'0'))
		case r == '+' || r == '＋':
			if plus || len(d) > 0 {
				return false, "", phoneErr(PhoneErrInvalidCharacter)
			}
			plus = true
		case isPhoneSeparator(r):
		default:
			return false, "", phoneErr(PhoneErrInvalidCharacter)
		}
	}
	if len(d) == 0 {
		if plus {
			return false, "", phoneErr(PhoneErrInvalidNumber)
		}
		return false, "", phoneErr(PhoneErrEmpty)
	}
	if len(d) > 17 {
		return false, "", phoneErr(PhoneErrInvalidNumber)
	}
	return plus, string(d), nil
}

func isPhoneSeparator(r rune) bool {
	switch r {
	case ' ', '\t', '\u00a0', '\u3000', // spaces, no-break space, ideographic space
		'-', '\u2010', '\u2011', '\u2012', '\u2013', '\u2014', '\u2015', '\u2212', // hyphens, dashes, minus
		'ー', '－', 'ｰ', // katakana long mark, full-width hyphen-minus, half-width long mark
		'.', '．', '(', ')', '（', '）':
		return true
	}
	return false
}

// classifyInvalid explains why digits gave no valid number. n and err are
// the parser's result; digits and region are set when the input was
// national, so that short and emergency codes can be recognised.
func classifyInvalid(n *phonenumbers.PhoneNumber, err error, digits, region string) *PhoneError {
	if digits != "" && len(digits) <= 6 {
		if phonenumbers.IsEmergencyNumber(digits, region) {
			return phoneErr(PhoneErrEmergency)
		}
		return phoneErr(PhoneErrTooShort)
	}
	if err != nil {
		if errors.Is(err, phonenumbers.ErrTooShortNSN) || errors.Is(err, phonenumbers.ErrTooShortAfterIDD) {
			return phoneErr(PhoneErrTooShort)
		}
		return phoneErr(PhoneErrInvalidNumber)
	}
	switch phonenumbers.IsPossibleNumberWithReason(n) {
	case phonenumbers.TOO_SHORT, phonenumbers.INVALID_LENGTH:
		if len(phonenumbers.GetNationalSignificantNumber(n)) <= 6 {
			return phoneErr(PhoneErrTooShort)
		}
	}
	return phoneErr(PhoneErrInvalidNumber)
}

// PhonePolicy says which valid numbers denwa may call. Outbound calls
// cost money and toll fraud is the main cost risk of a service like this,
// so the zero value is strict: Japanese numbers only, of the types in
// [DefaultAllowedPhoneTypes].
type PhonePolicy struct {
	// AllowedRegions lists the ISO 3166-1 regions whose numbers may be
	// called ("JP", "US"); case does not matter. Empty means ["JP"].
	// Non-geographic numbers (+800, +882, …, region "001") are never in
	// a region list and so are always refused.
	AllowedRegions []string

	// AllowTypes lists the number types that may be called. Empty means
	// [DefaultAllowedPhoneTypes]. Listing PhoneTypeTollFree,
	// PhoneTypePremiumRate or PhoneTypeSharedCost here is possible but
	// is the operator's explicit choice.
	AllowTypes []PhoneType
}

// DefaultAllowedPhoneTypes returns the types a zero [PhonePolicy]
// allows: fixed-line, mobile, fixed-line-or-mobile and VoIP (050 in
// Japan). Personal numbers (they forward to anywhere), pagers, UAN
// (0570 in Japan is charged to the caller), voicemail, unknown and the
// charged types are refused.
func DefaultAllowedPhoneTypes() []PhoneType {
	return []PhoneType{PhoneTypeFixedLine, PhoneTypeMobile, PhoneTypeFixedLineOrMobile, PhoneTypeVoIP}
}

// Validate reports a configuration error: an unknown region or phone
// type. The error wraps [ErrInvalidConfig].
func (p PhonePolicy) Validate() error {
	for _, r := range p.AllowedRegions {
		if len(r) != 2 || phonenumbers.GetCountryCodeForRegion(strings.ToUpper(r)) == 0 {
			return fmt.Errorf("%w: PhonePolicy.AllowedRegions: unknown region %q", ErrInvalidConfig, r)
		}
	}
	for _, t := range p.AllowTypes {
		if int(t) >= len(phoneTypeNames) {
			return fmt.Errorf("%w: PhonePolicy.AllowTypes: invalid phone type %d", ErrInvalidConfig, uint8(t))
		}
	}
	return nil
}

// Check reports whether denwa may call n: nil, or a [*PhoneError] with
// code invalid_number, country_not_allowed, premium_rate, toll_free,
// shared_cost or type_not_allowed. Check trusts only n.E164 and derives
// region and type from it again with [ParseE164], so a PhoneNumber built
// by hand or read from an old row is judged by the numbering plan, not by
// its other fields.
func (p PhonePolicy) Check(n PhoneNumber) error {
	num, err := ParseE164(n.E164)
	if err != nil {
		return err
	}
	regions := p.AllowedRegions
	if len(regions) == 0 {
		regions = []string{DefaultPhoneCountry}
	}
	allowed := false
	for _, r := range regions {
		if strings.EqualFold(r, num.Region) {
			allowed = true
			break
		}
	}
	if !allowed {
		return phoneErr(PhoneErrCountryNotAllowed)
	}
	types := p.AllowTypes
	if len(types) == 0 {
		types = DefaultAllowedPhoneTypes()
	}
	for _, t := range types {
		if t == num.Type {
			return nil
		}
	}
	switch num.Type {
	case PhoneTypePremiumRate:
		return phoneErr(PhoneErrPremiumRate)
	case PhoneTypeTollFree:
		return phoneErr(PhoneErrTollFree)
	case PhoneTypeSharedCost, PhoneTypeUAN:
		// Japan's 0570 ナビダイヤル is UAN in the numbering plan data,
		// but for the caller it is a charged shared-cost number.
		return phoneErr(PhoneErrSharedCost)
	}
	return phoneErr(PhoneErrTypeNotAllowed)
}
