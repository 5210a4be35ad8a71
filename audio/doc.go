// Package audio is denwa's sample-format layer: G.711 μ-law and A-law
// conversion (ITU-T G.711, via github.com/zaf/g711) and WAV (RIFF WAVE)
// reading and writing for 8000 Hz mono audio, and the catalog of Japanese
// prompts shipped embedded (replaceable by the operator's recordings).
//
// Guarantees:
//   - No networking and no file system access of its own: callers pass an
//     io.Reader, io.Writer or fs.FS.
//   - The G.711 functions convert into caller-owned buffers, return
//     io.ErrShortBuffer when dst is too small, and never allocate.
//   - Time is counted in samples at 8000 Hz.
//   - Nothing here keeps package-level mutable state. Readers and writers are
//     plain values owned by one goroutine; a [Catalog] and its [Prompt]s are
//     immutable once loaded and shared by every call at once.
package audio
