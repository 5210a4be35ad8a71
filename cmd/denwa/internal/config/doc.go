// Package config turns what the denwa commands are told — defaults, a JSON
// config file, DENWA_* environment variables and flags — into checked
// structs for denwa's packages.
//
// Serve is the whole configuration of `denwa serve`, in the shape of its
// config file; Loader layers it (defaults, file, environment, flags, last
// wins) and records where each setting came from; Serve.Check validates it
// into Params; Print writes it back as a commented config file. SIP, the
// sip section of that file, is also what `denwa call` binds to its flags,
// and RTP, a part of SIP, what `denwa phone` binds: the three commands
// register their shared flags with one function (bindFlags), from one set
// of struct tags and defaults.
//
// Secrets (type Secret) are read only from their environment variable or
// from a file named by a sibling "<name>_file" setting, never from the
// config file or a flag, and every way of printing one shows "[redacted]".
//
// The package holds no mutable state; everything is built per call.
package config
