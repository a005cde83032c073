/* Every default path vigil uses, in one place (as fapolicyd does). */
#ifndef VIGIL_PATHS_H
#define VIGIL_PATHS_H

#define VIGIL_DEFAULT_POLICY    "/etc/vigil/policy.json"
#define VIGIL_DEFAULT_LOG_DIR   "/var/log/vigil"
#define VIGIL_DEFAULT_STATE_DIR "/var/lib/vigil"
#define VIGIL_DEFAULT_RUN_DIR   "/run/vigil"
/* `make run` keeps everything under ./var; the CLI looks there after the defaults. */
#define VIGIL_LOCAL_LOG_DIR     "var/log"
#define VIGIL_LOCAL_RUN_DIR     "var/run"
#define VIGIL_PIN_DIR           "/sys/fs/bpf/vigil"
#define VIGIL_BPFFS             "/sys/fs/bpf"
#define VIGIL_TRACEFS           "/sys/kernel/tracing"
#define VIGIL_BTF_VMLINUX       "/sys/kernel/btf/vmlinux"
#define VIGIL_SOCK_NAME         "vigild.sock"
#define VIGIL_PID_NAME          "vigild.pid"
#define VIGIL_ALERTS_NAME       "alerts.jsonl"
#define VIGIL_EVENTS_NAME       "events.jsonl"
/* cgroup v2 mount points tried in order (hybrid hosts mount it at .../unified). */
#define VIGIL_CGROUP2_PATHS     { "/sys/fs/cgroup/unified", "/sys/fs/cgroup", NULL }

#endif
