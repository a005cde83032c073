/*
 * Host root: where vigild finds the host's filesystem.  On a host it is "/";
 * in a DaemonSet the host's / is mounted at e.g. /host, so the host's /proc is
 * /host/proc and a host file /etc/passwd is read as /host/etc/passwd while
 * alerts keep naming /etc/passwd (the host's path).
 *
 * hostroot_paths() is the single list of every host path the agent reads or
 * writes; `vigild --print-host-paths` prints it and the deploy tests check that
 * the DaemonSet mounts each one.
 */
#ifndef VIGIL_HOSTROOT_H
#define VIGIL_HOSTROOT_H

#include <stddef.h>
#include <stdbool.h>
#include <jansson.h>

/* Checks that root exists and is a directory.  0, -ENOENT or -ENOTDIR (or another -errno
 * from stat()); err gets a one-line reason naming root. */
int hostroot_check(const char *root, char *err, size_t errlen);

/* True when root is NULL, "" or "/" (vigild sees the host directly). */
bool hostroot_is_host(const char *root);

/* Where the host path host_path ("/proc") is readable: root + host_path ("/host/proc"),
 * or host_path itself when hostroot_is_host(root).  0 or -ENAMETOOLONG. */
int hostroot_join(char *out, size_t len, const char *root, const char *host_path);

/* Finds the host's cgroup v2 mount below root (candidates from paths.h) into out.
 * 0, -ENOENT when none below root is cgroup2, -ENAMETOOLONG. */
int hostroot_cgroup2(const char *root, char *out, size_t len);

struct hostroot_dirs {
	const char *root;        /* host root, "/" by default */
	const char *proc_root;   /* NULL: derived from root */
	const char *log_dir, *state_dir, *run_dir;
};

/* The host paths the agent uses, as a new JSON array of objects
 * {host, path, access ("ro"|"rw"), propagation ("none"|"bidirectional"), purpose}:
 * host is the path on the node, path where vigild opens it.  NULL on ENOMEM. */
json_t *hostroot_paths(const struct hostroot_dirs *d);

#endif
