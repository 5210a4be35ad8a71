// Package audio is denwa's sample-format layer: G.711 μ-law and A-law
// conversion (ITU-T G.711, via github.com/zaf/g711) and WAV (RIFF WAVE)
// reading and writing for 8000 Hz mono audio.
//
// Guarantees:
//   - No networking and no file system access of its own: callers pass an
//     io.Reader, io.Writer or fs.FS.
//   - The G.711 functions convert into caller-owned buffers, return
//     io.ErrShortBuffer when dst is too small, and never allocate.
//   - Time is counted in samples at 8000 Hz.
//   - Nothing here keeps package-level mutable state; every type is a plain
//     value owned by one goroutine.
package audio
