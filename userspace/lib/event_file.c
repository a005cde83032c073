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
	[VIGIL_FOP_IO_URING]    = "io_uring",
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

int event_file_check(const struct vigil_file *ev, size_t len)
{
	const char *data;

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
	return 0;
}

/* "key":"path" (bytes without the NUL) when n > 0. */
static void buf_path(struct jsonx_buf *b, const char *key, const char *p, size_t n)
{
	if (n)
		jsonx_buf_key_bytes(b, false, key, p, n - 1);
}

static void buf_octal(struct jsonx_buf *b, const char *key, uint32_t v)
{
	char s[16];
	int n = snprintf(s, sizeof(s), "\"%04o\"", v & 07777);

	jsonx_buf_key(b, false, key);
	jsonx_buf_raw(b, s, (size_t)n);
}

static void buf_int(struct jsonx_buf *b, const char *key, long long v)
{
	jsonx_buf_key(b, false, key);
	jsonx_buf_int(b, v);
}

/* Mirrors event_file_to_json() field for field: keep the two in step (test_event checks it). */
int event_file_write(const struct vigil_file *ev, size_t len, struct jsonx_buf *b)
{
	const char *data = ev->data;
	int r = event_file_check(ev, len);

	if (r)
		return r;
	jsonx_buf_raw(b, "{\"op\":\"", 7);
	jsonx_buf_raw(b, event_file_op_name(ev->op), strlen(event_file_op_name(ev->op)));
	jsonx_buf_raw(b, "\"", 1);
	buf_path(b, "path", data, ev->path_len);
	buf_path(b, ev->op == VIGIL_FOP_SETXATTR || ev->op == VIGIL_FOP_REMOVEXATTR ? "xattr" : "path2",
		 data + ev->path_len, ev->path2_len);
	buf_int(b, "dev", (long long)(json_int_t)ev->dev);
	buf_int(b, "ino", (long long)(json_int_t)ev->ino);
	jsonx_buf_key(b, false, "type");
	jsonx_buf_str(b, file_type(ev->mode), strlen(file_type(ev->mode)), NULL);
	buf_octal(b, "mode", ev->mode);
	buf_int(b, "nlink", ev->nlink);
	buf_int(b, "ret", ev->ret);
	if (ev->hdr.flags & VIGIL_F_FILE_REPLACED)
		buf_int(b, "old_ino", (long long)(json_int_t)ev->old_ino);
	switch (ev->op) {
	case VIGIL_FOP_OPEN_WRITE:
		buf_int(b, "open_flags", ev->open_flags);
		break;
	case VIGIL_FOP_CHMOD:
		buf_octal(b, "new_mode", ev->uid_arg);
		break;
	case VIGIL_FOP_CHOWN:
		if (ev->uid_arg != UINT32_MAX)
			buf_int(b, "new_uid", ev->uid_arg);
		if (ev->gid_arg != UINT32_MAX)
			buf_int(b, "new_gid", ev->gid_arg);
		break;
	}
	if (ev->hdr.flags & VIGIL_F_FILE_CREATED)
		jsonx_buf_raw(b, ",\"created\":true", 15);
	if (ev->hdr.flags & VIGIL_F_FILE_TRUNC)
		jsonx_buf_raw(b, ",\"truncated\":true", 17);
	if (ev->hdr.flags & VIGIL_F_FILE_PATH_TRUNC)
		jsonx_buf_raw(b, ",\"path_truncated\":true", 22);
	jsonx_buf_raw(b, "}", 1);
	return b->err;
}

int event_file_to_json(const struct vigil_file *ev, size_t len, json_t *obj)
{
	const char *data;
	json_t *f;
	int r = -ENOMEM;

	if (event_file_check(ev, len))
		return -EINVAL;
	data = ev->data;

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
