package sip

import "testing"

func TestMaskNumber(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"+819012345678", "+81******5678"},
		{"+81312345678", "+81*****5678"},
		{"0312345678", "******5678"},
		{"090-1234-5678", "***-****-5678"},
		{"+1 415 555 0100", "+1 4** *** 0100"},
		{"1234567", "*******"},
		{"+8112", "+****"},
		{"", ""},
		{"anonymous", "anonymous"},
		{"sip:0312345678@pbx", "sip:******5678@pbx"},
	} {
		if got := MaskNumber(c.in); got != c.want {
			t.Errorf("MaskNumber(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func FuzzMaskNumber(f *testing.F) {
	f.Add("+819012345678")
	f.Add("090-1234-5678")
	f.Fuzz(func(t *testing.T, s string) {
		got := MaskNumber(s)
		if len(got) != len(s) {
			t.Fatalf("MaskNumber(%q) = %q: length changed", s, got)
		}
		shown := 0
		for i := 0; i < len(got); i++ {
			if isDigit(got[i]) {
				shown++
				if got[i] != s[i] {
					t.Fatalf("MaskNumber(%q) = %q: a digit changed", s, got)
				}
			}
		}
		if shown > 6 {
			t.Fatalf("MaskNumber(%q) = %q shows %d digits", s, got, shown)
		}
	})
}
