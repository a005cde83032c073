/*
 * Container identity from a cgroup v2 path (DESIGN.md: "Container id is
 * derived from the cgroup path").  Recognised layouts: docker (cgroupfs and
 * systemd drivers), containerd/CRI (kubepods, cgroupfs and systemd), CRI-O,
 * podman.  Pure string logic, no I/O.
 */
#ifndef VIGIL_CONTAINER_H
#define VIGIL_CONTAINER_H

#include <stdbool.h>

struct container_info {
	char id[65];          /* 64 lowercase hex digits, "" when not a container */
	char runtime[16];     /* "docker", "containerd", "cri-o", "podman", "" */
	char pod_uid[37];     /* Kubernetes pod uid with dashes, "" when unknown */
};

/* Parses path (e.g. "/kubepods.slice/.../cri-containerd-<id>.scope").  Returns true when a
 * container id was found; out is always initialised. */
bool container_from_cgroup(const char *path, struct container_info *out);

#endif
