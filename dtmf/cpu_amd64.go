package dtmf

// Our own x86 feature detection: package dtmf imports nothing outside the
// standard library's pure packages, so not golang.org/x/sys/cpu.

// cpuid executes CPUID with EAX=leaf, ECX=subleaf.
func cpuid(leaf, subleaf uint32) (eax, ebx, ecx, edx uint32)

// xgetbv0 reads XCR0, the state components the OS saves and restores. It
// faults unless CPUID reports OSXSAVE.
func xgetbv0() (eax, edx uint32)

// hasAVX2FMA reports that the CPU has AVX, AVX2 and FMA3 and the OS saves
// YMM state. It is set once at package initialisation.
var hasAVX2FMA = detectAVX2FMA()

func detectAVX2FMA() bool {
	const (
		// CPUID.1:ECX
		bitFMA     = 1 << 12
		bitOSXSAVE = 1 << 27
		bitAVX     = 1 << 28
		// CPUID.(7,0):EBX
		bitAVX2 = 1 << 5
		// XCR0
		xcrSSE = 1 << 1
		xcrAVX = 1 << 2 // upper halves of YMM0-15
	)
	maxLeaf, _, _, _ := cpuid(0, 0)
	if maxLeaf < 7 {
		return false
	}
	_, _, ecx1, _ := cpuid(1, 0)
	if ecx1&bitOSXSAVE == 0 {
		return false
	}
	_, ebx7, _, _ := cpuid(7, 0)
	xcr0, _ := xgetbv0()
	return xcr0&(xcrSSE|xcrAVX) == xcrSSE|xcrAVX &&
		ecx1&(bitAVX|bitFMA) == bitAVX|bitFMA &&
		ebx7&bitAVX2 != 0
}
