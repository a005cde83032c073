/* Unit tests for FIM: policy section, spec matching, database (index, authenticated
 * storage, tampering), classification, scans. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "fim.h"
#include "policy.h"
#include "util.h"

static const char *good =
	"{\"version\": 1, \"fim\": {\"quiet_ms\": 200, \"max_files\": 100, \"watch\": [\n"
	"  {\"path\": \"/etc\", \"recursive\": false, \"severity\": \"low\"},\n"
	"  {\"path\": \"/etc/ssh\", \"severity\": \"high\", \"exclude\": [\"*.bak\", \"/etc/ssh/keys\"]},\n"
	"  {\"path\": \"/etc/cron.*\", \"attributes\": [\"sha256\", \"mode\"]}\n"
	"]}}";

static struct vigil_policy *load(const char *text, char *err, size_t errlen)
{
	struct vigil_policy *p = NULL;

	err[0] = 0;
	policy_load_string(text, "t.json", &p, err, errlen);
	return p;
}

static void test_policy_parse(void **state)
{
	char err[512];
	struct vigil_policy *p = load(good, err, sizeof(err));
	const struct fim_config *c;

	assert_non_null(p);
	c = fim_config_of(p);
	assert_true(c->enabled);
	assert_int_equal(c->quiet_ms, 200);
	assert_int_equal(c->nspecs, 3);
	assert_false(c->specs[0].recursive);
	assert_true(c->specs[1].recursive);
	assert_true(c->specs[2].glob);
	assert_int_equal(c->specs[2].attrs, FIM_A_SHA256 | FIM_A_MODE | FIM_A_TYPE);
	assert_int_equal(c->specs[0].severity, VIGIL_SEV_LOW);
	policy_free(p);
}

static void test_policy_errors(void **state)
{
	char err[512];
	struct vigil_policy *p;

	p = load("{\"version\": 1, \"fim\": {\"watch\": [{\"path\": \"/etc\",\n \"attributes\": [\"colour\"]}]}}",
		 err, sizeof(err));
	assert_null(p);
	assert_non_null(strstr(err, "t.json:2:"));
	assert_non_null(strstr(err, "unknown attribute \"colour\""));
	p = load("{\"version\": 1, \"fim\": {\"watch\": [{\"path\": \"etc\"}]}}", err, sizeof(err));
	assert_null(p);
	assert_non_null(strstr(err, "not an absolute path"));
	p = load("{\"version\": 1, \"fim\": {\"watch\": [{\"recursive\": true}]}}", err, sizeof(err));
	assert_null(p);
	assert_non_null(strstr(err, "missing required key \"path\""));
	p = load("{\"version\": 1, \"fim\": {\"bogus\": 1}}", err, sizeof(err));
	assert_null(p);
	assert_non_null(strstr(err, "unknown key"));
	/* absent section: disabled */
	p = load("{\"version\": 1}", err, sizeof(err));
	assert_non_null(p);
	assert_false(fim_config_of(p)->enabled);
	policy_free(p);
}

static void test_spec_match(void **state)
{
	char err[512];
	struct vigil_policy *p = load(good, err, sizeof(err));
	const struct fim_config *c = fim_config_of(p);
	struct policy_strv roots = { 0 };

	assert_int_equal(fim_spec_match(c, "/etc"), 0);
	assert_int_equal(fim_spec_match(c, "/etc/passwd"), 0);
	assert_int_equal(fim_spec_match(c, "/etc/default/grub"), -1);      /* not recursive */
	assert_int_equal(fim_spec_match(c, "/etc/ssh/sshd_config"), 1);     /* most specific */
	assert_int_equal(fim_spec_match(c, "/etc/ssh/sshd_config.d/x"), 1);
	assert_int_equal(fim_spec_match(c, "/etc/ssh/sshd_config.bak"), -1); /* excluded base name */
	assert_int_equal(fim_spec_match(c, "/etc/ssh/keys/k1"), -1);         /* excluded subtree */
	assert_int_equal(fim_spec_match(c, "/etc/cron.d/job"), 2);           /* under a glob match */
	assert_int_equal(fim_spec_match(c, "/etcetera"), -1);
	assert_int_equal(fim_watch_roots(p, NULL, &roots), 0);
	assert_int_equal(roots.n, 2);                                         /* /etc, /etc/ssh; the glob's root is /etc */
	assert_string_equal(roots.v[0], "/etc");
	assert_string_equal(roots.v[1], "/etc/ssh");
	policy_strv_free(&roots);
	policy_free(p);
}

static struct fim_entry mk(const char *path, uint64_t ino, uint32_t mode, uint8_t fill)
{
	struct fim_entry e = { .path = (char *)path, .ino = ino, .dev = 7, .mode = mode, .size = 3,
			       .flags = FIM_E_HASHED, .nlink = 1 };

	memset(e.sha, fill, sizeof(e.sha));
	return e;
}

static void test_db_index(void **state)
{
	struct fim_db *db = fim_db_new();
	char path[64];

	for (int i = 0; i < 5000; i++) {
		snprintf(path, sizeof(path), "/d/f%d", i);
		struct fim_entry e = mk(path, 1000 + i % 2500, S_IFREG | 0644, 1);
		assert_int_equal(fim_db_put(db, &e), 0);
	}
	assert_int_equal(fim_db_count(db), 5000);
	assert_non_null(fim_db_find(db, "/d/f4999"));
	assert_null(fim_db_find(db, "/d/f5000"));
	/* two names per inode: a hard link */
	assert_int_equal(fim_db_by_inode(db, 7, 1000, NULL, NULL), 2);
	assert_int_equal(fim_db_del(db, "/d/f0"), 0);
	assert_int_equal(fim_db_del(db, "/d/f0"), -ENOENT);
	assert_int_equal(fim_db_by_inode(db, 7, 1000, NULL, NULL), 1);
	/* replacing a name with another inode moves it in the inode index */
	struct fim_entry r = mk("/d/f1", 99999, S_IFREG | 0644, 2);
	assert_int_equal(fim_db_put(db, &r), 0);
	assert_int_equal(fim_db_count(db), 4999);
	assert_int_equal(fim_db_by_inode(db, 7, 99999, NULL, NULL), 1);
	assert_int_equal(fim_db_by_inode(db, 7, 1001, NULL, NULL), 1);
	assert_int_equal(fim_db_find(db, "/d/f1")->ino, 99999);
	fim_db_free(db);
}

static void test_classify(void **state)
{
	struct fim_entry a = mk("/x", 1, S_IFREG | 0644, 1), b = a;
	unsigned ch;

	assert_null(fim_classify(&a, &b, FIM_A_ALL, &ch));
	b.mode = S_IFREG | 04755;
	assert_string_equal(fim_classify(&a, &b, FIM_A_ALL, &ch), "metadata");
	assert_int_equal(ch, FIM_A_MODE);
	assert_null(fim_classify(&a, &b, FIM_A_SHA256, &ch));      /* mode does not count */
	b = a;
	memset(b.sha, 9, 32);
	assert_string_equal(fim_classify(&a, &b, FIM_A_ALL, &ch), "modified");
	b.ino = 2;
	assert_string_equal(fim_classify(&a, &b, FIM_A_ALL, &ch), "replaced");
	assert_string_equal(fim_classify(NULL, &b, FIM_A_ALL, &ch), "added");
	assert_string_equal(fim_classify(&a, NULL, FIM_A_ALL, &ch), "deleted");
	b = a;
	b.flags = FIM_E_ABSENT;
	assert_string_equal(fim_classify(&a, &b, FIM_A_ALL, &ch), "deleted");
	b = a;
	b.link = "t";
	assert_string_equal(fim_classify(&a, &b, FIM_A_ALL, &ch), "modified");
	assert_int_equal(ch, FIM_A_LINK);
}

struct tmp {
	char dir[64];
};

static int setup(void **state)
{
	struct tmp *t = calloc(1, sizeof(*t));

	strcpy(t->dir, "/tmp/vigil-test-fim.XXXXXX");
	if (!mkdtemp(t->dir))
		return -1;
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct tmp *t = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->dir);
	if (system(cmd)) {
		/* best effort */
	}
	free(t);
	return 0;
}

static void test_db_storage(void **state)
{
	struct tmp *t = *state;
	char path[128], keyp[128];
	uint8_t key[32], key2[32];
	struct fim_db *db = fim_db_new(), *back = NULL;
	struct fim_entry e = mk("/odd\nname\xff", 5, S_IFLNK | 0777, 3);
	struct stat st;
	size_t len;
	char *data;

	snprintf(path, sizeof(path), "%s/fim.db", t->dir);
	snprintf(keyp, sizeof(keyp), "%s/fim.key", t->dir);
	assert_int_equal(fim_key_load(keyp, false, key), -ENOENT);
	assert_int_equal(fim_key_load(keyp, true, key), 0);
	assert_int_equal(stat(keyp, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(fim_key_load(keyp, false, key2), 0);
	assert_memory_equal(key, key2, 32);

	e.link = "target";
	e.xattrs = "security.capability=AQAAAg==";
	assert_int_equal(fim_db_put(db, &e), 0);
	fim_host_identity(fim_db_meta(db)->machine_id, fim_db_meta(db)->hostname);
	assert_int_equal(fim_db_save(db, path, key), 0);
	assert_int_equal(fim_db_load(path, key, &back), 0);
	assert_int_equal(fim_db_count(back), 1);
	struct fim_entry *g = fim_db_find(back, "/odd\nname\xff");
	assert_non_null(g);
	assert_string_equal(g->link, "target");
	assert_string_equal(g->xattrs, "security.capability=AQAAAg==");
	assert_memory_equal(g->sha, e.sha, 32);
	fim_db_free(back);

	/* wrong key */
	key2[0] ^= 1;
	assert_int_equal(fim_db_load(path, key2, &back), -EBADMSG);
	assert_null(back);
	/* one flipped bit anywhere */
	data = util_read_file(path, 1 << 20, &len);
	assert_non_null(data);
	for (size_t off = 0; off < len; off += len / 7 + 1) {
		data[off] ^= 0x10;
		assert_int_equal(util_write_file_atomic(path, data, len, 0600), 0);
		assert_int_equal(fim_db_load(path, key, &back), -EBADMSG);
		data[off] ^= 0x10;
	}
	/* truncated */
	assert_int_equal(util_write_file_atomic(path, data, len - 1, 0600), 0);
	assert_int_equal(fim_db_load(path, key, &back), -EBADMSG);
	/* another host */
	snprintf(fim_db_meta(db)->hostname, sizeof(fim_db_meta(db)->hostname), "elsewhere");
	assert_int_equal(fim_db_save(db, path, key), 0);
	assert_int_equal(fim_db_load(path, key, &back), -EXDEV);
	free(data);
	fim_db_free(db);
}

static void put_file(const char *dir, const char *name, const char *data)
{
	char p[256];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs(data, f);
	fclose(f);
}

static void test_scan(void **state)
{
	struct tmp *t = *state;
	char text[512], err[512], p[256];
	struct vigil_policy *pol;
	struct fim_db *db = NULL;
	struct fim_scan_stats st;
	json_t *warn = json_array();
	struct fim_entry *e;

	snprintf(p, sizeof(p), "%s/sub", t->dir);
	mkdir(p, 0755);
	put_file(t->dir, "abc", "abc");
	put_file(t->dir, "skip.tmp", "x");
	put_file(t->dir, "sub/deep", "d");
	snprintf(p, sizeof(p), "%s/unreadable", t->dir);
	mkfifo(p, 0600);        /* not a regular file: recorded, never opened */
	snprintf(text, sizeof(text), "{\"version\": 1, \"fim\": {\"max_files\": 100, \"watch\": ["
		 "{\"path\": \"%s\", \"exclude\": [\"*.tmp\"]}, {\"path\": \"%s/missing\"}]}}", t->dir, t->dir);
	pol = load(text, err, sizeof(err));
	assert_non_null(pol);
	assert_int_equal(fim_scan(fim_config_of(pol), NULL, 0, NULL, 2, NULL, &db, warn, &st), 0);
	snprintf(p, sizeof(p), "%s/abc", t->dir);
	e = fim_db_find(db, p);
	assert_non_null(e);
	assert_true(e->flags & FIM_E_HASHED);
	/* SHA-256("abc"), FIPS 180-2 appendix B.1 */
	char hex[65];
	util_hex(e->sha, 32, hex);
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	snprintf(p, sizeof(p), "%s/skip.tmp", t->dir);
	assert_null(fim_db_find(db, p));
	snprintf(p, sizeof(p), "%s/sub/deep", t->dir);
	assert_non_null(fim_db_find(db, p));
	assert_int_equal(fim_db_count(db), 5);     /* dir, abc, sub, sub/deep, fifo */
	assert_true(json_array_size(warn) >= 1);
	assert_non_null(strstr(json_string_value(json_array_get(warn, 0)), "watched when it appears"));
	fim_db_free(db);

	/* the max_files bound stops the scan with a warning */
	snprintf(text, sizeof(text), "{\"version\": 1, \"fim\": {\"max_files\": 2, \"watch\": [{\"path\": \"%s\"}]}}",
		 t->dir);
	policy_free(pol);
	pol = load(text, err, sizeof(err));
	json_array_clear(warn);
	assert_int_equal(fim_scan(fim_config_of(pol), NULL, 0, NULL, 1, NULL, &db, warn, &st), 0);
	assert_int_equal(fim_db_count(db), 2);
	assert_int_equal(st.skipped_max, 1);
	assert_non_null(strstr(json_string_value(json_array_get(warn, 0)), "max_files"));
	fim_db_free(db);

	/* specs that match nothing: an empty baseline, not an error (the name array stays
	 * NULL: the sanitizer build checks it is never passed to qsort) */
	snprintf(text, sizeof(text), "{\"version\": 1, \"fim\": {\"watch\": [{\"path\": \"%s/missing\"}]}}",
		 t->dir);
	policy_free(pol);
	pol = load(text, err, sizeof(err));
	assert_non_null(pol);
	assert_int_equal(fim_scan(fim_config_of(pol), NULL, 0, NULL, 1, NULL, &db, warn, &st), 0);
	assert_int_equal(fim_db_count(db), 0);
	fim_db_free(db);
	json_decref(warn);
	policy_free(pol);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_policy_parse),
		cmocka_unit_test(test_policy_errors),
		cmocka_unit_test(test_spec_match),
		cmocka_unit_test(test_db_index),
		cmocka_unit_test(test_classify),
		cmocka_unit_test_setup_teardown(test_db_storage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scan, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
