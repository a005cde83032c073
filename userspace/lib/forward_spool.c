/* The forwarder's durable, bounded on-disk spool.  See forward.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "forward.h"
#include "util.h"

#define SEG_MIN        (4u << 10)
#define READ_CHUNK     (256u << 10)
#define LINE_MAX_BYTES (1u << 20)     /* a longer line is corrupt */

struct fwd_spool {
	pthread_mutex_t mu;
	char dir[PATH_MAX];
	uint64_t max_bytes, seg_max;
	uint64_t first_seq, write_seq;     /* segments on disk: [first_seq, write_seq] */
	int wfd;
	uint64_t wsize;                    /* size of the write segment */
	uint64_t bytes;                    /* all segments */
	struct fwd_pos cur;
	uint64_t appended, dropped, corrupt;
};

static void seg_path(const struct fwd_spool *s, uint64_t seq, char *buf, size_t len)
{
	snprintf(buf, len, "%s/seg-%016" PRIu64 ".jsonl", s->dir, seq);
}

static uint64_t seg_size(const struct fwd_spool *s, uint64_t seq)
{
	char p[PATH_MAX + 32];
	struct stat st;

	seg_path(s, seq, p, sizeof(p));
	return stat(p, &st) ? 0 : (uint64_t)st.st_size;
}

static int save_cursor(struct fwd_spool *s)
{
	char p[PATH_MAX + 16], buf[96];
	int n = snprintf(buf, sizeof(buf), "%" PRIu64 " %" PRIu64 " %" PRIu64 "\n", s->cur.seq, s->cur.off, s->dropped);

	snprintf(p, sizeof(p), "%s/cursor", s->dir);
	return util_write_file_atomic(p, buf, n, 0600);
}

static void set_seg_max(struct fwd_spool *s, uint64_t max_bytes)
{
	s->max_bytes = max_bytes;
	/* eight segments: dropping the oldest frees an eighth of the bound */
	s->seg_max = max_bytes / 8 > SEG_MIN ? max_bytes / 8 : SEG_MIN;
}

static int open_write(struct fwd_spool *s)
{
	char p[PATH_MAX + 32];
	struct stat st;

	if (s->wfd >= 0)
		close(s->wfd);
	seg_path(s, s->write_seq, p, sizeof(p));
	s->wfd = open(p, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (s->wfd < 0)
		return -errno;
	s->wsize = fstat(s->wfd, &st) ? 0 : (uint64_t)st.st_size;
	return 0;
}

/* Cuts a torn last line (a crash during write) so the next append starts clean. */
static void cut_torn(const char *path)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);
	struct stat st;
	char buf[4096];
	off_t end;

	if (fd < 0)
		return;
	if (fstat(fd, &st) || st.st_size == 0)
		goto out;
	end = st.st_size;
	while (end > 0) {
		size_t n = end > (off_t)sizeof(buf) ? sizeof(buf) : (size_t)end;
		ssize_t r = pread(fd, buf, n, end - n);
		if (r != (ssize_t)n)
			goto out;
		for (ssize_t i = r - 1; i >= 0; i--)
			if (buf[i] == '\n') {
				off_t keep = end - n + i + 1;
				if (keep != st.st_size && ftruncate(fd, keep)) {
					/* best effort: the reader skips the torn line as corrupt */
				}
				goto out;
			}
		end -= n;
	}
	if (ftruncate(fd, 0)) {
		/* as above */
	}
out:
	close(fd);
}

struct fwd_spool *fwd_spool_open(const char *dir, uint64_t max_bytes)
{
	struct fwd_spool *s = calloc(1, sizeof(*s));
	DIR *d = NULL;
	struct dirent *de;
	char p[PATH_MAX + 32], *txt;
	bool any = false;
	int r;

	if (!s)
		return NULL;
	s->wfd = -1;
	pthread_mutex_init(&s->mu, NULL);
	if (snprintf(s->dir, sizeof(s->dir), "%s", dir) >= (int)sizeof(s->dir)) {
		r = -ENAMETOOLONG;
		goto fail;
	}
	set_seg_max(s, max_bytes);
	if ((r = util_mkdir_p(dir, 0700)))
		goto fail;
	if (!(d = opendir(dir))) {
		r = -errno;
		goto fail;
	}
	s->first_seq = UINT64_MAX;
	while ((de = readdir(d))) {
		uint64_t seq;
		char tail[16];
		if (sscanf(de->d_name, "seg-%16" SCNu64 "%15s", &seq, tail) != 2 || strcmp(tail, ".jsonl"))
			continue;
		any = true;
		if (seq < s->first_seq)
			s->first_seq = seq;
		if (seq > s->write_seq)
			s->write_seq = seq;
	}
	closedir(d);
	if (!any)
		s->first_seq = s->write_seq = 0;
	snprintf(p, sizeof(p), "%s/cursor", dir);
	if ((txt = util_read_file(p, 256, NULL))) {
		if (sscanf(txt, "%" SCNu64 " %" SCNu64 " %" SCNu64, &s->cur.seq, &s->cur.off, &s->dropped) < 2)
			s->cur = (struct fwd_pos){ s->first_seq, 0 };
		free(txt);
	} else {
		s->cur = (struct fwd_pos){ s->first_seq, 0 };
	}
	if (s->cur.seq < s->first_seq)
		s->cur = (struct fwd_pos){ s->first_seq, 0 };
	if (s->cur.seq > s->write_seq)
		s->write_seq = s->cur.seq;
	/* segments entirely behind the cursor were delivered */
	for (uint64_t q = s->first_seq; q < s->cur.seq; q++) {
		seg_path(s, q, p, sizeof(p));
		unlink(p);
	}
	s->first_seq = s->cur.seq;
	seg_path(s, s->write_seq, p, sizeof(p));
	cut_torn(p);
	for (uint64_t q = s->first_seq; q <= s->write_seq; q++)
		s->bytes += seg_size(s, q);
	if ((r = open_write(s)))
		goto fail;
	return s;
fail:
	fwd_spool_close(s);
	errno = -r;
	return NULL;
}

void fwd_spool_set_max(struct fwd_spool *s, uint64_t max_bytes)
{
	pthread_mutex_lock(&s->mu);
	set_seg_max(s, max_bytes);
	pthread_mutex_unlock(&s->mu);
}

/* Lines in [from, end of file) of a segment. */
static uint64_t count_lines(const struct fwd_spool *s, uint64_t seq, uint64_t from)
{
	char p[PATH_MAX + 32], buf[65536];
	uint64_t n = 0;
	ssize_t r;
	int fd;

	seg_path(s, seq, p, sizeof(p));
	if ((fd = open(p, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	while ((r = pread(fd, buf, sizeof(buf), from)) > 0) {
		for (ssize_t i = 0; i < r; i++)
			n += buf[i] == '\n';
		from += r;
	}
	close(fd);
	return n;
}

/* Drops the oldest segment (never the write segment).  Caller holds mu. */
static bool drop_oldest(struct fwd_spool *s)
{
	char p[PATH_MAX + 32];
	uint64_t q = s->first_seq;

	if (q >= s->write_seq)
		return false;
	s->dropped += count_lines(s, q, s->cur.seq == q ? s->cur.off : 0);
	s->bytes -= seg_size(s, q);
	seg_path(s, q, p, sizeof(p));
	unlink(p);
	s->first_seq = q + 1;
	if (s->cur.seq <= q)
		s->cur = (struct fwd_pos){ q + 1, 0 };
	save_cursor(s);
	return true;
}

int fwd_spool_append(struct fwd_spool *s, const char *line, size_t len)
{
	char *buf;
	int r = 0;

	if (len + 1 > LINE_MAX_BYTES)
		return -E2BIG;
	if (!(buf = malloc(len + 1)))
		return -ENOMEM;
	memcpy(buf, line, len);
	buf[len] = '\n';
	pthread_mutex_lock(&s->mu);
	if (s->wsize >= s->seg_max) {
		s->write_seq++;
		if ((r = open_write(s)))
			goto out;
	}
	while (s->bytes + len + 1 > s->max_bytes && drop_oldest(s))
		;
	if (s->bytes + len + 1 > s->max_bytes) {
		s->dropped++;
		save_cursor(s);
		r = -ENOBUFS;
		goto out;
	}
	/* one write per line: a reader never sees half a line followed by another */
	ssize_t w = write(s->wfd, buf, len + 1);
	if (w != (ssize_t)(len + 1)) {
		r = w < 0 ? -errno : -EIO;
		if (w > 0 && ftruncate(s->wfd, s->wsize)) {
			/* the torn line is skipped as corrupt */
		}
		goto out;
	}
	s->wsize += len + 1;
	s->bytes += len + 1;
	s->appended++;
out:
	pthread_mutex_unlock(&s->mu);
	free(buf);
	return r;
}

int fwd_spool_peek(struct fwd_spool *s, size_t max_items, json_t **items, struct fwd_pos *end)
{
	json_t *arr = json_array();
	struct fwd_pos pos;
	uint64_t last;
	char *buf = malloc(READ_CHUNK);
	int r = 0;

	if (!arr || !buf) {
		json_decref(arr);
		free(buf);
		return -ENOMEM;
	}
	pthread_mutex_lock(&s->mu);
	pos = s->cur;
	last = s->write_seq;
	pthread_mutex_unlock(&s->mu);

	while (json_array_size(arr) < max_items && pos.seq <= last) {
		char p[PATH_MAX + 32];
		int fd;
		ssize_t n;

		seg_path(s, pos.seq, p, sizeof(p));
		fd = open(p, O_RDONLY | O_CLOEXEC);
		n = fd < 0 ? 0 : pread(fd, buf, READ_CHUNK, pos.off);
		if (fd >= 0)
			close(fd);
		if (n < 0) {
			r = -errno;
			break;
		}
		size_t used = 0;
		for (;;) {
			char *nl = memchr(buf + used, '\n', n - used);
			if (!nl || json_array_size(arr) >= max_items)
				break;
			json_t *o = json_loadb(buf + used, nl - (buf + used), 0, NULL);
			if (json_is_object(o))
				json_array_append_new(arr, o);
			else {
				json_decref(o);
				__atomic_add_fetch(&s->corrupt, 1, __ATOMIC_RELAXED);
			}
			used = nl + 1 - buf;
		}
		if (used == 0 && n == READ_CHUNK) {
			/* a line longer than the chunk: corrupt, skip to its end */
			__atomic_add_fetch(&s->corrupt, 1, __ATOMIC_RELAXED);
			pos.off += n;
			continue;
		}
		pos.off += used;
		if (json_array_size(arr) >= max_items)
			break;
		if ((size_t)n == READ_CHUNK)
			continue;                 /* more of this segment */
		/* end of this segment: the next one exists only if this is not the write segment */
		if (pos.seq < last) {
			if (used != (size_t)n)    /* a torn line nobody will complete */
				__atomic_add_fetch(&s->corrupt, 1, __ATOMIC_RELAXED);
			pos.seq++;
			pos.off = 0;
			continue;
		}
		break;
	}
	free(buf);
	if (r) {
		json_decref(arr);
		return r;
	}
	*items = arr;
	*end = pos;
	return 0;
}

int fwd_spool_commit(struct fwd_spool *s, const struct fwd_pos *end)
{
	int r = 0;

	pthread_mutex_lock(&s->mu);
	if (end->seq > s->cur.seq || (end->seq == s->cur.seq && end->off > s->cur.off)) {
		char p[PATH_MAX + 32];

		s->cur = *end;
		r = save_cursor(s);
		while (s->first_seq < s->cur.seq) {
			s->bytes -= seg_size(s, s->first_seq);
			seg_path(s, s->first_seq, p, sizeof(p));
			unlink(p);
			s->first_seq++;
		}
		/* everything sent and the write segment large: start a new one so the old can go */
		if (s->cur.seq == s->write_seq && s->cur.off == s->wsize && s->wsize >= s->seg_max) {
			s->write_seq++;
			if (!open_write(s)) {
				s->cur = (struct fwd_pos){ s->write_seq, 0 };
				save_cursor(s);
				s->bytes -= seg_size(s, s->first_seq);
				seg_path(s, s->first_seq, p, sizeof(p));
				unlink(p);
				s->first_seq = s->write_seq;
			}
		}
	}
	pthread_mutex_unlock(&s->mu);
	return r;
}

void fwd_spool_stats(struct fwd_spool *s, struct fwd_spool_stats *st)
{
	pthread_mutex_lock(&s->mu);
	st->bytes = s->bytes;
	st->segments = s->write_seq - s->first_seq + 1;
	st->appended = s->appended;
	st->dropped = s->dropped;
	st->corrupt = __atomic_load_n(&s->corrupt, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&s->mu);
}

void fwd_spool_close(struct fwd_spool *s)
{
	if (!s)
		return;
	if (s->wfd >= 0) {
		fsync(s->wfd);
		close(s->wfd);
	}
	pthread_mutex_destroy(&s->mu);
	free(s);
}
