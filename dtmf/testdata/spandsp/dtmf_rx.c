/*
 * dtmf_rx: run spandsp's DTMF receiver over a WAV file and print the keys.
 *
 * A measuring tool for denwa's tests (dtmf/detector_spandsp_test.go builds it
 * with gcc into a temporary directory); see README.md beside it. It uses only
 * spandsp's public API (dtmf_rx_init, dtmf_rx_parms, dtmf_rx,
 * dtmf_rx_set_realtime_callback, dtmf_rx_free and the G.711 decoders of
 * <spandsp/g711.h>) and links to the library; nothing of spandsp is copied.
 *
 *     dtmf_rx [-t] [-b] [-c N] FILE.wav
 *
 * stdout: each key spandsp reports, one per line, in order.
 * -t      stderr: "KEY<TAB>SECONDS" per key, SECONDS the end of the dtmf_rx
 *         call in which spandsp reported the key's start (a resolution of
 *         -c samples), from the start of the file.
 * -b      stderr: the CPU and wall time of the dtmf_rx loop alone (the file is
 *         read and decoded before it), each as a multiple of real time:
 *         "... CPU S s (X x realtime), wall S s (Y x realtime)".
 * -c N    samples per dtmf_rx call (default 160, one 20 ms packet at 8 kHz).
 *
 * Input: RIFF WAV, 8000 Hz, mono, 16-bit PCM, μ-law or A-law.
 * spandsp runs with its default parameters.
 * Exit status: 0 on success, 1 on a read or detector error, 2 on bad usage or
 * an unsupported file.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <spandsp.h>

enum { fmt_pcm = 1, fmt_alaw = 6, fmt_ulaw = 7 };

/* keys collects what the two callbacks report during the timed loop, so
 * that nothing is printed until the loop is over. */
struct keys {
	char *digits; /* from the digits callback, in order */
	size_t ndigits, capdigits;
	struct onset {
		char key;
		double at; /* seconds */
	} *onsets; /* from the realtime callback */
	size_t nonsets, caponsets;
	long long pos; /* samples handed to dtmf_rx so far, this call included */
};

static void *grow(void *p, size_t *cap, size_t need, size_t size)
{
	if (need <= *cap)
		return p;
	size_t n = *cap ? *cap * 2 : 64;
	while (n < need)
		n *= 2;
	p = realloc(p, n * size);
	if (p == NULL) {
		perror("dtmf_rx");
		exit(1);
	}
	*cap = n;
	return p;
}

/* on_digits is spandsp's digits callback: len keys, not NUL-terminated. */
static void on_digits(void *user, const char *digits, int len)
{
	struct keys *k = user;
	k->digits = grow(k->digits, &k->capdigits, k->ndigits + (size_t)len, 1);
	memcpy(k->digits + k->ndigits, digits, (size_t)len);
	k->ndigits += (size_t)len;
}

/* on_change is spandsp's realtime callback: code is the key whose tone has
 * been confirmed, or 0 when the tone ends. */
static void on_change(void *user, int code, int level, int delay)
{
	struct keys *k = user;
	(void)level;
	(void)delay;
	if (code == 0)
		return;
	k->onsets = grow(k->onsets, &k->caponsets, k->nonsets + 1, sizeof *k->onsets);
	k->onsets[k->nonsets].key = (char)code;
	k->onsets[k->nonsets].at = (double)k->pos / 8000.0;
	k->nonsets++;
}

static unsigned rd16(const unsigned char *p) { return p[0] | p[1] << 8; }

static unsigned long rd32(const unsigned char *p)
{
	return (unsigned long)p[0] | (unsigned long)p[1] << 8 |
	       (unsigned long)p[2] << 16 | (unsigned long)p[3] << 24;
}

static unsigned char *read_file(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		fprintf(stderr, "dtmf_rx: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	unsigned char *buf = NULL;
	size_t cap = 0;
	*n = 0;
	for (;;) {
		buf = grow(buf, &cap, *n + 65536, 1);
		size_t got = fread(buf + *n, 1, cap - *n, f);
		*n += got;
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		fprintf(stderr, "dtmf_rx: %s: read error\n", path);
		exit(1);
	}
	fclose(f);
	return buf;
}

/* decode_wav returns the file's samples as 16-bit linear PCM. */
static int16_t *decode_wav(const char *path, const unsigned char *b, size_t n, size_t *nsamples)
{
	if (n < 12 || memcmp(b, "RIFF", 4) != 0 || memcmp(b + 8, "WAVE", 4) != 0) {
		fprintf(stderr, "dtmf_rx: %s: not a RIFF WAVE file\n", path);
		exit(2);
	}
	int format = 0;
	const unsigned char *data = NULL;
	size_t ndata = 0;
	for (size_t off = 12; off + 8 <= n;) {
		unsigned long size = rd32(b + off + 4);
		const unsigned char *body = b + off + 8;
		if (size > n - off - 8)
			size = n - off - 8; /* a data chunk cut short: take what is there */
		if (memcmp(b + off, "fmt ", 4) == 0 && size >= 16) {
			unsigned channels = rd16(body + 2), bits = rd16(body + 14);
			unsigned long rate = rd32(body + 4);
			format = rd16(body);
			if (channels != 1 || rate != 8000 ||
			    !((format == fmt_pcm && bits == 16) ||
			      ((format == fmt_alaw || format == fmt_ulaw) && bits == 8))) {
				fprintf(stderr, "dtmf_rx: %s: want 8000 Hz mono 16-bit PCM, "
						"μ-law or A-law; have format %d, %u channels, "
						"%lu Hz, %u bits\n",
					path, format, channels, rate, bits);
				exit(2);
			}
		} else if (memcmp(b + off, "data", 4) == 0) {
			data = body;
			ndata = size;
		}
		off += 8 + size + (size & 1);
	}
	if (format == 0 || data == NULL) {
		fprintf(stderr, "dtmf_rx: %s: no fmt or data chunk\n", path);
		exit(2);
	}
	*nsamples = format == fmt_pcm ? ndata / 2 : ndata;
	int16_t *x = malloc((*nsamples ? *nsamples : 1) * sizeof *x);
	if (x == NULL) {
		perror("dtmf_rx");
		exit(1);
	}
	for (size_t i = 0; i < *nsamples; i++) {
		switch (format) {
		case fmt_pcm:
			x[i] = (int16_t)rd16(data + 2 * i);
			break;
		case fmt_alaw:
			x[i] = alaw_to_linear(data[i]);
			break;
		default:
			x[i] = ulaw_to_linear(data[i]);
		}
	}
	return x;
}

static double seconds(clockid_t clock)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage(void)
{
	fprintf(stderr, "usage: dtmf_rx [-t] [-b] [-c N] FILE.wav\n");
	exit(2);
}

int main(int argc, char **argv)
{
	int onsets = 0, bench = 0, chunk = 160, opt;
	while ((opt = getopt(argc, argv, "tbc:")) != -1) {
		switch (opt) {
		case 't':
			onsets = 1;
			break;
		case 'b':
			bench = 1;
			break;
		case 'c':
			chunk = atoi(optarg);
			if (chunk <= 0)
				usage();
			break;
		default:
			usage();
		}
	}
	if (optind != argc - 1)
		usage();
	const char *path = argv[optind];

	size_t nbytes, n;
	unsigned char *raw = read_file(path, &nbytes);
	int16_t *x = decode_wav(path, raw, nbytes, &n);
	free(raw);

	struct keys k = {0};
	dtmf_rx_state_t *rx = dtmf_rx_init(NULL, on_digits, &k);
	if (rx == NULL) {
		fprintf(stderr, "dtmf_rx: dtmf_rx_init failed\n");
		return 1;
	}
	/* spandsp's defaults, stated: no dial-tone filter; twist, reverse
	 * twist and threshold left as dtmf_rx_init set them. */
	dtmf_rx_parms(rx, 0, -1, -1, -99);
	if (onsets)
		dtmf_rx_set_realtime_callback(rx, on_change, &k);

	double cpu0 = seconds(CLOCK_PROCESS_CPUTIME_ID), wall0 = seconds(CLOCK_MONOTONIC);
	for (size_t i = 0; i < n; i += (size_t)chunk) {
		int len = n - i < (size_t)chunk ? (int)(n - i) : chunk;
		k.pos = (long long)(i + (size_t)len);
		if (dtmf_rx(rx, x + i, len) != 0) {
			fprintf(stderr, "dtmf_rx: dtmf_rx left samples unprocessed at %zu\n", i);
			return 1;
		}
	}
	double cpu = seconds(CLOCK_PROCESS_CPUTIME_ID) - cpu0, wall = seconds(CLOCK_MONOTONIC) - wall0;
	dtmf_rx_free(rx);

	for (size_t i = 0; i < k.ndigits; i++)
		printf("%c\n", k.digits[i]);
	for (size_t i = 0; i < k.nonsets; i++)
		fprintf(stderr, "%c\t%.3f\n", k.onsets[i].key, k.onsets[i].at);
	if (bench) {
		double audio = (double)n / 8000.0;
		fprintf(stderr, "dtmf_rx loop: %.1f s of audio in %d-sample calls: "
				"CPU %.4f s (%.0f x realtime), wall %.4f s (%.0f x realtime)\n",
			audio, chunk, cpu, cpu > 0 ? audio / cpu : 0, wall, wall > 0 ? audio / wall : 0);
	}
	free(x);
	free(k.digits);
	free(k.onsets);
	return ferror(stdout) ? 1 : 0;
}
