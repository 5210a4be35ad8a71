package media

import (
	"encoding/hex"
	"strings"
	"testing"

	"github.com/pion/rtp"
)

func TestParseDatagram(t *testing.T) {
	for _, c := range []struct {
		name    string
		hex     string
		class   Class
		payload string // hex, for ClassRTP
	}{
		{"minimal", "80000001 00000001 00000001", ClassRTP, ""},
		{"payload", "80000001 00000001 00000001 ffff", ClassRTP, "ffff"},
		{"version 1", "40000001 00000001 00000001", ClassOther, ""},
		{"version 0 (STUN)", "00010000 2112a442 00000000 00000000 00000000", ClassOther, ""},
		{"empty", "", ClassOther, ""},
		{"one byte", "80", ClassOther, ""},
		{"short", "80000001 00000001 000000", ClassOther, ""},
		{"one CSRC", "81000001 00000001 00000001 00000002 ff", ClassRTP, "ff"},
		{"CSRC beyond the end", "82000001 00000001 00000001 00000002", ClassOther, ""},
		{"extension", "90000001 00000001 00000001 bede0001 10aa0000 ff", ClassRTP, "ff"},
		{"extension beyond the end", "90000001 00000001 00000001 bede0002 01020304", ClassOther, ""},
		{"extension header cut", "90000001 00000001 00000001 bede", ClassOther, ""},
		{"extension element beyond the extension", "90000001 00000001 00000001 bede0001 3f000000", ClassOther, ""},
		{"padding", "a0000001 00000001 00000001 ffff0002", ClassRTP, "ffff"},
		{"padding zero", "a0000001 00000001 00000001 ffff0000", ClassOther, ""},
		{"padding beyond the payload", "a0000001 00000001 00000001 ffff0005", ClassOther, ""},
		{"RTCP sender report", "80c80006 00000001 00000000 00000000 00000000 00000000 00000000", ClassRTCP, ""},
		{"RTCP receiver report, short", "81c9", ClassRTCP, ""},
		{"RTCP XR", "80cf0002 00000001 00000000", ClassRTCP, ""},
		{"PT 95 with marker is RTCP's range", "80df0001 00000001 00000001", ClassRTCP, ""},
		{"PT 96 with marker is RTP", "80e00001 00000001 00000001", ClassRTP, ""},
		{"PT 63 with marker is RTP", "80bf0001 00000001 00000001", ClassRTP, ""},
	} {
		b, err := hex.DecodeString(strings.ReplaceAll(c.hex, " ", ""))
		if err != nil {
			t.Fatal(err)
		}
		var h rtp.Header
		class, payload := ParseDatagram(&h, b)
		if class != c.class {
			t.Errorf("%s: class %v, want %v", c.name, class, c.class)
			continue
		}
		if class == ClassRTP {
			if got := hex.EncodeToString(payload); got != c.payload {
				t.Errorf("%s: payload %s, want %s", c.name, got, c.payload)
			}
			if h.Version != 2 || h.SSRC != 1 {
				t.Errorf("%s: header %+v", c.name, h)
			}
		}
	}
}

// Garbage costs no allocation: the bounds are checked before pion parses.
func TestParseDatagramAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	bad := [][]byte{{0x90, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0xbe, 0xde, 0, 16}, {0x8f, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1}, []byte("garbage")}
	good := []byte{0x80, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0xff, 0xff}
	var h rtp.Header
	n := testing.AllocsPerRun(100, func() {
		for _, b := range bad {
			ParseDatagram(&h, b)
		}
		ParseDatagram(&h, good)
	})
	if n != 0 {
		t.Errorf("%v allocations", n)
	}
}

func TestStaticPayloadTypes(t *testing.T) {
	p := DefaultPayloadTypes()
	for pt, k := range p {
		if staticKind(uint8(pt)) != k {
			t.Errorf("PT %d: DefaultPayloadTypes %v, staticKind %v", pt, k, staticKind(uint8(pt)))
		}
	}
	for _, k := range []PayloadKind{KindPCMU, KindPCMA} {
		if staticKind(staticPT(k)) != k {
			t.Errorf("%v: static PT %d reads back as %v", k, staticPT(k), staticKind(staticPT(k)))
		}
	}
	if IsDynamic(95) || !IsDynamic(96) || !IsDynamic(127) || IsDynamic(128) {
		t.Error("IsDynamic: the dynamic range is 96–127")
	}
}
