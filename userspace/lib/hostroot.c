/* Host root and the list of host paths.  See hostroot.h. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <linux/magic.h>

#include "hostroot.h"
#include "paths.h"

int hostroot_check(const char *root, char *err, size_t errlen)
{
	struct stat st;

	if (!root || !*root) {
		snprintf(err, errlen, "host root is empty");
		return -EINVAL;
	}
	if (stat(root, &st)) {
		int e = errno;
		snprintf(err, errlen, "host root %s: %s", root, strerror(e));
		return -e;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "host root %s is not a directory", root);
		return -ENOTDIR;
	}
	return 0;
}

bool hostroot_is_host(const char *root)
{
	if (!root)
		return true;
	while (*root == '/')
		root++;
	return !*root;
}

int hostroot_join(char *out, size_t len, const char *root, const char *host_path)
{
	size_t n;
	int r;

	if (hostroot_is_host(root)) {
		r = snprintf(out, len, "%s", host_path);
	} else {
		n = strlen(root);
		while (n > 1 && root[n - 1] == '/')
			n--;
		r = snprintf(out, len, "%.*s%s%s", (int)n, root, host_path[0] == '/' ? "" : "/",
			     strcmp(host_path, "/") ? host_path : "");
	}
	return r < 0 || (size_t)r >= len ? -ENAMETOOLONG : 0;
}

int hostroot_cgroup2(const char *root, char *out, size_t len)
{
	static const char *const cand[] = VIGIL_CGROUP2_PATHS;
	struct statfs sf;

	for (int i = 0; cand[i]; i++) {
		if (hostroot_join(out, len, root, cand[i]))
			return -ENAMETOOLONG;
		if (statfs(out, &sf) == 0 && sf.f_type == CGROUP2_SUPER_MAGIC)
			return 0;
	}
	out[0] = 0;
	return -ENOENT;
}

static int add(json_t *arr, const char *host, const char *path, const char *access,
	       const char *prop, const char *purpose)
{
	return json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s, s:s}", "host", host, "path", path,
						     "access", access, "propagation", prop, "purpose", purpose));
}

json_t *hostroot_paths(const struct hostroot_dirs *d)
{
	/* read below the host root */
	static const struct { const char *host, *purpose; } below[] = {
		{ "/proc", "process table seeding, executables to hash, sockets" },
		{ "/sys/fs/cgroup", "cgroup id to path: container ids" },
		{ "/var/log/pods", "pod metadata when the Kubernetes API is unreachable" },
		{ "/var/log/containers", "container names for the pod log fallback" },
	};
	/* kernel interfaces used at their own path (bpffs must be the host's, shared) */
	static const struct { const char *path, *access, *prop, *purpose; } kern[] = {
		{ VIGIL_BPFFS, "rw", "bidirectional", "pinned maps and links under " VIGIL_PIN_DIR " (kept across restarts)" },
		{ "/sys/kernel/btf", "ro", "none", "kernel BTF for CO-RE relocations" },
		{ VIGIL_TRACEFS, "ro", "none", "tracepoint ids" },
		{ "/sys/kernel/security", "ro", "none", "active LSMs (BPF LSM probe)" },
	};
	const char *root = d->root ? d->root : "/";
	json_t *arr = json_array();
	char buf[PATH_MAX];
	int r = 0;

	if (!arr)
		return NULL;
	for (size_t i = 0; i < sizeof(below) / sizeof(below[0]); i++) {
		if (!strcmp(below[i].host, "/proc") && d->proc_root)
			snprintf(buf, sizeof(buf), "%s", d->proc_root);
		else if (hostroot_join(buf, sizeof(buf), root, below[i].host))
			continue;
		r |= add(arr, below[i].host, buf, "ro", "none", below[i].purpose);
	}
	if (!hostroot_is_host(root))
		r |= add(arr, "/", root, "ro", "none", "host files: integrity monitoring, executables to hash");
	for (size_t i = 0; i < sizeof(kern) / sizeof(kern[0]); i++)
		r |= add(arr, kern[i].path, kern[i].path, kern[i].access, kern[i].prop, kern[i].purpose);
	r |= add(arr, d->log_dir, d->log_dir, "rw", "none", "alerts.jsonl and events.jsonl (tail them on the node)");
	r |= add(arr, d->state_dir, d->state_dir, "rw", "none", "persistent state: baselines, databases, spool");
	r |= add(arr, d->run_dir, d->run_dir, "rw", "none", "pid file and control socket (vigil status on the node)");
	if (r) {
		json_decref(arr);
		return NULL;
	}
	return arr;
}
