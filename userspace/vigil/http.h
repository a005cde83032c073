/* The CLI's HTTP client (libcurl): JSON requests to vigil-scored with a bearer token. */
#ifndef VIGIL_CLI_HTTP_H
#define VIGIL_CLI_HTTP_H

#include <stddef.h>
#include <jansson.h>

/*
 * The bearer token: the first word of file (--token-file), else of $VIGIL_TOKEN_FILE's file,
 * else $VIGIL_TOKEN itself.  Returns 0 with *token a malloc'd string the caller frees (NULL when
 * none is configured), or -errno (*token NULL) after printing "Error: cannot read token file ..."
 * to stderr.
 */
int cli_http_token(const char *file, char **token);

/*
 * base followed by "?k=v&k=v" for each i < n whose vals[i] is not NULL, values URL-escaped
 * (RFC 3986), written into buf[0..len).  Returns 0, -ENAMETOOLONG when it does not fit, or -ENOMEM.
 */
int cli_http_path(char *buf, size_t len, const char *base, const char *const *keys, const char *const *vals,
		  size_t n);

/*
 * One request: method (GET, POST, PATCH...) to server + path with "Authorization: Bearer token"
 * (empty when token is NULL) and, when body is not NULL, body as the JSON request body.  Connect
 * timeout 5 s, whole request 30 s, http/https only, reply at most 64 MiB.
 * Returns 0 once the service answered, whatever the status: *status is the HTTP status and *reply
 * the reply body parsed as JSON (new reference the caller decrefs; NULL when it is empty or not
 * JSON).  Returns -ETIMEDOUT, -ECONNREFUSED or -EIO when no answer arrived, -ENOMEM when the
 * request could not be built (*reply NULL either way), after printing "Error: URL: reason"
 * (libcurl's reason) to stderr.
 */
int cli_http_json(const char *server, const char *token, const char *method, const char *path, const json_t *body,
		  long *status, json_t **reply);

/* The service's reason for a refused request: reply's "error" string, else "unexpected reply".
 * Borrowed: valid while reply is. */
const char *cli_http_reason(const json_t *reply);

#endif
