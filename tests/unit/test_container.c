/* Unit tests for container_from_cgroup(): real-world cgroup v2 paths (as read from
 * /proc/<pid>/cgroup "0::<path>" or the cgroup2 tree) from docker, containerd (cgroupfs and
 * systemd drivers), CRI-O, podman, kind and ECS, and paths that are not containers. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "container.h"

#define ID  "3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a"
#define ID2 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define UID "8e5e8c2c-6f3d-4b3a-9b7e-2a1f0c9d8e7b"
#define UIDU "8e5e8c2c_6f3d_4b3a_9b7e_2a1f0c9d8e7b"

struct sample {
	const char *name, *path;
	const char *id, *runtime, *pod_uid;   /* expected; id "" = not a container */
};

static const struct sample samples[] = {
	/* docker */
	{ "docker cgroupfs", "/docker/" ID, ID, "docker", "" },
	{ "docker systemd", "/system.slice/docker-" ID ".scope", ID, "docker", "" },
	{ "docker-in-docker nested", "/docker/" ID2 "/docker/" ID, ID, "docker", "" },
	/* containerd + kubelet, cgroupfs driver (qos classes) */
	{ "containerd cgroupfs besteffort", "/kubepods/besteffort/pod" UID "/" ID, ID, "containerd", UID },
	{ "containerd cgroupfs burstable", "/kubepods/burstable/pod" UID "/" ID, ID, "containerd", UID },
	{ "containerd cgroupfs guaranteed", "/kubepods/pod" UID "/" ID, ID, "containerd", UID },
	/* containerd + kubelet, systemd driver */
	{ "containerd systemd burstable",
	  "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UIDU ".slice/cri-containerd-" ID ".scope",
	  ID, "containerd", UID },
	{ "containerd systemd guaranteed",
	  "/kubepods.slice/kubepods-pod" UIDU ".slice/cri-containerd-" ID ".scope", ID, "containerd", UID },
	/* containerd under systemd with the runtime's own slice naming (k3s, some EKS AMIs) */
	{ "containerd service-nested",
	  "/system.slice/containerd.service/kubepods-burstable-pod" UIDU ".slice:cri-containerd:" ID,
	  ID, "containerd", UID },
	/* kind / nested kubelet: kubelet.slice prefix */
	{ "kind nested kubelet",
	  "/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/"
	  "kubelet-kubepods-besteffort-pod" UIDU ".slice/cri-containerd-" ID ".scope", ID, "containerd", UID },
	/* CRI-O */
	{ "cri-o systemd",
	  "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" UIDU ".slice/crio-" ID ".scope",
	  ID, "cri-o", UID },
	{ "cri-o cgroupfs", "/kubepods/besteffort/pod" UID "/crio-" ID, ID, "cri-o", UID },
	{ "cri-o conmon is not the container",
	  "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" UIDU ".slice/crio-conmon-" ID ".scope",
	  "", "", UID },
	/* a process in a sub-cgroup the container made (systemd inside, cgroup delegation) */
	{ "cri-o with init.scope inside",
	  "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UIDU ".slice/crio-" ID ".scope/init.scope",
	  ID, "cri-o", UID },
	/* podman */
	{ "podman rootful systemd", "/machine.slice/libpod-" ID ".scope", ID, "podman", "" },
	{ "podman rootful split (container sub-cgroup)", "/machine.slice/libpod-" ID ".scope/container", ID, "podman", "" },
	{ "podman rootless",
	  "/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" ID ".scope", ID, "podman", "" },
	{ "podman cgroupfs", "/libpod_parent/libpod-" ID, ID, "podman", "" },
	{ "podman conmon is not the container", "/machine.slice/libpod-conmon-" ID ".scope", "", "", "" },
	/* ECS (docker under /ecs/<task>) */
	{ "ecs task", "/ecs/5a0d5c6fe6e04a4e9e3a7b1a2f6c9d10/" ID, ID, "docker", "" },
	/* not containers */
	{ "host session", "/user.slice/user-1000.slice/session-3.scope", "", "", "" },
	{ "host service", "/system.slice/sshd.service", "", "", "" },
	{ "root", "/", "", "", "" },
	{ "empty", "", "", "", "" },
	{ "kubelet itself", "/system.slice/kubelet.service", "", "", "" },
	{ "pod slice without container", "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" UIDU ".slice",
	  "", "", UID },
	{ "63 hex digits", "/docker/" "3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4", "", "", "" },
	{ "65 hex digits", "/docker/" ID "a", "", "", "" },
	{ "uppercase hex is not an id", "/docker/3F4A5B6C7D8E9F0A1B2C3D4E5F6A7B8C9D0E1F2A3B4C5D6E7F8A9B0C1D2E3F4A", "", "", "" },
	{ "cgroup namespace view", "/../../kubepods-burstable-pod" UIDU ".slice/cri-containerd-" ID ".scope",
	  ID, "containerd", UID },
};

static void test_samples(void **state)
{
	int bad = 0;

	for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
		const struct sample *s = &samples[i];
		struct container_info ci;
		bool r = container_from_cgroup(s->path, &ci);

		if (r != (s->id[0] != 0) || strcmp(ci.id, s->id) || strcmp(ci.runtime, s->runtime) ||
		    strcmp(ci.pod_uid, s->pod_uid)) {
			fprintf(stderr, "%s: %s\n  expected found=%d id=%s runtime=%s pod_uid=%s\n"
				"  seen     found=%d id=%s runtime=%s pod_uid=%s\n", s->name, s->path,
				s->id[0] != 0, s->id, s->runtime, s->pod_uid, r, ci.id, ci.runtime, ci.pod_uid);
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

static void test_null_and_long(void **state)
{
	struct container_info ci;
	char big[8192];

	memset(&ci, 0x55, sizeof(ci));
	assert_false(container_from_cgroup(NULL, &ci));
	assert_string_equal(ci.id, "");
	/* a deep path of slashes and junk: bounded, no id */
	for (size_t i = 0; i < sizeof(big) - 1; i++)
		big[i] = i % 3 ? 'a' : '/';
	big[sizeof(big) - 1] = 0;
	assert_false(container_from_cgroup(big, &ci));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_samples),
		cmocka_unit_test(test_null_and_long),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
