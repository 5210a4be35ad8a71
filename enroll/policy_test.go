package enroll

import (
	"testing"

	"denwa/dtmf"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		keys string
		want verdict
	}{
		{"", verdictNone},
		{"*", verdictNone},
		{"#", verdictVerify},
		{"*#", verdictVerify},
		{"0#", verdictFraud},
		{"*0#", verdictFraud},
		{"1#", verdictWrong},
		{"5#", verdictWrong},
		{"**#", verdictWrong},
		{"**", verdictWrong},
		{"#*", verdictWrong},
		{"00#", verdictWrong},
		{"0", verdictWrong}, // fraud needs its #: a lone 0 timed out
		{"*0", verdictWrong},
		{"1", verdictWrong},
		{"A#", verdictWrong},
		{"12345678", verdictWrong},
	}
	for _, tt := range tests {
		t.Run(tt.keys, func(t *testing.T) {
			if got := classify([]dtmf.Key(tt.keys), nil); got != tt.want {
				t.Errorf("classify(%q) = %s, want %s", tt.keys, got, tt.want)
			}
		})
	}
}

func TestClassifyCode(t *testing.T) {
	code := []byte("371")
	tests := []struct {
		keys string
		want verdict
	}{
		{"", verdictNone},
		{"*", verdictNone},
		{"371#", verdictVerify},
		{"*371#", verdictVerify},
		{"0#", verdictFraud},
		{"*0#", verdictFraud},
		{"#", verdictWrong}, // the fixed key a voicemail greeting replays
		{"*#", verdictWrong},
		{"371", verdictWrong}, // cut off before its #
		{"372#", verdictWrong},
		{"37#", verdictWrong},
		{"3710#", verdictWrong},
		{"**371#", verdictWrong},
		{"371##", verdictWrong},
		{"1371#", verdictWrong},
		{"37A#", verdictWrong},
	}
	for _, tt := range tests {
		ks := make([]dtmf.Key, len(tt.keys))
		for i := range tt.keys {
			ks[i] = dtmf.Key(tt.keys[i])
		}
		if got := classify(ks, code); got != tt.want {
			t.Errorf("classify(%q, 371) = %v, want %v", tt.keys, got, tt.want)
		}
	}
	// A code that begins with 0 is still a code, and 0# still fraud.
	if got := classify([]dtmf.Key("*045#"), []byte("045")); got != verdictVerify {
		t.Errorf("*045# against 045 = %v, want verify", got)
	}
}

// TestRandomDigits checks the codes' alphabet and length, and that every
// digit turns up about as often as the others: a chi-squared test over
// 100,000 digits, at a threshold (9 degrees of freedom, 40) a uniform
// source exceeds about once in 100,000 runs.
func TestRandomDigits(t *testing.T) {
	var counts [10]int
	const n = 100_000
	buf := make([]byte, 5)
	for i := 0; i < n; i += len(buf) {
		if err := randomDigits(buf); err != nil {
			t.Fatal(err)
		}
		for _, d := range buf {
			if d < '0' || d > '9' {
				t.Fatalf("digit %q", d)
			}
			counts[d-'0']++
		}
	}
	chi2 := 0.0
	for _, c := range counts {
		dev := float64(c) - n/10
		chi2 += dev * dev / (n / 10)
	}
	if chi2 > 40 {
		t.Errorf("digit counts %v: chi-squared %.1f, not uniform", counts, chi2)
	}
	// Two codes in a row are independent: 3 digits repeat 1 time in 1000.
	same := 0
	a, b := make([]byte, 3), make([]byte, 3)
	for range 1000 {
		randomDigits(a)
		randomDigits(b)
		if string(a) == string(b) {
			same++
		}
	}
	if same > 10 {
		t.Errorf("%d of 1000 pairs of codes equal", same)
	}
}
