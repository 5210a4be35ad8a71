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
			if got := classify([]dtmf.Key(tt.keys)); got != tt.want {
				t.Errorf("classify(%q) = %s, want %s", tt.keys, got, tt.want)
			}
		})
	}
}
