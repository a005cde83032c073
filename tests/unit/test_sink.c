/* Unit tests for the JSON-lines sink: rotation, gzip, no loss, external logrotate. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <dirent.h>
#include <cmocka.h>

#include <zlib.h>
#include <jansson.h>

#include "sink.h"

#define NAME "alerts.jsonl"

struct fixture {
	char dir[64];
	char live[128];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	strcpy(f->dir, "/tmp/vigil-test-sink.XXXXXX");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	snprintf(f->live, sizeof(f->live), "%s/%s", f->dir, NAME);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	struct dirent *de;
	DIR *d = opendir(f->dir);

	while (d && (de = readdir(d))) {
		char p[PATH_MAX];

		if (de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", f->dir, de->d_name);
		unlink(p);
	}
	if (d)
		closedir(d);
	rmdir(f->dir);
	free(f);
	return 0;
}

static bool exists(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0;
}

/* Whole content of a plain or gzip file (gzread reads plain files too); NULL if missing. */
static char *slurp(const char *path, size_t *len)
{
	gzFile gz = gzopen(path, "rb");
	size_t cap = 4096, n = 0;
	char *buf;
	int r;

	if (!gz)
		return NULL;
	buf = malloc(cap + 1);
	assert_non_null(buf);
	while ((r = gzread(gz, buf + n, (unsigned)(cap - n))) > 0) {
		n += (size_t)r;
		if (n == cap) {
			cap *= 2;
			buf = realloc(buf, cap + 1);
			assert_non_null(buf);
		}
	}
	if (r < 0)
		fail_msg("gzread %s failed", path);
	gzclose(gz);
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

static bool is_gzip(const char *path)
{
	unsigned char m[2] = { 0 };
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return false;
	n = read(fd, m, 2);
	close(fd);
	return n == 2 && m[0] == 0x1f && m[1] == 0x8b;
}

static void make_line(char *buf, size_t len, int i)
{
	snprintf(buf, len, "{\"seq\":%d,\"pad\":\"xxxxxxxxxxxxxxxxxxxx\"}", i);
}

/* Parses the lines of a file's content, recording each seq in seen[]; checks order. */
static int count_lines(const char *content, int *seen, int nseen, int *last_seq, const char *file)
{
	const char *p = content;
	int lines = 0;

	while (*p) {
		const char *nl = strchr(p, '\n');
		int seq;

		if (!nl)
			fail_msg("%s: last line not terminated: \"%s\"", file, p);
		if (sscanf(p, "{\"seq\":%d,", &seq) != 1 || seq < 0 || seq >= nseen)
			fail_msg("%s: unexpected line \"%.*s\"", file, (int)(nl - p), p);
		if (seq <= *last_seq)
			fail_msg("%s: expected seq > %d, seen %d (out of order or duplicated)",
				 file, *last_seq, seq);
		*last_seq = seq;
		seen[seq]++;
		lines++;
		p = nl + 1;
	}
	return lines;
}

static void test_rotated_name_plan(void **state)
{
	char out[64];

	(void)state;
	assert_int_equal(sink_rotated_name("/v/alerts.jsonl", 1, true, out, sizeof(out)), 0);
	assert_string_equal(out, "/v/alerts.jsonl.1.gz");
	assert_int_equal(sink_rotated_name("/v/alerts.jsonl", 12, false, out, sizeof(out)), 0);
	assert_string_equal(out, "/v/alerts.jsonl.12");
	assert_int_equal(sink_rotated_name("/v/alerts.jsonl", 0, true, out, sizeof(out)), -EINVAL);
	assert_int_equal(sink_rotated_name("/v/alerts.jsonl", 1, true, out, 10), -ENAMETOOLONG);
}

static void test_open_write_counters(void **state)
{
	struct fixture *f = *state;
	struct sink_opts o = { .max_bytes = 0, .keep = 3, .compress = true, .mode = 0640 };
	struct sink *s = sink_open(f->dir, NAME, &o);
	json_t *obj = json_object();
	struct stat st;
	char *c;

	assert_non_null(s);
	assert_string_equal(sink_path(s), f->live);
	assert_int_equal(stat(f->live, &st), 0);
	if ((st.st_mode & 0777) != 0640)
		fail_msg("mode: expected 0640, seen %04o", st.st_mode & 0777);

	json_object_set_new(obj, "rule", json_string("exec-unknown"));
	json_object_set_new(obj, "n", json_integer(1));
	assert_int_equal(sink_write_json(s, obj), 0);
	assert_int_equal(sink_write_line(s, "plain", 5), 0);
	assert_int_equal(sink_write_line(s, "two\nlines", 9), -EINVAL);
	assert_int_equal(sink_lines(s), 2);
	assert_int_equal(sink_failures(s), 1);
	assert_int_equal(sink_rotations(s), 0);

	c = slurp(f->live, NULL);
	assert_non_null(c);
	assert_string_equal(c, "{\"rule\":\"exec-unknown\",\"n\":1}\nplain\n");
	free(c);
	json_decref(obj);
	sink_free(s);
	sink_free(NULL);
}

static void test_rotation_keep_and_gzip(void **state)
{
	struct fixture *f = *state;
	struct sink_opts o = { .max_bytes = 300, .keep = 3, .compress = true, .mode = 0640 };
	struct sink *s = sink_open(f->dir, NAME, &o);
	char line[128], p[PATH_MAX];
	int i, k;

	assert_non_null(s);
	for (i = 0; i < 100; i++) {
		make_line(line, sizeof(line), i);
		assert_int_equal(sink_write_line(s, line, strlen(line)), 0);
	}
	if (sink_rotations(s) < 10)
		fail_msg("expected >= 10 rotations for 100 lines of ~40 bytes at 300 bytes, seen %llu",
			 (unsigned long long)sink_rotations(s));
	for (k = 1; k <= 3; k++) {
		sink_rotated_name(f->live, k, true, p, sizeof(p));
		if (!exists(p))
			fail_msg("expected %s to exist, it does not", p);
		if (!is_gzip(p))
			fail_msg("expected %s to be gzip (magic 1f 8b), it is not", p);
		sink_rotated_name(f->live, k, false, p, sizeof(p));
		if (exists(p))
			fail_msg("expected no plain %s after compression, seen one", p);
	}
	sink_rotated_name(f->live, 4, true, p, sizeof(p));
	if (exists(p))
		fail_msg("keep=3: expected no %s, seen one", p);
	snprintf(p, sizeof(p), "%s.1.gz.tmp", f->live);
	if (exists(p))
		fail_msg("expected no leftover %s", p);

	/* What is kept is the newest lines, contiguous, ending with the last one. */
	{
		int seen[100] = { 0 }, last = -1, total = 0, first = -1;

		for (k = 3; k >= 1; k--) {
			char *c;

			sink_rotated_name(f->live, k, true, p, sizeof(p));
			c = slurp(p, NULL);
			assert_non_null(c);
			total += count_lines(c, seen, 100, &last, p);
			free(c);
		}
		{
			char *c = slurp(f->live, NULL);

			assert_non_null(c);
			total += count_lines(c, seen, 100, &last, f->live);
			free(c);
		}
		for (i = 0; i < 100 && first < 0; i++)
			if (seen[i])
				first = i;
		if (last != 99)
			fail_msg("expected the last kept line to be seq 99, seen %d", last);
		if (total != 100 - first)
			fail_msg("expected %d contiguous lines from seq %d, seen %d", 100 - first,
				 first, total);
	}
	sink_free(s);
}

/* Every seq 0..n-1 exactly once, in order, across name.rot(.gz) .. name.1(.gz) and the live
 * file; no file above max_bytes; mode 0600. */
static void check_all_lines(const struct fixture *f, int n, uint64_t rot, uint64_t max_bytes, bool gz)
{
	int *seen = calloc((size_t)n, sizeof(int));
	char p[PATH_MAX];
	int i, k, total = 0, last = -1;

	assert_non_null(seen);
	/* Oldest first: name.rot .. name.1, then the live file. */
	for (k = (int)rot; k >= 1; k--) {
		struct stat st;
		size_t len;
		char *c;

		sink_rotated_name(f->live, k, gz, p, sizeof(p));
		c = slurp(p, &len);
		if (!c)
			fail_msg("expected %s (rotation %d of %llu), missing", p, k,
				 (unsigned long long)rot);
		if (gz && !is_gzip(p))
			fail_msg("%s: expected gzip data, seen a plain file", p);
		if (len > max_bytes)
			fail_msg("%s: expected <= %llu bytes uncompressed, seen %zu", p,
				 (unsigned long long)max_bytes, len);
		total += count_lines(c, seen, n, &last, p);
		free(c);
		assert_int_equal(stat(p, &st), 0);
		if ((st.st_mode & 0777) != 0600)
			fail_msg("%s: mode expected 0600, seen %04o", p, st.st_mode & 0777);
	}
	{
		char *c = slurp(f->live, NULL);

		assert_non_null(c);
		total += count_lines(c, seen, n, &last, f->live);
		free(c);
	}
	if (total != n)
		fail_msg("expected %d lines across live and rotated files, seen %d", n, total);
	for (i = 0; i < n; i++)
		if (seen[i] != 1)
			fail_msg("seq %d: expected exactly once, seen %d times", i, seen[i]);
	free(seen);
}

static void test_no_loss_no_duplication(void **state)
{
	struct fixture *f = *state;
	enum { N = 1000 };
	struct sink_opts o = { .max_bytes = 512, .keep = 500, .compress = true, .mode = 0600 };
	struct sink *s = sink_open(f->dir, NAME, &o);
	char line[128];
	uint64_t rot;

	assert_non_null(s);
	for (int i = 0; i < N; i++) {
		make_line(line, sizeof(line), i);
		assert_int_equal(sink_write_line(s, line, strlen(line)), 0);
	}
	rot = sink_rotations(s);
	assert_true(rot > 0 && rot < 500);
	assert_int_equal(sink_lines(s), N);
	assert_int_equal(sink_failures(s), 0);
	check_all_lines(f, N, rot, o.max_bytes, true);
	sink_free(s);
}

/* Buffered lines reach the file only whole and only on a flush (or a full buffer, a
 * rotation, a reopen, sink_free); with async compression nothing is lost or doubled. */
static void test_buffered_async_no_loss(void **state)
{
	struct fixture *f = *state;
	enum { N = 3000 };
	struct sink_opts o = { .max_bytes = 2048, .keep = 1000, .compress = true, .compress_async = true,
			       .buffer_bytes = 700, .mode = 0600 };
	struct sink *s = sink_open(f->dir, NAME, &o);
	char line[128];
	struct stat st;
	uint64_t rot;

	assert_non_null(s);
	make_line(line, sizeof(line), 0);
	assert_int_equal(sink_write_line(s, line, strlen(line)), 0);
	assert_int_equal(stat(f->live, &st), 0);
	if (st.st_size != 0 || sink_lines(s) != 0)
		fail_msg("before a flush: expected 0 bytes and 0 lines written, seen %lld and %llu",
			 (long long)st.st_size, (unsigned long long)sink_lines(s));
	assert_int_equal(sink_flush(s), 0);
	assert_int_equal(stat(f->live, &st), 0);
	if ((size_t)st.st_size != strlen(line) + 1 || sink_lines(s) != 1)
		fail_msg("after a flush: expected %zu bytes and 1 line, seen %lld and %llu",
			 strlen(line) + 1, (long long)st.st_size, (unsigned long long)sink_lines(s));
	for (int i = 1; i < N; i++) {
		make_line(line, sizeof(line), i);
		assert_int_equal(sink_write_line(s, line, strlen(line)), 0);
		if (i % 7 == 0)
			assert_int_equal(sink_flush(s), 0);
	}
	assert_int_equal(sink_flush(s), 0);
	rot = sink_rotations(s);
	assert_true(rot > 10 && rot < 1000);
	assert_int_equal(sink_lines(s), N);
	assert_int_equal(sink_failures(s), 0);
	sink_free(s);   /* waits for the last compression */
	check_all_lines(f, N, rot, o.max_bytes, true);
}

/* A sink on /dev/full (every write fails with ENOSPC). The device is world-writable on
 * every Linux system: its absence fails the test rather than skipping it. */
static struct sink *open_dev_full(const struct sink_opts *o)
{
	struct sink *s;

	if (access("/dev/full", W_OK) != 0)
		fail_msg("/dev/full is not writable: %s", strerror(errno));
	s = sink_open("/dev", "full", o);
	assert_non_null(s);
	return s;
}

/* A failed flush counts each buffered line as a failure and drops the batch. */
static void test_buffered_failure_counted(void **state)
{
	struct sink_opts o = { .keep = 1, .mode = 0640, .buffer_bytes = 4096 };
	struct sink *s;
	int r;

	(void)state;
	s = open_dev_full(&o);
	for (int i = 0; i < 3; i++)
		assert_int_equal(sink_write_line(s, "x", 1), 0);
	r = sink_flush(s);
	if (r != -ENOSPC)
		fail_msg("flush to /dev/full: expected %d (-ENOSPC), seen %d", -ENOSPC, r);
	assert_int_equal(sink_failures(s), 3);
	assert_int_equal(sink_lines(s), 0);
	assert_int_equal(sink_flush(s), 0);   /* nothing left */
	sink_free(s);
}

static void test_rotation_uncompressed(void **state)
{
	struct fixture *f = *state;
	struct sink_opts o = { .max_bytes = 100, .keep = 2, .compress = false, .mode = 0640 };
	struct sink *s = sink_open(f->dir, NAME, &o);
	char line[128], p[PATH_MAX];
	int i;

	assert_non_null(s);
	for (i = 0; i < 20; i++) {
		make_line(line, sizeof(line), i);
		assert_int_equal(sink_write_line(s, line, strlen(line)), 0);
	}
	for (i = 1; i <= 2; i++) {
		sink_rotated_name(f->live, i, false, p, sizeof(p));
		if (!exists(p) || is_gzip(p))
			fail_msg("expected plain %s, seen %s", p, exists(p) ? "gzip" : "nothing");
	}
	sink_rotated_name(f->live, 3, false, p, sizeof(p));
	if (exists(p))
		fail_msg("keep=2: expected no %s, seen one", p);
	sink_free(s);
}

/* A plain name.1 left by a crash during compression must be shifted, never overwritten. */
static void test_rotation_keeps_crash_leftover(void **state)
{
	struct fixture *f = *state;
	struct sink_opts o = { .max_bytes = 60, .keep = 5, .compress = true, .mode = 0640 };
	struct sink *s;
	char p[PATH_MAX], line[128];
	char *c;
	FILE *fp;

	sink_rotated_name(f->live, 1, false, p, sizeof(p));
	fp = fopen(p, "w");
	assert_non_null(fp);
	fputs("leftover\n", fp);
	fclose(fp);

	s = sink_open(f->dir, NAME, &o);
	assert_non_null(s);
	make_line(line, sizeof(line), 0);
	assert_int_equal(sink_write_line(s, line, strlen(line)), 0);
	make_line(line, sizeof(line), 1);
	assert_int_equal(sink_write_line(s, line, strlen(line)), 0);
	assert_int_equal(sink_rotations(s), 1);

	sink_rotated_name(f->live, 2, false, p, sizeof(p));
	c = slurp(p, NULL);
	if (!c || strcmp(c, "leftover\n"))
		fail_msg("expected %s to hold \"leftover\\n\", seen %s", p, c ? c : "(missing)");
	free(c);
	sink_rotated_name(f->live, 1, true, p, sizeof(p));
	make_line(line, sizeof(line), 0);
	strcat(line, "\n");
	c = slurp(p, NULL);
	if (!c || strcmp(c, line))
		fail_msg("expected %s to hold %s, seen %s", p, line, c ? c : "(missing)");
	free(c);
	sink_free(s);
}

static void test_external_rename(void **state)
{
	struct fixture *f = *state;
	struct sink_opts o = { .max_bytes = 0, .keep = 3, .compress = true, .mode = 0640 };
	struct sink *s = sink_open(f->dir, NAME, &o);
	char moved[PATH_MAX];
	char *c;

	assert_non_null(s);
	assert_int_equal(sink_write_line(s, "before", 6), 0);
	assert_int_equal(sink_check_external(s), 0);

	snprintf(moved, sizeof(moved), "%s/alerts.jsonl-20261206", f->dir);
	assert_int_equal(rename(f->live, moved), 0);
	/* Until the check, lines still go to the moved file (logrotate's window). */
	assert_int_equal(sink_write_line(s, "window", 6), 0);
	assert_int_equal(sink_check_external(s), 1);
	if (!exists(f->live))
		fail_msg("expected %s recreated after sink_check_external, it is missing", f->live);
	assert_int_equal(sink_write_line(s, "after", 5), 0);
	assert_int_equal(sink_check_external(s), 0);

	c = slurp(moved, NULL);
	assert_non_null(c);
	if (strcmp(c, "before\nwindow\n"))
		fail_msg("moved file: expected \"before\\nwindow\\n\", seen \"%s\"", c);
	free(c);
	c = slurp(f->live, NULL);
	assert_non_null(c);
	if (strcmp(c, "after\n"))
		fail_msg("new live file: expected \"after\\n\", seen \"%s\"", c);
	free(c);
	unlink(moved);
	sink_free(s);
}

static void test_external_delete_and_replace(void **state)
{
	struct fixture *f = *state;
	struct sink_opts o = { .keep = 1, .mode = 0640 };
	struct sink *s = sink_open(f->dir, NAME, &o);
	char *c;
	FILE *fp;

	assert_non_null(s);
	assert_int_equal(sink_write_line(s, "a", 1), 0);
	assert_int_equal(unlink(f->live), 0);
	assert_int_equal(sink_check_external(s), 1);
	assert_int_equal(sink_write_line(s, "b", 1), 0);

	/* Replaced by another file of the same name (logrotate "create"). */
	assert_int_equal(unlink(f->live), 0);
	fp = fopen(f->live, "w");
	assert_non_null(fp);
	fclose(fp);
	assert_int_equal(sink_check_external(s), 1);
	assert_int_equal(sink_write_line(s, "c", 1), 0);
	c = slurp(f->live, NULL);
	assert_non_null(c);
	if (strcmp(c, "c\n"))
		fail_msg("expected \"c\\n\", seen \"%s\"", c);
	free(c);
	sink_free(s);
}

static void test_external_truncate(void **state)
{
	struct fixture *f = *state;
	struct sink_opts o = { .max_bytes = 40, .keep = 2, .compress = true, .mode = 0640 };
	struct sink *s = sink_open(f->dir, NAME, &o);
	char p[PATH_MAX];
	char *c;

	assert_non_null(s);
	assert_int_equal(sink_write_line(s, "0123456789", 10), 0);
	assert_int_equal(sink_write_line(s, "0123456789", 10), 0);
	assert_int_equal(sink_write_line(s, "0123456789", 10), 0);
	/* copytruncate */
	assert_int_equal(truncate(f->live, 0), 0);
	assert_int_equal(sink_check_external(s), 1);
	assert_int_equal(sink_check_external(s), 0);
	/* With the stale count, 33 + 11 > 40 would rotate a file that is now empty. */
	assert_int_equal(sink_write_line(s, "after-1234", 10), 0);
	assert_int_equal(sink_rotations(s), 0);
	c = slurp(f->live, NULL);
	assert_non_null(c);
	if (strcmp(c, "after-1234\n"))
		fail_msg("after truncation: expected \"after-1234\\n\" at offset 0, seen \"%s\"", c);
	free(c);
	sink_rotated_name(f->live, 1, true, p, sizeof(p));
	if (exists(p))
		fail_msg("expected no rotation (%s) after truncation, seen one", p);
	sink_free(s);
}

/* Rotation due while the live file was moved away: the line goes to a fresh live file. */
static void test_rotation_after_external_move(void **state)
{
	struct fixture *f = *state;
	struct sink_opts o = { .max_bytes = 30, .keep = 3, .compress = true, .mode = 0640 };
	struct sink *s = sink_open(f->dir, NAME, &o);
	char moved[PATH_MAX], p[PATH_MAX];
	char *c;

	assert_non_null(s);
	assert_int_equal(sink_write_line(s, "0123456789", 10), 0);
	assert_int_equal(sink_write_line(s, "0123456789", 10), 0);
	snprintf(moved, sizeof(moved), "%s/moved", f->dir);
	assert_int_equal(rename(f->live, moved), 0);
	/* 22 + 11 > 30: a rotation is due, but the file is not ours to rotate. */
	assert_int_equal(sink_write_line(s, "abcdefghij", 10), 0);
	c = slurp(f->live, NULL);
	if (!c || strcmp(c, "abcdefghij\n"))
		fail_msg("expected a fresh %s holding \"abcdefghij\\n\", seen %s", f->live,
			 c ? c : "(missing)");
	free(c);
	sink_rotated_name(f->live, 1, true, p, sizeof(p));
	if (exists(p))
		fail_msg("expected no %s (nothing of ours to rotate), seen one", p);
	c = slurp(moved, NULL);
	assert_non_null(c);
	assert_string_equal(c, "0123456789\n0123456789\n");
	free(c);
	sink_free(s);
}

static void test_reopen(void **state)
{
	struct fixture *f = *state;
	struct sink_opts o = { .keep = 1, .mode = 0640 };
	struct sink *s = sink_open(f->dir, NAME, &o);
	char moved[PATH_MAX];
	char *c;

	assert_non_null(s);
	assert_int_equal(sink_write_line(s, "one", 3), 0);
	snprintf(moved, sizeof(moved), "%s/old", f->dir);
	assert_int_equal(rename(f->live, moved), 0);
	assert_int_equal(sink_reopen(s), 0);
	assert_int_equal(sink_write_line(s, "two", 3), 0);
	c = slurp(f->live, NULL);
	assert_non_null(c);
	if (strcmp(c, "two\n"))
		fail_msg("after reopen: expected \"two\\n\", seen \"%s\"", c);
	free(c);
	sink_free(s);
}

static void test_write_failure_counted(void **state)
{
	struct sink_opts o = { .keep = 1, .mode = 0640 };
	struct sink *s;
	int r;

	(void)state;
	s = open_dev_full(&o);
	r = sink_write_line(s, "x", 1);
	if (r != -ENOSPC)
		fail_msg("write to /dev/full: expected %d (-ENOSPC), seen %d", -ENOSPC, r);
	assert_int_equal(sink_failures(s), 1);
	assert_int_equal(sink_lines(s), 0);
	sink_free(s);
}

static void test_open_errors(void **state)
{
	struct sink_opts o = { .keep = 1, .mode = 0640 };

	(void)state;
	errno = 0;
	assert_null(sink_open("/nonexistent-vigil-dir", NAME, &o));
	if (errno != ENOENT)
		fail_msg("expected errno ENOENT, seen %d (%s)", errno, strerror(errno));
	assert_null(sink_open("/tmp", "a/b", &o));
	assert_int_equal(errno, EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rotated_name_plan),
		cmocka_unit_test_setup_teardown(test_open_write_counters, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rotation_keep_and_gzip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_loss_no_duplication, setup, teardown),
		cmocka_unit_test_setup_teardown(test_buffered_async_no_loss, setup, teardown),
		cmocka_unit_test(test_buffered_failure_counted),
		cmocka_unit_test_setup_teardown(test_rotation_uncompressed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rotation_keeps_crash_leftover, setup, teardown),
		cmocka_unit_test_setup_teardown(test_external_rename, setup, teardown),
		cmocka_unit_test_setup_teardown(test_external_delete_and_replace, setup, teardown),
		cmocka_unit_test_setup_teardown(test_external_truncate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rotation_after_external_move, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen, setup, teardown),
		cmocka_unit_test(test_write_failure_counted),
		cmocka_unit_test(test_open_errors),
	};

	return cmocka_run_group_tests_name("sink", tests, NULL, NULL);
}
