package dtmf

// corrKernels lists the kernels usable on this CPU, fastest first.
func corrKernels() []corrKernel {
	var ks []corrKernel
	if hasAVX2FMA {
		ks = append(ks, corrKernel{"avx2", corrAVX2})
	}
	return append(ks, corrKernel{"go", corrGo})
}

// corrAVX2 is corrGo for CPUs with AVX2 and FMA (see corr_amd64.s).
func corrAVX2(out []bins, x []int16, t *corrTable) {
	n := len(x) / subBlock
	if n == 0 {
		return
	}
	_ = out[n-1] // the assembly does not check bounds
	_ = *t
	corrAVX2Blocks(&out[0], &x[0], n, t)
}

// corrAVX2Blocks writes n bins to out from the n·subBlock samples at x.
//
//go:noescape
func corrAVX2Blocks(out *bins, x *int16, n int, t *corrTable)
