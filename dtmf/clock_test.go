package dtmf

import "testing"

func TestClock32(t *testing.T) {
	tests := []struct {
		name string
		in   []uint32
		want []int64
	}{
		{"forward", []uint32{100, 260, 420}, []int64{100, 260, 420}},
		{"wrap", []uint32{0xFFFFFF00, 0x00000060, 0x000001C0}, []int64{0xFFFFFF00, 0x100000060, 0x1000001C0}},
		{"reordered across wrap", []uint32{0xFFFFFF60, 0x00000060, 0xFFFFFFC0, 0x000000C0}, []int64{0xFFFFFF60, 0x100000060, 0xFFFFFFC0, 0x1000000C0}},
		{"backwards a little", []uint32{1000, 840, 1160}, []int64{1000, 840, 1160}},
		{"below zero", []uint32{10, 0xFFFFFFF0}, []int64{10, -16}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Clock32
			for i, ts := range tt.in {
				if got := c.Extend(ts); got != tt.want[i] {
					t.Fatalf("Extend(%#x) #%d = %#x, want %#x", ts, i, got, tt.want[i])
				}
			}
		})
	}
}
