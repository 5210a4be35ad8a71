// Correlation kernels for corrTable and bins (see corr.go), amd64.
//
// corrAVX2Blocks, AVX2 + FMA. Per 40-sample sub-block (x advances 80
// bytes, out 76): FOLD converts the samples to float32, 8 at a time
// (VPMOVSXWD, VCVTDQ2PS), accumulating energy = Σ x² in 8 lanes with FMA,
// and stores the 20 folded sums x[j]+x[39−j] and differences x[j]−x[39−j]
// (exact in float32) in a stack buffer. Then for each folded step j it
// broadcasts sum[j] and dif[j] from the buffer (VBROADCASTSS) and FMAs
// them with table row j, re' += sum[j]·cos'[j] and im' += dif[j]·sin'[j]:
// the 8 frequencies are the 8 lanes. Finally it adds the partial sums,
// turns (re', im') by the table's mid phase into (re, im), horizontally
// adds the energy, computes the peak (peakOf), decides the pre-filter
// (tonalOf) and stores re (offset 0), im (32), energy (64), tonal (68) and
// peak (72).
//
// The main loop does two sub-blocks A and B together: each table row is
// loaded once into registers and used by four FMAs, so a step costs 3
// loads a sub-block (its two broadcasts and its share of the row) rather
// than 4. On Zen 4, which issues two 256-bit FMAs and two 256-bit loads
// per cycle, loads are what bound a one-block loop. The broadcasts come
// from memory, not from shuffles, which would compete with the FMAs. Step
// j goes to accumulator set j mod 2, so 8 independent FMA chains hide the
// FMA latency; each starts with a multiply. A last odd sub-block takes the
// same code path for one block, in the same order, so a sub-block's result
// does not depend on its position in x.
//
// There is no AVX-512 kernel: on Zen 4, 512-bit FMAs, loads and broadcasts
// issue at half the 256-bit rate (docs/dtmf.md has the measurement).
//
// Everything is unrolled, so table and buffer offsets are constants.
//
// Registers:
//   DI  out (76 bytes per sub-block)    SI  x (80 bytes per sub-block)
//   CX  sub-blocks left                 DX  t (row j at 64·j: cos' +0, sin' +32; mid at 1280)
//   Y0, Y1  A re', steps j even, odd    Y2, Y3  A im'
//   Y4, Y5  B re'                       Y6, Y7  B im'
//   Y8  A energy (8 lanes)              Y9  B energy
//   Y10 cos' row j                      Y11 sin' row j
//   Y12 sum[j] broadcast                Y13 dif[j] broadcast
//   Y14, Y15 scratch; Y0-Y7 also while folding
//   0(SP) A's 20 sums (room for 24), 96(SP) A's differences,
//   192(SP) B's sums, 288(SP) B's differences.

#include "textflag.h"

// REV sets dst to the 8 lanes of src in reverse order.
#define REV(src, dst) \
	VPERMILPS  $0x1b, src, dst \
	VPERM2F128 $0x01, dst, dst, dst

// CONV converts the 8 samples at off(SI) to float32 in r and multiplies
// (op VMULPS) or adds (op VFMADD231PS) their squares into e.
#define CONV(op, off, r, e) \
	VPMOVSXWD off(SI), r \
	VCVTDQ2PS r, r \
	op        r, r, e

// FOLD converts the sub-block at xo(SI), sets e to its 8-lane energy and
// stores its folded sums at bo(SP) and differences at bo+96(SP). Lanes
// 4-7 of the third group are x[20..23]±x[19..16]: stored, never used.
#define FOLD(xo, bo, e) \
	CONV(VMULPS, xo, Y0, e) \
	CONV(VFMADD231PS, xo+16, Y1, e) \
	CONV(VFMADD231PS, xo+32, Y2, e) \
	CONV(VFMADD231PS, xo+48, Y3, e) \
	CONV(VFMADD231PS, xo+64, Y4, e) \
	REV(Y4, Y5) \
	VADDPS      Y5, Y0, Y6 \
	VMOVUPS     Y6, (bo)(SP) \
	VSUBPS      Y5, Y0, Y6 \
	VMOVUPS     Y6, (bo+96)(SP) \
	REV(Y3, Y5) \
	VADDPS      Y5, Y1, Y6 \
	VMOVUPS     Y6, (bo+32)(SP) \
	VSUBPS      Y5, Y1, Y6 \
	VMOVUPS     Y6, (bo+128)(SP) \
	REV(Y2, Y5) \
	VADDPS      Y5, Y2, Y6 \
	VMOVUPS     Y6, (bo+64)(SP) \
	VSUBPS      Y5, Y2, Y6 \
	VMOVUPS     Y6, (bo+160)(SP)

// DUO adds folded step j of both sub-blocks to the accumulators given.
#define DUO(op, j, reA, imA, reB, imB) \
	VMOVUPS      (64*(j))(DX), Y10 \
	VMOVUPS      (64*(j)+32)(DX), Y11 \
	VBROADCASTSS (4*(j))(SP), Y12 \
	VBROADCASTSS (96+4*(j))(SP), Y13 \
	op           Y10, Y12, reA \
	op           Y11, Y13, imA \
	VBROADCASTSS (192+4*(j))(SP), Y12 \
	VBROADCASTSS (288+4*(j))(SP), Y13 \
	op           Y10, Y12, reB \
	op           Y11, Y13, imB

#define DUO2(op, j) \
	DUO(op, j, Y0, Y2, Y4, Y6) \
	DUO(op, j+1, Y1, Y3, Y5, Y7)

// SOLO adds folded step j of sub-block A alone, in DUO's order.
#define SOLO(op, j, re, im) \
	VBROADCASTSS (4*(j))(SP), Y12 \
	VBROADCASTSS (96+4*(j))(SP), Y13 \
	op           (64*(j))(DX), Y12, re \
	op           (64*(j)+32)(DX), Y13, im

#define SOLO2(op, j) \
	SOLO(op, j, Y0, Y2) \
	SOLO(op, j+1, Y1, Y3)

// TURN stores at off(DI) the sub-block's (re, im) = (re', im') turned by
// the mid phase (Y10 cos, Y11 sin): re = re'·cos − im'·sin, im =
// re'·sin + im'·cos; re and im are left in Y12 and Y13.
#define TURN(rep, imp, off) \
	VMULPS       Y10, rep, Y12 \
	VFNMADD231PS Y11, imp, Y12 \
	VMULPS       Y11, rep, Y13 \
	VFMADD231PS  Y10, imp, Y13 \
	VMOVUPS      Y12, (off)(DI) \
	VMOVUPS      Y13, (off+32)(DI)

// PEAKS leaves in lane 0 of p the sum of the strongest low-group and the
// strongest high-group power of re and im (8 lanes each, the groups in the
// two 128-bit halves), as peakOf computes it, and stores it at off(DI):
// p = re·re + im·im rounded after each operation, then within each half
// the maximum (the powers are never NaN, and +0 is the only zero), then
// the low half's plus the high half's; px is p's low 128 bits, t scratch.
#define PEAKS(re, im, p, px, t, off) \
	VMULPS       re, re, p \
	VMULPS       im, im, t \
	VADDPS       t, p, p \
	VPERMILPS    $0x4e, p, t \
	VMAXPS       t, p, p \
	VPERMILPS    $0xb1, p, t \
	VMAXPS       t, p, p \
	VEXTRACTF128 $1, p, X15 \
	VADDPS       X15, px, px \
	VMOVSS       px, (off)(DI)

// FINISH adds a sub-block's two partial sums of re' (re0, re1) and of im'
// (im0, im1), turns and stores them at off(DI) (TURN, which needs the mid
// phase in Y10 and Y11), and stores its peak at off+72(DI), leaving it in
// lane 0 of p (PEAKS; px is p's low 128 bits, t scratch).
#define FINISH(re0, re1, im0, im1, off, p, px, t) \
	VADDPS re1, re0, re0 \
	VADDPS im1, im0, im0 \
	TURN(re0, im0, off) \
	PEAKS(Y12, Y13, p, px, t, off+72)

// TONAL sets bit i of AX when lane i of peaks is at least 5·(lane i of
// energy) (tonalShare·subBlock/2 = 5) and that energy is above 0. It uses
// X13, X14, X15.
#define TONAL(peaks, energy) \
	MOVL         $0x40a00000, AX \
	VMOVD        AX, X13 \
	VBROADCASTSS X13, X13 \
	VMULPS       energy, X13, X13 \
	VCMPPS       $0x1d, X13, peaks, X14 \
	VXORPS       X15, X15, X15 \
	VCMPPS       $0x1e, X15, energy, X15 \
	VANDPS       X15, X14, X14 \
	VMOVMSKPS    X14, AX

// func corrAVX2Blocks(out *bins, x *int16, n int, t *corrTable)
TEXT ·corrAVX2Blocks(SB), NOSPLIT, $384-32
	MOVQ out+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	MOVQ t+24(FP), DX
	CMPQ CX, $2
	JLT  tail

pair:
	FOLD(0, 0, Y8)
	FOLD(80, 192, Y9)

	DUO2(VMULPS, 0)
	DUO2(VFMADD231PS, 2)
	DUO2(VFMADD231PS, 4)
	DUO2(VFMADD231PS, 6)
	DUO2(VFMADD231PS, 8)
	DUO2(VFMADD231PS, 10)
	DUO2(VFMADD231PS, 12)
	DUO2(VFMADD231PS, 14)
	DUO2(VFMADD231PS, 16)
	DUO2(VFMADD231PS, 18)

	// energy: fold 8 lanes to 4, then two horizontal adds:
	// ((l0+l4)+(l1+l5)) + ((l2+l6)+(l3+l7)) for A in lane 0, B in lane 1.
	VEXTRACTF128 $1, Y8, X15
	VADDPS       X15, X8, X8
	VEXTRACTF128 $1, Y9, X15
	VADDPS       X15, X9, X9
	VHADDPS      X9, X8, X8
	VHADDPS      X8, X8, X8
	VMOVSS       X8, 64(DI)
	VEXTRACTPS   $1, X8, 140(DI)

	VMOVUPS 1280(DX), Y10
	VMOVUPS 1312(DX), Y11
	FINISH(Y0, Y1, Y2, Y3, 0, Y0, X0, Y1)
	FINISH(Y4, Y5, Y6, Y7, 76, Y2, X2, Y3)

	// pre-filter (tonalOf): A's sum of group maxima in lane 0, B's in
	// lane 1, both compared with 5·energy at once.
	VUNPCKLPS X2, X0, X0
	TONAL(X0, X8)
	MOVL  AX, BX
	ANDL  $1, AX
	MOVL  AX, 68(DI)
	SHRL  $1, BX
	ANDL  $1, BX
	MOVL  BX, 144(DI)

	ADDQ $160, SI
	ADDQ $152, DI
	SUBQ $2, CX
	CMPQ CX, $2
	JGE  pair

tail:
	TESTQ CX, CX
	JLE   done
	FOLD(0, 0, Y8)

	SOLO2(VMULPS, 0)
	SOLO2(VFMADD231PS, 2)
	SOLO2(VFMADD231PS, 4)
	SOLO2(VFMADD231PS, 6)
	SOLO2(VFMADD231PS, 8)
	SOLO2(VFMADD231PS, 10)
	SOLO2(VFMADD231PS, 12)
	SOLO2(VFMADD231PS, 14)
	SOLO2(VFMADD231PS, 16)
	SOLO2(VFMADD231PS, 18)

	VEXTRACTF128 $1, Y8, X15
	VADDPS       X15, X8, X8
	VHADDPS      X8, X8, X8
	VHADDPS      X8, X8, X8
	VMOVSS       X8, 64(DI)

	VMOVUPS 1280(DX), Y10
	VMOVUPS 1312(DX), Y11
	FINISH(Y0, Y1, Y2, Y3, 0, Y0, X0, Y1)
	TONAL(X0, X8)
	ANDL $1, AX
	MOVL AX, 68(DI)

done:
	VZEROUPPER
	RET
