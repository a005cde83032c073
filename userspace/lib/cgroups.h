/*
 * cgroup v2 id -> path.  The id bpf_get_current_cgroup_id() reports is the
 * inode number of the cgroup's directory in cgroupfs v2, so the map is built
 * by walking the cgroup2 mount (bounded), and refreshed on a miss at most once
 * per second.
 */
#ifndef VIGIL_CGROUPS_H
#define VIGIL_CGROUPS_H

#include <stdint.h>
#include <stddef.h>

struct cgroups;

/* root: the cgroup2 mount point, or NULL to find one (paths.h).  NULL on failure (errno). */
struct cgroups *cgroups_new(const char *root);
void cgroups_free(struct cgroups *c);
/* Path of cgroup id relative to the cgroup2 root ("/kubepods/..."), owned by the cache,
 * or NULL when unknown. */
const char *cgroups_path(struct cgroups *c, uint64_t id);
/* The cgroup2 mount in use. */
const char *cgroups_root(const struct cgroups *c);

#endif
