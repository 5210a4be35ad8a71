// Correlation kernels for corrTable and bins (see corr.go), amd64.
//
// corrAVX2Blocks, AVX2 + FMA. Per 40-sample sub-block (x advances 80
// bytes, out 68): convert the samples to float32, 8 at a time (VPMOVSXWD,
// VCVTDQ2PS), into a stack buffer, accumulating energy = Σ x² in 8 lanes
// with FMA; then for each sample j broadcast x[j] from the buffer
// (VBROADCASTSS) and FMA it with table row j, re += x[j]·t[j][0:8] and
// im += x[j]·t[j][8:16]: the 8 frequencies are the 8 lanes. Finally add
// the partial sums, horizontally add the energy and store re (offset 0),
// im (32) and energy (64).
//
// The main loop does two sub-blocks A and B together: each table row is
// loaded once into registers and used by four FMAs, so a sample costs 2
// loads (its broadcast and its share of the row) rather than 3. On Zen 4,
// which issues two 256-bit FMAs and two 256-bit loads per cycle, loads are
// what bound a one-block loop. x[j] is broadcast from memory, not with
// shuffles, which would compete with the FMAs. Sample j goes to
// accumulator set j mod 2, so 8 independent FMA chains hide the FMA
// latency; each starts with a multiply. A last odd sub-block takes the
// same code path for one block, in the same order, so a sub-block's result
// does not depend on its position in x.
//
// There is no AVX-512 kernel: on Zen 4, 512-bit FMAs, loads and broadcasts
// issue at half the 256-bit rate (docs/dtmf.md has the measurement).
//
// Everything is unrolled, so table and buffer offsets are constants.
//
// Registers:
//   DI  out (68 bytes per sub-block)    SI  x (80 bytes per sub-block)
//   CX  sub-blocks left                 DX  t (row j at 64·j: cos +0, sin +32)
//   Y0, Y1  A re, samples j even, odd   Y2, Y3  A im
//   Y4, Y5  B re                        Y6, Y7  B im
//   Y8  A energy (8 lanes)              Y9  B energy
//   Y10 cos row j                       Y11 sin row j
//   Y12 x_A[j] broadcast                Y13 x_B[j] broadcast
//   Y14 conversion, X15 scratch
//   0(SP)..159(SP) A's samples as float32, 160(SP)..319(SP) B's.

#include "textflag.h"

// CONV converts the 8 samples at off(SI) to float32 at buf(SP) and
// multiplies (op VMULPS) or adds (op VFMADD231PS) their squares into e.
#define CONV(op, off, buf, e) \
	VPMOVSXWD off(SI), Y14 \
	VCVTDQ2PS Y14, Y14 \
	VMOVUPS   Y14, buf(SP) \
	op        Y14, Y14, e

// DUO adds sample j of both sub-blocks to the accumulators given.
#define DUO(op, j, reA, imA, reB, imB) \
	VMOVUPS      (64*(j))(DX), Y10 \
	VMOVUPS      (64*(j)+32)(DX), Y11 \
	VBROADCASTSS (4*(j))(SP), Y12 \
	VBROADCASTSS (160+4*(j))(SP), Y13 \
	op           Y10, Y12, reA \
	op           Y11, Y12, imA \
	op           Y10, Y13, reB \
	op           Y11, Y13, imB

#define DUO2(op, j) \
	DUO(op, j, Y0, Y2, Y4, Y6) \
	DUO(op, j+1, Y1, Y3, Y5, Y7)

#define DUO10(j) \
	DUO2(VFMADD231PS, j) \
	DUO2(VFMADD231PS, j+2) \
	DUO2(VFMADD231PS, j+4) \
	DUO2(VFMADD231PS, j+6) \
	DUO2(VFMADD231PS, j+8)

// SOLO adds sample j of sub-block A alone, in DUO's order.
#define SOLO(op, j, re, im) \
	VBROADCASTSS (4*(j))(SP), Y12 \
	op           (64*(j))(DX), Y12, re \
	op           (64*(j)+32)(DX), Y12, im

#define SOLO2(op, j) \
	SOLO(op, j, Y0, Y2) \
	SOLO(op, j+1, Y1, Y3)

#define SOLO10(j) \
	SOLO2(VFMADD231PS, j) \
	SOLO2(VFMADD231PS, j+2) \
	SOLO2(VFMADD231PS, j+4) \
	SOLO2(VFMADD231PS, j+6) \
	SOLO2(VFMADD231PS, j+8)

// PEAKS leaves in lane 0 of p the pre-filter's sum of the strongest
// low-group and the strongest high-group power of re and im (8 lanes
// each, the groups in the two 128-bit halves), as tonalOf computes it:
// p = re·re + im·im rounded after each operation, then within each half
// the maximum (the powers are never NaN, and +0 is the only zero), then
// the low half's plus the high half's; px is p's low 128 bits, t scratch.
#define PEAKS(re, im, p, px, t) \
	VMULPS       re, re, p \
	VMULPS       im, im, t \
	VADDPS       t, p, p \
	VPERMILPS    $0x4e, p, t \
	VMAXPS       t, p, p \
	VPERMILPS    $0xb1, p, t \
	VMAXPS       t, p, p \
	VEXTRACTF128 $1, p, X15 \
	VADDPS       X15, px, px

// TONAL sets bit i of AX when lane i of peaks is at least 5·(lane i of
// energy) (tonalShare·subBlock/2 = 5) and that energy is above 0. It uses
// X13, X14, X15.
#define TONAL(peaks, energy) \
	MOVL      $0x40a00000, AX \
	VMOVD     AX, X13 \
	VBROADCASTSS X13, X13 \
	VMULPS    energy, X13, X13 \
	VCMPPS    $0x1d, X13, peaks, X14 \
	VXORPS    X15, X15, X15 \
	VCMPPS    $0x1e, X15, energy, X15 \
	VANDPS    X15, X14, X14 \
	VMOVMSKPS X14, AX

// func corrAVX2Blocks(out *bins, x *int16, n int, t *corrTable)
TEXT ·corrAVX2Blocks(SB), NOSPLIT, $320-32
	MOVQ out+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	MOVQ t+24(FP), DX
	CMPQ CX, $2
	JLT  tail

pair:
	CONV(VMULPS, 0, 0, Y8)
	CONV(VFMADD231PS, 16, 32, Y8)
	CONV(VFMADD231PS, 32, 64, Y8)
	CONV(VFMADD231PS, 48, 96, Y8)
	CONV(VFMADD231PS, 64, 128, Y8)
	CONV(VMULPS, 80, 160, Y9)
	CONV(VFMADD231PS, 96, 192, Y9)
	CONV(VFMADD231PS, 112, 224, Y9)
	CONV(VFMADD231PS, 128, 256, Y9)
	CONV(VFMADD231PS, 144, 288, Y9)

	DUO2(VMULPS, 0)
	DUO2(VFMADD231PS, 2)
	DUO2(VFMADD231PS, 4)
	DUO2(VFMADD231PS, 6)
	DUO2(VFMADD231PS, 8)
	DUO10(10)
	DUO10(20)
	DUO10(30)

	VADDPS  Y1, Y0, Y0
	VMOVUPS Y0, (DI)
	VADDPS  Y3, Y2, Y2
	VMOVUPS Y2, 32(DI)
	VADDPS  Y5, Y4, Y4
	VMOVUPS Y4, 72(DI)
	VADDPS  Y7, Y6, Y6
	VMOVUPS Y6, 104(DI)

	// energy: fold 8 lanes to 4, then two horizontal adds:
	// ((l0+l4)+(l1+l5)) + ((l2+l6)+(l3+l7)) for A in lane 0, B in lane 1.
	VEXTRACTF128 $1, Y8, X15
	VADDPS       X15, X8, X8
	VEXTRACTF128 $1, Y9, X15
	VADDPS       X15, X9, X9
	VHADDPS      X9, X8, X8
	VHADDPS      X8, X8, X8
	VMOVSS       X8, 64(DI)
	VEXTRACTPS   $1, X8, 136(DI)

	// pre-filter (tonalOf): A's sum of group maxima to lane 0, B's to
	// lane 1, both compared with 5·energy at once.
	PEAKS(Y0, Y2, Y10, X10, Y11)
	PEAKS(Y4, Y6, Y12, X12, Y13)
	VUNPCKLPS X12, X10, X10
	TONAL(X10, X8)
	MOVL  AX, BX
	ANDL  $1, AX
	MOVL  AX, 68(DI)
	SHRL  $1, BX
	ANDL  $1, BX
	MOVL  BX, 140(DI)

	ADDQ $160, SI
	ADDQ $144, DI
	SUBQ $2, CX
	CMPQ CX, $2
	JGE  pair

tail:
	TESTQ CX, CX
	JLE   done
	CONV(VMULPS, 0, 0, Y8)
	CONV(VFMADD231PS, 16, 32, Y8)
	CONV(VFMADD231PS, 32, 64, Y8)
	CONV(VFMADD231PS, 48, 96, Y8)
	CONV(VFMADD231PS, 64, 128, Y8)

	SOLO2(VMULPS, 0)
	SOLO2(VFMADD231PS, 2)
	SOLO2(VFMADD231PS, 4)
	SOLO2(VFMADD231PS, 6)
	SOLO2(VFMADD231PS, 8)
	SOLO10(10)
	SOLO10(20)
	SOLO10(30)

	VADDPS  Y1, Y0, Y0
	VMOVUPS Y0, (DI)
	VADDPS  Y3, Y2, Y2
	VMOVUPS Y2, 32(DI)

	VEXTRACTF128 $1, Y8, X15
	VADDPS       X15, X8, X8
	VHADDPS      X8, X8, X8
	VHADDPS      X8, X8, X8
	VMOVSS       X8, 64(DI)

	PEAKS(Y0, Y2, Y10, X10, Y11)
	TONAL(X10, X8)
	ANDL $1, AX
	MOVL AX, 68(DI)

done:
	VZEROUPPER
	RET
