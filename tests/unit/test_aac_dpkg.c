/*
 * Unit tests for the dpkg index (aac_dpkg.c): every answer of aac_dpkg_owner (package and
 * md5, or none) must equal what a plain path-keyed reference gives, built the way the
 * loader is specified (status filters installed packages; every .md5sums first, then every
 * .list, in directory order; "pkg:arch" is "pkg"; /usr/share and /usr/include left out; the
 * first package that lists a path owns it; a later md5sums line of that same package
 * replaces the md5; /bin, /sbin, /lib* and /usr/... are tried as usr-merge aliases).
 * Fixtures: a generated admin dir with many overlapping packages, the same without a
 * status file, and this machine's /var/lib/dpkg when it has one.  No root.
 */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "aac.h"

/* ---- the reference: path strings, sorted, no hashing ---- */

struct rent {
	char *path;
	size_t seq;
	int pkg;
	uint8_t md5[16];
	int has_md5;
};

struct ref {
	struct rent *e;
	size_t n, cap;
	char **names;
	size_t nnames;
};

static int rent_cmp(const void *a, const void *b)
{
	const struct rent *x = a, *y = b;
	int c = strcmp(x->path, y->path);

	return c ? c : (x->seq < y->seq ? -1 : x->seq > y->seq);
}

static void ref_add(struct ref *r, const char *path, int pkg, const uint8_t *md5)
{
	if (!strncmp(path, "/usr/share/", 11) || !strncmp(path, "/usr/include/", 13))
		return;
	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 1024;
		r->e = realloc(r->e, r->cap * sizeof(*r->e));
		assert_non_null(r->e);
	}
	r->e[r->n] = (struct rent){ .path = strdup(path), .seq = r->n, .pkg = pkg, .has_md5 = md5 != NULL };
	if (md5)
		memcpy(r->e[r->n].md5, md5, 16);
	r->n++;
}

static int hexv(int c)
{
	return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

static int ishex(int c)
{
	return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}

/* Installed package names of <admin>/status, NULL-terminated; NULL when unreadable. */
static char **ref_installed(const char *admin)
{
	char p[4200], line[4096], pkg[256] = "";
	char **v = calloc(1, sizeof(*v));
	size_t n = 0;
	FILE *f;

	snprintf(p, sizeof(p), "%s/status", admin);
	if (!(f = fopen(p, "r"))) {
		free(v);
		return NULL;
	}
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = 0;
		if (!line[0])
			pkg[0] = 0;
		else if (!strncmp(line, "Package: ", 9))
			snprintf(pkg, sizeof(pkg), "%.255s", line + 9);
		else if (!strncmp(line, "Status: ", 8) && pkg[0] && strstr(line, " installed") &&
			 !strstr(line, "not-installed") && !strstr(line, "config-files")) {
			v = realloc(v, (n + 2) * sizeof(*v));
			v[n++] = strdup(pkg);
			v[n] = NULL;
		}
	}
	fclose(f);
	return v;
}

static void ref_load(struct ref *r, const char *admin)
{
	char info[4096], **inst = ref_installed(admin);
	DIR *dir;
	struct dirent *de;

	memset(r, 0, sizeof(*r));
	snprintf(info, sizeof(info), "%s/info", admin);
	assert_non_null(dir = opendir(info));
	for (int pass = 0; pass < 2; pass++) {
		const char *ext = pass ? ".list" : ".md5sums";
		size_t el = strlen(ext);

		rewinddir(dir);
		while ((de = readdir(dir))) {
			size_t l = strlen(de->d_name);
			char name[256], p[4400], line[8192];
			int idx = -1, ok = 0;
			FILE *f;

			if (l <= el || l - el >= sizeof(name) || strcmp(de->d_name + l - el, ext))
				continue;
			memcpy(name, de->d_name, l - el);
			name[l - el] = 0;
			name[strcspn(name, ":")] = 0;
			for (size_t i = 0; inst && inst[i]; i++)
				ok |= !strcmp(inst[i], name);
			if (inst && !ok)
				continue;
			for (size_t i = 0; i < r->nnames; i++)
				if (!strcmp(r->names[i], name))
					idx = (int)i;
			if (idx < 0) {
				r->names = realloc(r->names, (r->nnames + 1) * sizeof(*r->names));
				r->names[r->nnames] = strdup(name);
				idx = (int)r->nnames++;
			}
			snprintf(p, sizeof(p), "%s/%s", info, de->d_name);
			if (!(f = fopen(p, "r")))
				continue;
			while (fgets(line, sizeof(line), f)) {
				size_t n = strlen(line);
				while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
					line[--n] = 0;
				if (pass == 0) {
					uint8_t md5[16];
					char abs[sizeof(line) + 2];
					int good = n > 34 && line[32] == ' ';
					for (int i = 0; good && i < 32; i++)
						good = ishex(line[i]);
					if (!good)
						continue;
					for (int i = 0; i < 16; i++)
						md5[i] = (uint8_t)(hexv(line[2 * i]) << 4 | hexv(line[2 * i + 1]));
					const char *q = line + 33;
					while (*q == ' ' || *q == '*')
						q++;
					snprintf(abs, sizeof(abs), "/%s", q);
					if (strlen(abs) > 1 && strlen(abs) < 4096)
						ref_add(r, abs, idx, md5);
				} else if (line[0] == '/') {
					ref_add(r, line, idx, NULL);
				}
			}
			fclose(f);
		}
	}
	closedir(dir);
	for (size_t i = 0; inst && inst[i]; i++)
		free(inst[i]);
	free(inst);
	/* resolve duplicates: first owner wins, its later md5sums lines update the md5 */
	qsort(r->e, r->n, sizeof(*r->e), rent_cmp);
	size_t k = 0;
	for (size_t i = 0; i < r->n;) {
		size_t j = i + 1;
		for (; j < r->n && !strcmp(r->e[j].path, r->e[i].path); j++) {
			if (r->e[j].has_md5 && r->e[j].pkg == r->e[i].pkg)
				memcpy(r->e[i].md5, r->e[j].md5, 16);
			free(r->e[j].path);
		}
		r->e[k++] = r->e[i];
		i = j;
	}
	r->n = k;
}

static const struct rent *ref_find(const struct ref *r, const char *path)
{
	struct rent key = { .path = (char *)path, .seq = 0 };
	size_t lo = 0, hi = r->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(r->e[mid].path, key.path);
		if (!c)
			return &r->e[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static const char *ref_owner(const struct ref *r, const char *path, uint8_t md5[16])
{
	static const char *const merged[] = { "/bin/", "/sbin/", "/lib/", "/lib32/", "/lib64/", "/libx32/", NULL };
	const struct rent *e = ref_find(r, path);
	char alt[4200];

	if (!e && !strncmp(path, "/usr/", 5)) {
		for (int i = 0; merged[i]; i++)
			if (!strncmp(path + 4, merged[i], strlen(merged[i]))) {
				e = ref_find(r, path + 4);
				break;
			}
	} else if (!e) {
		for (int i = 0; merged[i]; i++)
			if (!strncmp(path, merged[i], strlen(merged[i]))) {
				snprintf(alt, sizeof(alt), "/usr%s", path);
				e = ref_find(r, alt);
				break;
			}
	}
	if (!e)
		return NULL;
	memcpy(md5, e->md5, 16);
	return r->names[e->pkg];
}

static void ref_free(struct ref *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->e[i].path);
	for (size_t i = 0; i < r->nnames; i++)
		free(r->names[i]);
	free(r->e);
	free(r->names);
}

/* Compares one answer; returns 1 on a mismatch (printed). */
static int compare(const struct aac_dpkg *d, const struct ref *r, const char *path)
{
	uint8_t m1[16] = { 0 }, m2[16] = { 0 };
	const char *a = aac_dpkg_owner(d, path, m1), *b = ref_owner(r, path, m2);

	if ((!a) != (!b) || (a && strcmp(a, b)) || (a && memcmp(m1, m2, 16))) {
		print_error("%s: expected owner %s, seen %s (md5 %s)\n", path, b ? b : "(none)", a ? a : "(none)",
			    a && b && !strcmp(a, b) ? "differs" : "-");
		return 1;
	}
	return 0;
}

/* Queries every path of the reference, its usr-merge alias, its /usr/share twin and a
 * missing neighbour; returns the number of mismatches and counts the owned answers. */
static size_t compare_all(const struct aac_dpkg *d, const struct ref *r, size_t *owned)
{
	size_t bad = 0;
	uint8_t m[16];

	for (size_t i = 0; i < r->n && bad < 20; i++) {
		const char *p = r->e[i].path;
		char q[4300];

		*owned += ref_owner(r, p, m) != NULL;
		bad += compare(d, r, p);
		snprintf(q, sizeof(q), !strncmp(p, "/usr/", 5) ? "%s" : "/usr%s", !strncmp(p, "/usr/", 5) ? p + 4 : p);
		bad += compare(d, r, q);
		snprintf(q, sizeof(q), "%s.missing", p);
		bad += compare(d, r, q);
		snprintf(q, sizeof(q), "/usr/share%s", p);
		bad += compare(d, r, q);
	}
	return bad;
}

/* ---- the generated fixture ---- */

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng % n);
}

#define NPKG   80
#define NPATHS 1500

static void write_fixture(const char *dir, bool with_status)
{
	static const char *const pre[] = { "/usr/bin", "/bin", "/usr/sbin", "/sbin", "/usr/lib/x86_64-linux-gnu",
					   "/lib/x86_64-linux-gnu", "/lib64", "/usr/lib", "/etc", "/usr/share/doc",
					   "/usr/include", "/opt/app", "/usr/libexec" };
	char p[512], paths[NPATHS][128];
	FILE *st = NULL;

	snprintf(p, sizeof(p), "%s/info", dir);
	assert_int_equal(mkdir(p, 0755), 0);
	if (with_status) {
		snprintf(p, sizeof(p), "%s/status", dir);
		assert_non_null(st = fopen(p, "w"));
	}
	for (int i = 0; i < NPATHS; i++)
		snprintf(paths[i], sizeof(paths[i]), "%s/f%d", pre[rnd(sizeof(pre) / sizeof(pre[0]))], i);
	for (int k = 0; k < NPKG; k++) {
		/* pkgN; every 7th a second arch of pkg(N-1); some removed, some half-installed */
		char name[64], file[600];
		int base = k % 7 == 6 ? k - 1 : k;
		const char *arch = k % 7 == 6 ? ":i386" : k % 3 ? ":amd64" : "";
		FILE *md, *ls;

		snprintf(name, sizeof(name), "pkg%d", base);
		if (st && base == k)
			fprintf(st, "Package: %s\nStatus: %s\nVersion: 1\n\n", name,
				k % 11 == 5 ? "deinstall ok config-files" : k % 13 == 4 ? "purge ok not-installed" :
				k % 17 == 3 ? "install reinstreq half-installed" : "install ok installed");
		snprintf(file, sizeof(file), "%s/info/%s%s.md5sums", dir, name, arch);
		assert_non_null(md = fopen(file, "w"));
		snprintf(file, sizeof(file), "%s/info/%s%s.list", dir, name, arch);
		assert_non_null(ls = fopen(file, "w"));
		fprintf(ls, "/.\n/usr\n/usr/bin\n");
		for (int j = 0; j < 60; j++) {
			const char *path = paths[rnd(NPATHS)];
			char hex[33];
			for (int b = 0; b < 32; b++)
				hex[b] = "0123456789abcdefABCDEF"[rnd(22)];
			hex[32] = 0;
			fprintf(ls, "%s%s\n", path, rnd(10) ? "" : "\r");
			switch (rnd(10)) {
			case 0: break;                                          /* no md5 */
			case 1: fprintf(md, "%s *%s\n", hex, path + 1); break;  /* binary-mode marker */
			case 2: fprintf(md, "%.31sx  %s\n", hex, path + 1); break;  /* not hex: skipped */
			case 3: fprintf(md, "%s  %s\n", hex, path + 1);         /* listed twice: last md5 */
				hex[0] = hex[0] == 'a' ? 'b' : 'a';
				/* fall through */
			default: fprintf(md, "%s  %s\n", hex, path + 1); break;
			}
		}
		fclose(md);
		fclose(ls);
	}
	if (st)
		fclose(st);
}

static void rm_rf(const char *dir)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static void check_dir(const char *admin, size_t min_owned)
{
	struct aac_dpkg *d = aac_dpkg_load(admin);
	struct ref r;
	size_t owned = 0, bad;

	assert_non_null(d);
	ref_load(&r, admin);
	if (aac_dpkg_packages(d) != r.nnames || aac_dpkg_files(d) != r.n) {
		print_error("%s: expected %zu packages, %zu files; seen %zu, %zu\n", admin, r.nnames, r.n,
			    aac_dpkg_packages(d), aac_dpkg_files(d));
		fail();
	}
	bad = compare_all(d, &r, &owned);
	if (bad || owned < min_owned) {
		print_error("%s: %zu answers differ from the reference; %zu owned paths (expected >= %zu)\n",
			    admin, bad, owned, min_owned);
		fail();
	}
	ref_free(&r);
	aac_dpkg_free(d);
}

static void test_generated_fixture(void **state)
{
	char dir[] = "/tmp/test_aac_dpkgXXXXXX", nostatus[] = "/tmp/test_aac_dpkgXXXXXX";

	assert_non_null(mkdtemp(dir));
	assert_non_null(mkdtemp(nostatus));
	write_fixture(dir, true);
	rng = 0x9e3779b97f4a7c15ull;
	write_fixture(nostatus, false);
	check_dir(dir, 500);
	check_dir(nostatus, 500);      /* no status file: every package counts as installed */
	rm_rf(dir);
	rm_rf(nostatus);
}

static void test_empty_and_missing(void **state)
{
	char dir[] = "/tmp/test_aac_dpkgXXXXXX", p[300];
	uint8_t md5[16];
	struct aac_dpkg *d;

	assert_non_null(mkdtemp(dir));
	snprintf(p, sizeof(p), "%s/info", dir);
	assert_int_equal(mkdir(p, 0755), 0);
	assert_non_null(d = aac_dpkg_load(dir));
	assert_int_equal(aac_dpkg_files(d), 0);
	assert_null(aac_dpkg_owner(d, "/usr/bin/ls", md5));
	assert_null(aac_dpkg_owner(d, "/bin/ls", md5));
	aac_dpkg_free(d);
	rm_rf(dir);
	errno = 0;
	assert_null(aac_dpkg_load("/nonexistent/dpkg"));
	assert_int_equal(errno, ENOENT);
}

static void test_host_database(void **state)
{
	struct stat st;

	/* Debian hosts (this project's machines and CI) have one; elsewhere the fixture above stands */
	if (stat("/var/lib/dpkg/status", &st) || stat("/var/lib/dpkg/info", &st))
		return;
	check_dir("/var/lib/dpkg", 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_generated_fixture),
		cmocka_unit_test(test_empty_and_missing),
		cmocka_unit_test(test_host_database),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
