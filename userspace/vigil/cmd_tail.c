/*
 * vigil tail: print or follow the alert log (or the telemetry log).
 *
 * Following works like `tail -F`, adapted to how vigil's sink (and an
 * external logrotate) rotates: when the path names a new file we keep the
 * old descriptor and drain it until the writer has moved to the new file
 * (the new file has data), then read the new file from its start.  Holding
 * the old descriptor also keeps its inode alive, so the number cannot be
 * reused by the new file and fool the inode comparison.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "paths.h"

int cmd_tail(int argc, char **argv);

#define TAIL_EXIT_OK 0
#define TAIL_EXIT_USAGE 2
#define TAIL_POLL_NS (100 * 1000 * 1000L)
/* A line longer than this is not a vigil record; it is skipped, not buffered forever. */
#define TAIL_MAX_LINE (8u << 20)

enum { SEV_NONE = -1, SEV_INFO, SEV_LOW, SEV_MEDIUM, SEV_HIGH };

struct tail_opts {
	long lines;
	bool follow;
	bool json;      /* raw lines: --json or stdout is not a TTY */
	bool json_flag; /* --json given: invalid lines are passed through */
	bool color;
	int min_sev;
	const char *rule;
};

struct tail_stats {
	uint64_t invalid;
	uint64_t overlong;
	bool out_closed;        /* EPIPE: the reader went away */
};

/* A file being read line by line; buf holds an incomplete last line. */
struct reader {
	int fd;
	dev_t dev;
	ino_t ino;
	off_t off;              /* bytes consumed from fd */
	char *buf;
	size_t len, cap;
	bool skipping;          /* inside an overlong line: drop until '\n' */
};

/* A matching line kept by the backward scan. */
struct saved_line {
	char *s;
	size_t len;
};

static volatile sig_atomic_t tail_stop;

static void on_signal(int sig)
{
	(void)sig;
	tail_stop = 1;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: vigil tail [-f|--follow] [-n N] [--severity S] [--rule R] [--json]\n"
		"                  [--log-dir DIR] [--file NAME] [--help]\n"
		"\n"
		"Prints the last N (default 10) records of the alert log, or follows it\n"
		"across rotations with -f.\n"
		"\n"
		"  -f, --follow        keep reading; survives rotation and truncation\n"
		"  -n, --lines N       records to show first (default 10)\n"
		"      --severity S    only records with severity >= S\n"
		"                      (informational < low < medium < high)\n"
		"      --rule R        only records whose \"rule\" is exactly R\n"
		"      --json          raw JSON lines (the default when stdout is not a TTY)\n"
		"      --log-dir DIR   log directory (default $VIGIL_LOG_DIR, %s,\n"
		"                      or ./%s)\n"
		"      --file NAME     log file in DIR (default %s; %s for telemetry)\n"
		"  -h, --help          this help\n",
		VIGIL_DEFAULT_LOG_DIR, VIGIL_LOCAL_LOG_DIR, VIGIL_ALERTS_NAME, VIGIL_EVENTS_NAME);
}

static int severity_rank(const char *s)
{
	static const char *const names[] = { "informational", "low", "medium", "high" };
	size_t i;

	if (!s)
		return SEV_NONE;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcasecmp(s, names[i]))
			return (int)i;
	if (!strcasecmp(s, "info"))
		return SEV_INFO;
	return SEV_NONE;
}

static const char *resolve_log_dir(const char *opt)
{
	const char *env = getenv("VIGIL_LOG_DIR");
	struct stat st;

	if (opt && *opt)
		return opt;
	if (env && *env)
		return env;
	if (stat(VIGIL_DEFAULT_LOG_DIR, &st) == 0 && S_ISDIR(st.st_mode))
		return VIGIL_DEFAULT_LOG_DIR;
	return VIGIL_LOCAL_LOG_DIR;
}

/* ---- output ---------------------------------------------------------------- */

static void out_write(struct tail_stats *st, const char *s, size_t n)
{
	if (st->out_closed)
		return;
	if (fwrite(s, 1, n, stdout) != n)
		st->out_closed = true;
}

static const char *jstr(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Prints s with control characters made visible, so a filename cannot drive the terminal. */
static void print_safe(const char *s)
{
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c < 0x20 || c == 0x7f)
			printf("\\x%02x", c);
		else
			putchar(c);
	}
}

static void print_summary(const struct tail_opts *o, json_t *rec)
{
	const char *time_s = jstr(rec, "time"), *sev = jstr(rec, "severity");
	const char *rule = jstr(rec, "rule"), *title = jstr(rec, "title");
	const char *action = jstr(rec, "action");
	json_t *proc = json_object_get(rec, "process");
	json_t *cont = json_object_get(rec, "container");
	const char *color = "", *reset = o->color ? "\033[0m" : "";
	const char *dim = o->color ? "\033[2m" : "";
	char tbuf[32];
	char sevbuf[16];
	size_t i;

	if (time_s) {
		/* "2026-12-06T09:10:11.123456Z" -> "2026-12-06 09:10:11" */
		snprintf(tbuf, sizeof(tbuf), "%.19s", time_s);
		if (strlen(tbuf) == 19 && tbuf[10] == 'T')
			tbuf[10] = ' ';
	} else {
		snprintf(tbuf, sizeof(tbuf), "%-19s", "-");
	}
	if (o->color) {
		switch (severity_rank(sev)) {
		case SEV_HIGH: color = "\033[1;31m"; break;
		case SEV_MEDIUM: color = "\033[33m"; break;
		case SEV_LOW: color = "\033[36m"; break;
		case SEV_INFO: color = "\033[2m"; break;
		default: color = ""; break;
		}
	}
	snprintf(sevbuf, sizeof(sevbuf), "%s", sev ? sev : "-");
	for (i = 0; sevbuf[i]; i++)
		if (sevbuf[i] >= 'a' && sevbuf[i] <= 'z')
			sevbuf[i] = (char)(sevbuf[i] - 'a' + 'A');
	if (!strcmp(sevbuf, "INFORMATIONAL"))
		strcpy(sevbuf, "INFO");

	printf("%s%s%s %s%-6s%s ", dim, tbuf, reset, color, sevbuf, reset);
	print_safe(rule ? rule : "-");
	if (title) {
		fputs("  ", stdout);
		print_safe(title);
	}
	if (json_is_object(proc)) {
		const char *exe = jstr(proc, "exe");
		json_t *pid = json_object_get(proc, "pid");

		fputs("  ", stdout);
		print_safe(exe ? exe : "?");
		if (json_is_integer(pid))
			printf("[%lld]", (long long)json_integer_value(pid));
	}
	if (json_is_object(cont)) {
		const char *id = jstr(cont, "id"), *pod = jstr(cont, "pod");

		if (id && *id) {
			char shortid[13];

			/* The 12-character form docker and crictl print. */
			snprintf(shortid, sizeof(shortid), "%s", id);
			printf("  %scontainer=%s", dim, reset);
			print_safe(shortid);
		}
		if (pod && *pod) {
			printf("  %spod=%s", dim, reset);
			print_safe(pod);
		}
	}
	if (action && !strcmp(action, "blocked"))
		printf("  %s[blocked]%s", o->color ? "\033[1m" : "", reset);
	putchar('\n');
}

/* ---- filtering ------------------------------------------------------------- */

/*
 * True when the line is shown; *recp then gets the parsed record (new
 * reference), or NULL for a non-JSON line passed through raw.
 */
static bool line_matches(const struct tail_opts *o, struct tail_stats *st,
			 const char *line, size_t len, json_t **recp)
{
	json_error_t jerr;
	json_t *rec;
	bool ok = true;

	*recp = NULL;
	rec = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
	if (!rec || !json_is_object(rec)) {
		json_decref(rec);
		/* Raw pass-through is only possible when no filter needs the record's fields. */
		if (o->json_flag && o->min_sev == SEV_NONE && !o->rule)
			return true;
		st->invalid++;
		return false;
	}
	if (o->min_sev != SEV_NONE) {
		int r = severity_rank(jstr(rec, "severity"));

		if (r == SEV_NONE || r < o->min_sev)
			ok = false;
	}
	if (ok && o->rule) {
		const char *rule = jstr(rec, "rule");

		if (!rule || strcmp(rule, o->rule))
			ok = false;
	}
	if (!ok) {
		json_decref(rec);
		return false;
	}
	*recp = rec;
	return true;
}

static void emit(const struct tail_opts *o, struct tail_stats *st,
		 const char *line, size_t len, json_t *rec)
{
	if (o->json || !rec || (!jstr(rec, "rule") && !jstr(rec, "title"))) {
		/* Raw mode, or a record that is not an alert (telemetry): the line unchanged. */
		out_write(st, line, len);
		out_write(st, "\n", 1);
		return;
	}
	print_summary(o, rec);
	if (ferror(stdout))
		st->out_closed = true;
}

/* ---- reading --------------------------------------------------------------- */

struct line_ctx {
	const struct tail_opts *o;
	struct tail_stats *st;
};

static void handle_line(struct line_ctx *c, const char *line, size_t len)
{
	json_t *rec;

	if (len == 0)
		return;
	if (!line_matches(c->o, c->st, line, len, &rec))
		return;
	emit(c->o, c->st, line, len, rec);
	json_decref(rec);
}

static int reader_open(struct reader *r, const char *path)
{
	struct stat st;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	memset(r, 0, sizeof(*r));
	r->fd = fd;
	r->dev = st.st_dev;
	r->ino = st.st_ino;
	return 0;
}

static void reader_close(struct reader *r)
{
	if (r->fd >= 0)
		close(r->fd);
	free(r->buf);
	memset(r, 0, sizeof(*r));
	r->fd = -1;
}

/* Reads fd to EOF, handing every complete line to handle_line(). */
static int reader_pump(struct reader *r, struct line_ctx *c)
{
	char chunk[65536];

	for (;;) {
		ssize_t n = read(r->fd, chunk, sizeof(chunk));
		size_t i, start = 0;

		if (n < 0) {
			if (errno == EINTR) {
				if (tail_stop)
					return 0;
				continue;
			}
			return -errno;
		}
		if (n == 0)
			return 0;
		r->off += n;
		for (i = 0; i < (size_t)n; i++) {
			if (chunk[i] != '\n')
				continue;
			if (r->skipping) {
				r->skipping = false;
			} else if (r->len) {
				size_t add = i - start;

				if (r->len + add > TAIL_MAX_LINE) {
					c->st->overlong++;
				} else {
					if (r->len + add > r->cap) {
						char *nb = realloc(r->buf, r->len + add);

						if (!nb)
							return -ENOMEM;
						r->buf = nb;
						r->cap = r->len + add;
					}
					memcpy(r->buf + r->len, chunk + start, add);
					handle_line(c, r->buf, r->len + add);
				}
				r->len = 0;
			} else {
				handle_line(c, chunk + start, i - start);
			}
			start = i + 1;
		}
		if (start < (size_t)n && !r->skipping) {
			size_t add = (size_t)n - start;

			if (r->len + add > TAIL_MAX_LINE) {
				c->st->overlong++;
				r->len = 0;
				r->skipping = true;
			} else {
				if (r->len + add > r->cap) {
					size_t ncap = r->cap ? r->cap : 4096;
					char *nb;

					while (ncap < r->len + add)
						ncap *= 2;
					nb = realloc(r->buf, ncap);
					if (!nb)
						return -ENOMEM;
					r->buf = nb;
					r->cap = ncap;
				}
				memcpy(r->buf + r->len, chunk + start, add);
				r->len += add;
			}
		}
	}
}

/* A last line without '\n' in a file nobody will write again: show it anyway. */
static void reader_finish(struct reader *r, struct line_ctx *c)
{
	if (r->len && !r->skipping)
		handle_line(c, r->buf, r->len);
	r->len = 0;
}

static void pause_poll(void)
{
	struct timespec ts = { .tv_sec = 0, .tv_nsec = TAIL_POLL_NS };

	nanosleep(&ts, NULL);
}

static void flush_out(struct tail_stats *st)
{
	if (!st->out_closed && fflush(stdout) != 0)
		st->out_closed = true;
}

/* ---- the last N matching lines ------------------------------------------ */

/* Prints hits (newest first) oldest first and frees them. */
static void print_saved(struct saved_line *v, size_t n, const struct tail_opts *o,
			struct tail_stats *st)
{
	size_t i;

	for (i = n; i-- > 0;) {
		json_t *rec = NULL;
		json_error_t jerr;

		if (!o->json)
			rec = json_loadb(v[i].s, v[i].len, JSON_ALLOW_NUL, &jerr);
		emit(o, st, v[i].s, v[i].len, rec);
		json_decref(rec);
		free(v[i].s);
	}
	free(v);
}

/* pread(2) of exactly n bytes at off: 0 or -errno (-EIO when the file shrank). */
static int pread_full(int fd, char *buf, size_t n, off_t off)
{
	while (n > 0) {
		ssize_t r = pread(fd, buf, n, off);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			return -EIO;
		buf += r;
		n -= (size_t)r;
		off += r;
	}
	return 0;
}

/* Offset just past the last '\n' before end (0 when there is none). */
static int find_line_end(int fd, off_t end, off_t *out)
{
	char blk[4096];

	while (end > 0) {
		size_t n = end < (off_t)sizeof(blk) ? (size_t)end : sizeof(blk);
		char *nl;
		int err = pread_full(fd, blk, n, end - (off_t)n);

		if (err < 0)
			return err;
		nl = memrchr(blk, '\n', n);
		if (nl) {
			*out = end - (off_t)n + (nl - blk) + 1;
			return 0;
		}
		end -= (off_t)n;
	}
	*out = 0;
	return 0;
}

/*
 * Shows the last o->lines matching lines of r's file, reading it backwards
 * in 64 KiB blocks from its current size, so a big log costs only what is
 * shown (plus what the filters skip).  An unfinished last line (no '\n') is
 * shown when final_partial; otherwise it is left to the follower, and
 * *resume gets the offset just past the last '\n'.  0 or -errno.
 */
static int tail_last(struct reader *r, const struct tail_opts *o, struct tail_stats *st,
		     bool final_partial, off_t *resume)
{
	enum { BLK = 65536 };
	struct saved_line *hits = NULL;
	size_t nhits = 0, cap = 0;
	char *buf = NULL;
	size_t lend = 0;        /* buf holds file bytes [pos, pos + lend) not yet split */
	bool skip_line = false; /* the line being assembled is overlong: drop it */
	struct stat sb;
	off_t pos, end;
	int err;

	if (fstat(r->fd, &sb) < 0)
		return -errno;
	end = sb.st_size;
	if (!final_partial) {
		err = find_line_end(r->fd, end, &end);
		if (err < 0)
			return err;
	}
	*resume = end;
	if (end > 0) {
		char last;

		err = pread_full(r->fd, &last, 1, end - 1);
		if (err < 0)
			return err;
		if (last == '\n')
			end--;  /* the terminator of the last line is not a line separator */
	}
	pos = end;
	err = 0;
	while (nhits < (size_t)o->lines) {
		char *nl = buf ? memrchr(buf, '\n', lend) : NULL;
		const char *line;
		size_t llen;
		json_t *rec;

		if (!nl && pos > 0) {
			/* The line starts in an earlier block: prepend it. */
			size_t blk = pos < BLK ? (size_t)pos : BLK, keep = lend;
			char *nb;

			if (keep > TAIL_MAX_LINE && !skip_line) {
				st->overlong++;
				skip_line = true;
			}
			if (skip_line)
				keep = 0;
			nb = malloc(blk + keep + 1);
			if (!nb) {
				err = -ENOMEM;
				break;
			}
			err = pread_full(r->fd, nb, blk, pos - (off_t)blk);
			if (err < 0) {
				free(nb);
				break;
			}
			if (keep)
				memcpy(nb + blk, buf, keep);
			free(buf);
			buf = nb;
			pos -= (off_t)blk;
			lend = blk + keep;
			continue;
		}
		/* Either the line after nl, or the file's first line. */
		line = nl ? nl + 1 : buf;
		llen = buf ? lend - (size_t)(line - buf) : 0;
		if (skip_line) {
			skip_line = false;
		} else if (llen > 0 && line_matches(o, st, line, llen, &rec)) {
			json_decref(rec);
			if (nhits == cap) {
				size_t ncap = cap ? cap * 2 : 16;
				struct saved_line *nv = realloc(hits, ncap * sizeof(*nv));

				if (!nv) {
					err = -ENOMEM;
					break;
				}
				hits = nv;
				cap = ncap;
			}
			hits[nhits].s = malloc(llen);
			if (!hits[nhits].s) {
				err = -ENOMEM;
				break;
			}
			memcpy(hits[nhits].s, line, llen);
			hits[nhits].len = llen;
			nhits++;
		}
		if (!nl)
			break;  /* that was the first line of the file */
		lend = (size_t)(nl - buf);
	}
	free(buf);
	if (err < 0) {
		while (nhits > 0)
			free(hits[--nhits].s);
		free(hits);
		return err;
	}
	print_saved(hits, nhits, o, st);
	return 0;
}

/* ---- follow ------------------------------------------------------------------ */

static int follow(const char *path, const struct tail_opts *o, struct tail_stats *st,
		  struct reader *cur)
{
	struct line_ctx emitc = { .o = o, .st = st };
	struct reader old = { .fd = -1 };
	bool waiting_noted = false;

	while (!tail_stop && !st->out_closed) {
		struct stat pst, fst;
		int err;

		if (cur->fd < 0) {
			/* No file yet (or it vanished before we opened it): wait for it. */
			err = reader_open(cur, path);
			if (err < 0) {
				if (err != -ENOENT) {
					fprintf(stderr, "Error: cannot open %s: %s\n", path, strerror(-err));
					return -1;
				}
				if (!waiting_noted) {
					fprintf(stderr, "vigil tail: waiting for %s to appear\n", path);
					waiting_noted = true;
				}
				pause_poll();
				continue;
			}
		}

		if (old.fd >= 0) {
			/*
			 * Rotated: keep draining the old file until the writer is
			 * visibly using the new one, then a last drain and switch.
			 */
			if (reader_pump(&old, &emitc) < 0 ||
			    (fstat(cur->fd, &fst) == 0 && fst.st_size > 0)) {
				reader_pump(&old, &emitc);
				reader_finish(&old, &emitc);
				reader_close(&old);
			}
		}
		if (old.fd < 0) {
			if (fstat(cur->fd, &fst) == 0 && fst.st_size < cur->off) {
				fprintf(stderr, "vigil tail: %s: file truncated\n", path);
				if (lseek(cur->fd, 0, SEEK_SET) == 0) {
					cur->off = 0;
					cur->len = 0;
					cur->skipping = false;
				}
			}
			err = reader_pump(cur, &emitc);
			if (err < 0) {
				fprintf(stderr, "Error: reading %s: %s\n", path, strerror(-err));
				return -1;
			}
		}
		flush_out(st);

		if (stat(path, &pst) == 0 && (pst.st_ino != cur->ino || pst.st_dev != cur->dev)) {
			struct reader next;

			if (reader_open(&next, path) == 0) {
				if (next.ino == cur->ino && next.dev == cur->dev) {
					reader_close(&next);
				} else {
					/* A second rotation before the first finished: finish the first now. */
					if (old.fd >= 0) {
						reader_pump(&old, &emitc);
						reader_finish(&old, &emitc);
						reader_close(&old);
					}
					old = *cur;
					*cur = next;
					fprintf(stderr, "vigil tail: %s: file replaced, following the new file\n",
						path);
					continue;
				}
			}
		}
		/* A missing path (renamed, not yet recreated) keeps us on the old descriptor. */
		pause_poll();
	}
	if (old.fd >= 0) {
		reader_pump(&old, &emitc);
		reader_close(&old);
	}
	flush_out(st);
	return 0;
}

int cmd_tail(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "follow", no_argument, NULL, 'f' },
		{ "lines", required_argument, NULL, 'n' },
		{ "severity", required_argument, NULL, 's' },
		{ "rule", required_argument, NULL, 'r' },
		{ "json", no_argument, NULL, 'j' },
		{ "log-dir", required_argument, NULL, 'd' },
		{ "file", required_argument, NULL, 'F' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct tail_opts o = { .lines = 10, .min_sev = SEV_NONE };
	struct tail_stats st = { 0 };
	struct reader cur = { .fd = -1 };
	struct sigaction sa;
	const char *opt_dir = NULL, *file = VIGIL_ALERTS_NAME, *dir;
	char path[PATH_MAX];
	int c, rc = TAIL_EXIT_OK, err;

	optind = 0;     /* glibc: full re-initialisation, main() may have used getopt */
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":fn:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'f':
			o.follow = true;
			break;
		case 'n': {
			char *end;

			errno = 0;
			o.lines = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end || o.lines < 0) {
				fprintf(stderr, "Error: -n: not a count: %s\n", optarg);
				return TAIL_EXIT_USAGE;
			}
			break;
		}
		case 's':
			o.min_sev = severity_rank(optarg);
			if (o.min_sev == SEV_NONE) {
				fprintf(stderr, "Error: --severity: expected informational, low, medium "
					"or high, got %s\n", optarg);
				return TAIL_EXIT_USAGE;
			}
			break;
		case 'r':
			o.rule = optarg;
			break;
		case 'j':
			o.json_flag = true;
			break;
		case 'd':
			opt_dir = optarg;
			break;
		case 'F':
			if (!*optarg) {
				fprintf(stderr, "Error: --file: empty name\n");
				return TAIL_EXIT_USAGE;
			}
			file = optarg;
			break;
		case 'h':
			usage(stdout);
			return TAIL_EXIT_OK;
		case ':':
			fprintf(stderr, "Error: option %s needs an argument\n", argv[optind - 1]);
			usage(stderr);
			return TAIL_EXIT_USAGE;
		default:
			fprintf(stderr, "Error: unknown option %s\n", argv[optind - 1]);
			usage(stderr);
			return TAIL_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "Error: unexpected argument %s\n", argv[optind]);
		usage(stderr);
		return TAIL_EXIT_USAGE;
	}

	o.json = o.json_flag || !isatty(STDOUT_FILENO);
	o.color = !o.json && !getenv("NO_COLOR");

	dir = resolve_log_dir(opt_dir);
	if (file[0] == '/')
		snprintf(path, sizeof(path), "%s", file);
	else if (snprintf(path, sizeof(path), "%s/%s", dir, file) >= (int)sizeof(path)) {
		fprintf(stderr, "Error: path too long: %s/%s\n", dir, file);
		return TAIL_EXIT_USAGE;
	}

	/* Ctrl-C ends a follow cleanly; a closed pipe ends the output, not the process. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	tail_stop = 0;

	err = reader_open(&cur, path);
	if (err < 0) {
		if (!o.follow || err != -ENOENT) {
			fprintf(stderr, "Error: cannot open %s: %s%s\n", path, strerror(-err),
				err == -ENOENT ? " (is vigild running? see --log-dir)" : "");
			return TAIL_EXIT_USAGE;
		}
		cur.fd = -1;
	} else {
		off_t resume = 0;

		err = tail_last(&cur, &o, &st, !o.follow, &resume);
		if (err < 0) {
			fprintf(stderr, "Error: reading %s: %s\n", path, strerror(-err));
			rc = TAIL_EXIT_USAGE;
		} else if (lseek(cur.fd, resume, SEEK_SET) == resume) {
			/* Follow from the end of the last complete line: nothing shown twice. */
			cur.off = resume;
		} else {
			rc = TAIL_EXIT_USAGE;
		}
	}
	flush_out(&st);

	if (o.follow && rc == TAIL_EXIT_OK && !st.out_closed) {
		if (follow(path, &o, &st, &cur) < 0)
			rc = TAIL_EXIT_USAGE;
	}
	reader_close(&cur);

	if (st.invalid)
		fprintf(stderr, "vigil tail: warning: skipped %llu line%s that %s not valid JSON\n",
			(unsigned long long)st.invalid, st.invalid == 1 ? "" : "s",
			st.invalid == 1 ? "was" : "were");
	if (st.overlong)
		fprintf(stderr, "vigil tail: warning: skipped %llu line%s longer than %u bytes\n",
			(unsigned long long)st.overlong, st.overlong == 1 ? "" : "s", TAIL_MAX_LINE);
	return rc;
}
