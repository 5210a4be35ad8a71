//go:build !amd64

package dtmf

// corrKernels lists the kernels usable on this CPU, fastest first. Without
// assembly kernels that is only the portable one.
func corrKernels() []corrKernel {
	return []corrKernel{{"go", corrGo}}
}
