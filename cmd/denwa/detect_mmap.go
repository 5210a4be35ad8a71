//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"syscall"
	"unsafe"

	"denwa/audio"
)

// mapMin is the smallest file `denwa detect` maps rather than reads.
const mapMin = 1 << 20

// mappedPCM16 maps f, a regular file of size bytes, when it is a PCM16 WAV
// file of at least mapMin bytes and this machine is little-endian, and
// returns detectAudio's source over the mapped samples, which the detector
// reads where they lie: the kernel copies nothing (reading a file costs
// more than decoding it; docs/dtmf.md). unmap releases the mapping once
// the samples are no longer used. ok is false, with nothing mapped or read,
// otherwise: the caller reads f as usual. p (may be nil) counts the bytes
// handed out.
func mappedPCM16(f *os.File, size int64, p *progress) (next func() ([]int16, error), unmap func(), ok bool) {
	if !littleEndian || size < mapMin || int64(int(size)) != size {
		return nil, nil, false
	}
	data, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, nil, false
	}
	unmap = func() { syscall.Munmap(data) }
	hdr := bytes.NewReader(data)
	wr, err := audio.NewWAVReader(hdr)
	off := len(data) - hdr.Len()
	if err != nil || wr.Format() != audio.FormatPCM16 || off%2 != 0 {
		unmap()
		return nil, nil, false
	}
	want := 2 * wr.Len()
	have := min(want, int64(len(data)-off)) &^ 1
	x := unsafe.Slice((*int16)(unsafe.Pointer(&data[off])), have/2)
	if p != nil {
		p.done.Add(int64(off))
	}
	next = func() ([]int16, error) {
		if len(x) == 0 {
			if have < want {
				return nil, fmt.Errorf("%w: %d of %d data bytes (%w)", audio.ErrTruncated, have, want, io.ErrUnexpectedEOF)
			}
			return nil, io.EOF
		}
		n := min(len(x), detectReadSamples)
		b := x[:n]
		x = x[n:]
		if p != nil {
			p.done.Add(int64(2 * n))
		}
		return b, nil
	}
	return next, unmap, true
}

// errMapFault: the mapped file shrank while it was read.
var errMapFault = errors.New("the file shrank while it was read")

// detectMapped is detectAudio over mapped samples: should the file shrink
// meanwhile, reading the lost pages faults, and that becomes an error
// rather than a crash.
func detectMapped(next func() ([]int16, error), stderr io.Writer, name string) (res *fileResult, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			if _, fault := r.(interface{ Addr() uintptr }); !fault {
				panic(r)
			}
			res, err = nil, errMapFault
		}
	}()
	return detectAudio(next, stderr, name)
}
