/* Container identity from cgroup paths.  See container.h. */
#include <ctype.h>
#include <string.h>
#include <stdio.h>

#include "container.h"

static bool is_hex64(const char *s, size_t n)
{
	if (n != 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i]))
			return false;
	return true;
}

/* Pod uid from a component "pod<uid>" or "kubepods-<qos>-pod<uid_with_underscores>.slice". */
static void parse_pod(const char *comp, size_t n, struct container_info *out)
{
	const char *p = NULL;

	for (size_t i = 0; i + 3 < n; i++) {
		if (!memcmp(comp + i, "pod", 3) && (i == 0 || comp[i - 1] == '-')) {
			p = comp + i + 3;
		}
	}
	if (!p)
		return;
	size_t len = comp + n - p;
	if (len > 6 && !memcmp(p + len - 6, ".slice", 6))
		len -= 6;
	if (len != 36)
		return;
	for (size_t i = 0; i < 36; i++) {
		char c = p[i] == '_' ? '-' : p[i];
		if (!(isxdigit((unsigned char)c) || c == '-'))
			return;
		out->pod_uid[i] = tolower((unsigned char)c);
	}
	out->pod_uid[36] = 0;
}

/* "<parent>:<prefix>:<id>" component; true when it named a container. */
static bool parse_colon(const char *s, size_t n, struct container_info *out)
{
	static const struct { const char *prefix, *runtime; } rt[] = {
		{ "cri-containerd", "containerd" }, { "crio", "cri-o" }, { "docker", "docker" },
		{ "libpod", "podman" },
	};
	const char *a = memchr(s, ':', n), *b = a ? memchr(a + 1, ':', s + n - a - 1) : NULL;

	if (!b || !is_hex64(b + 1, s + n - b - 1))
		return false;
	memcpy(out->id, b + 1, 64);
	out->id[64] = 0;
	for (size_t i = 0; i < sizeof(rt) / sizeof(rt[0]); i++)
		if ((size_t)(b - a - 1) == strlen(rt[i].prefix) && !memcmp(a + 1, rt[i].prefix, b - a - 1))
			snprintf(out->runtime, sizeof(out->runtime), "%s", rt[i].runtime);
	return true;
}

bool container_from_cgroup(const char *path, struct container_info *out)
{
	static const struct { const char *prefix; const char *runtime; } pfx[] = {
		{ "docker-", "docker" },
		{ "cri-containerd-", "containerd" },
		{ "crio-", "cri-o" },
		{ "libpod-", "podman" },
		{ "", NULL },    /* bare id: runtime from the parents */
	};
	const char *s = path, *e;
	bool kube = false, docker = false, podman = false;

	memset(out, 0, sizeof(*out));
	if (!path)
		return false;
	while (*s) {
		while (*s == '/')
			s++;
		if (!*s)
			break;
		e = strchr(s, '/');
		if (!e)
			e = s + strlen(s);
		size_t n = e - s;

		/* "kubepods...", and "kubelet-kubepods..." under kind's kubelet.slice */
		if (memmem(s, n, "kubepods", 8))
			kube = true;
		if ((n == 6 && !memcmp(s, "docker", 6)) || (n == 3 && !memcmp(s, "ecs", 3)))
			docker = true;
		if (n >= 13 && !memcmp(s, "libpod_parent", 13))
			podman = true;
		const char *colon = memchr(s, ':', n);
		if (kube)
			parse_pod(s, colon ? (size_t)(colon - s) : n, out);
		/* "<slice>:<runtime>:<id>": the systemd cgroup driver's cgroupsPath notation, seen
		 * as a literal directory when the runtime's own cgroup nests the pods (k3s) */
		if (colon && parse_colon(s, n, out))
			break;

		/* conmon scopes hold the monitor, not the container */
		if (!(n > 12 && !memcmp(s, "crio-conmon-", 12))) {
			for (size_t i = 0; i < sizeof(pfx) / sizeof(pfx[0]); i++) {
				size_t pl = strlen(pfx[i].prefix);
				size_t idn = n;

				if (n < pl + 64 || memcmp(s, pfx[i].prefix, pl))
					continue;
				if (idn > 6 && !memcmp(s + n - 6, ".scope", 6))
					idn -= 6;
				if (!is_hex64(s + pl, idn - pl))
					continue;
				memcpy(out->id, s + pl, 64);
				out->id[64] = 0;
				if (pfx[i].runtime)
					snprintf(out->runtime, sizeof(out->runtime), "%s", pfx[i].runtime);
				else if (docker)
					snprintf(out->runtime, sizeof(out->runtime), "docker");
				else if (podman)
					snprintf(out->runtime, sizeof(out->runtime), "podman");
				else if (kube)
					snprintf(out->runtime, sizeof(out->runtime), "containerd");
				break;
			}
		}
		s = e;
	}
	return out->id[0] != 0;
}
