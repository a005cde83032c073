/*
 * File record decoder: struct vigil_file (bpf/vigil_events.h) into the
 * "file" object of a telemetry record.  Paths are the kernel's bytes: they go
 * through jsonx_set_bytes() so any byte is escaped and recoverable.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "event.h"
#include "jsonx.h"

static const char *const op_names[VIGIL_FOP_MAX] = {
	[VIGIL_FOP_OPEN_WRITE]  = "open_write",
	[VIGIL_FOP_RENAME]      = "rename",
	[VIGIL_FOP_UNLINK]      = "unlink",
	[VIGIL_FOP_RMDIR]       = "rmdir",
	[VIGIL_FOP_LINK]        = "link",
	[VIGIL_FOP_SYMLINK]     = "symlink",
	[VIGIL_FOP_CHMOD]       = "chmod",
	[VIGIL_FOP_CHOWN]       = "chown",
	[VIGIL_FOP_TRUNCATE]    = "truncate",
	[VIGIL_FOP_MMAP_WRITE]  = "mmap_write",
	[VIGIL_FOP_MKDIR]       = "mkdir",
	[VIGIL_FOP_SETXATTR]    = "setxattr",
	[VIGIL_FOP_REMOVEXATTR] = "removexattr",
};

const char *event_file_op_name(unsigned op)
{
	return op < VIGIL_FOP_MAX && op_names[op] ? op_names[op] : "unknown";
}

static const char *file_type(uint32_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG:  return "file";
	case S_IFDIR:  return "dir";
	case S_IFLNK:  return "symlink";
	case S_IFCHR:  return "char";
	case S_IFBLK:  return "block";
	case S_IFIFO:  return "fifo";
	case S_IFSOCK: return "socket";
	default:       return "unknown";
	}
}

static json_t *octal(uint32_t v)
{
	char s[16];

	snprintf(s, sizeof(s), "%04o", v & 07777);
	return json_string(s);
}

/* Adds key (path bytes without the NUL) when n > 0; 0 or -ENOMEM. */
static int set_path(json_t *f, const char *key, const char *p, size_t n)
{
	return n ? jsonx_set_bytes(f, key, p, n - 1) : 0;
}

int event_file_to_json(const struct vigil_file *ev, size_t len, json_t *obj)
{
	const char *data;
	json_t *f;
	int r = -ENOMEM;

	if (len < sizeof(*ev) || ev->hdr.size > len || ev->hdr.size < sizeof(*ev))
		return -EINVAL;
	len = ev->hdr.size;
	if (ev->op == 0 || ev->op >= VIGIL_FOP_MAX || ev->path_len < 2)
		return -EINVAL;
	data = ev->data;
	if (event_check_str(ev, len, sizeof(*ev), ev->path_len) ||
	    event_check_str(ev, len, sizeof(*ev) + ev->path_len, ev->path2_len))
		return -EINVAL;
	/* no NUL inside a path: the kernel builds them from names that cannot hold one */
	if (memchr(data, 0, ev->path_len - 1))
		return -EINVAL;
	if (ev->path2_len && memchr(data + ev->path_len, 0, ev->path2_len - 1))
		return -EINVAL;

	f = json_object();
	if (!f)
		return -ENOMEM;
	if (json_object_set_new(f, "op", json_string(event_file_op_name(ev->op))) ||
	    set_path(f, "path", data, ev->path_len))
		goto out;
	if (ev->op == VIGIL_FOP_SETXATTR || ev->op == VIGIL_FOP_REMOVEXATTR) {
		if (set_path(f, "xattr", data + ev->path_len, ev->path2_len))
			goto out;
	} else if (set_path(f, "path2", data + ev->path_len, ev->path2_len)) {
		goto out;
	}
	if (json_object_set_new(f, "dev", json_integer((json_int_t)ev->dev)) ||
	    json_object_set_new(f, "ino", json_integer((json_int_t)ev->ino)) ||
	    json_object_set_new(f, "type", json_string(file_type(ev->mode))) ||
	    json_object_set_new(f, "mode", octal(ev->mode)) ||
	    json_object_set_new(f, "nlink", json_integer(ev->nlink)) ||
	    json_object_set_new(f, "ret", json_integer(ev->ret)))
		goto out;
	if ((ev->hdr.flags & VIGIL_F_FILE_REPLACED) &&
	    json_object_set_new(f, "old_ino", json_integer((json_int_t)ev->old_ino)))
		goto out;
	switch (ev->op) {
	case VIGIL_FOP_OPEN_WRITE:
		if (json_object_set_new(f, "open_flags", json_integer(ev->open_flags)))
			goto out;
		break;
	case VIGIL_FOP_CHMOD:
		if (json_object_set_new(f, "new_mode", octal(ev->uid_arg)))
			goto out;
		break;
	case VIGIL_FOP_CHOWN:
		/* (uid_t)-1 leaves the owner or group unchanged: no key */
		if (ev->uid_arg != UINT32_MAX &&
		    json_object_set_new(f, "new_uid", json_integer(ev->uid_arg)))
			goto out;
		if (ev->gid_arg != UINT32_MAX &&
		    json_object_set_new(f, "new_gid", json_integer(ev->gid_arg)))
			goto out;
		break;
	}
	if ((ev->hdr.flags & VIGIL_F_FILE_CREATED) && json_object_set_new(f, "created", json_true()))
		goto out;
	if ((ev->hdr.flags & VIGIL_F_FILE_TRUNC) && json_object_set_new(f, "truncated", json_true()))
		goto out;
	if ((ev->hdr.flags & VIGIL_F_FILE_PATH_TRUNC) &&
	    json_object_set_new(f, "path_truncated", json_true()))
		goto out;
	if (json_object_set_new(obj, "file", f))
		return -ENOMEM;
	return 0;
out:
	json_decref(f);
	return r;
}
