/* From C: a busy container's metrics (CPU time grows, memory in use), a
 * memory limit set with ctrd_task_update seen in the metrics and in the
 * cgroup, bad input; then, given the paths of the `stats` and `update`
 * examples, runs them against the same container and checks what they do.
 *
 *   test_metrics [STATS UPDATE] */
#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

/* The number at `path` in `json` (as examples-c/stats.c: each `"name":`
 * searched after the previous one); exits the test when there is none. */
static uint64_t number(const char *json, const char *const *path) {
  const char *at = json;
  char key[64];
  for (const char *const *p = path; *p != NULL; p++) {
    snprintf(key, sizeof key, "\"%s", *p);
    at = strstr(at, key);
    if (at == NULL) {
      fprintf(stderr, "no %s in %s\n", *p, json);
      exit(1);
    }
    at += strlen(key);
  }
  char *end = NULL;
  uint64_t n = strtoull(at, &end, 10);
  CHECK(end != at);
  return n;
}

static int v1(const char *json) {
  return strstr(json, "\"type\":\"io.containerd.cgroups.v1.Metrics\"") != NULL;
}

static uint64_t cpu_ns(const char *json) {
  if (v1(json)) return number(json, (const char *const[]){"cpu\":{", "usage\":{", "total\":", NULL});
  return 1000 * number(json, (const char *const[]){"cpu\":{", "usageUsec\":", NULL});
}

static uint64_t memory_usage(const char *json) {
  if (v1(json))
    return number(json, (const char *const[]){"memory\":{", "usage\":{", "usage\":", NULL});
  return number(json, (const char *const[]){"memory\":{", "usage\":", NULL});
}

static uint64_t memory_limit(const char *json) {
  if (v1(json))
    return number(json, (const char *const[]){"memory\":{", "usage\":{", "limit\":", NULL});
  return number(json, (const char *const[]){"memory\":{", "usageLimit\":", NULL});
}

static char *metrics(ctrd_task *task) {
  char *json = NULL;
  CHECK(ctrd_task_metrics_json(task, &json) == CTRD_OK);
  CHECK(json != NULL);
  return json;
}

static void pause_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

int main(int argc, char **argv) {
  const char *image = "docker.io/library/ctrd-test:latest";
  const char *ns = getenv("CONTAINERD_NAMESPACE");
  if (ns == NULL || *ns == '\0') ns = "default";
  char id[64];
  snprintf(id, sizeof id, "metrics-%ld", (long)getpid());

  ctrd_client *client = NULL;
  CHECK(ctrd_client_connect(NULL, NULL, &client) == CTRD_OK);
  const char *busy[] = {"sh", "-c", "while :; do :; done", NULL};
  char *spec = NULL;
  CHECK(ctrd_spec_generate(client, id, image, busy, &spec) == CTRD_OK);
  CHECK(ctrd_snapshot_prepare_from_image(client, image, NULL, id) == CTRD_OK);
  ctrd_container_opts opts = {.struct_size = sizeof(ctrd_container_opts), .id = id, .spec_json = spec, .snapshot_key = id};
  ctrd_container *container = NULL;
  CHECK(ctrd_container_create(client, &opts, &container) == CTRD_OK);
  ctrd_task *task = NULL;
  CHECK(ctrd_container_new_task(container, NULL, &task) == CTRD_OK);
  CHECK(ctrd_task_start(task) == CTRD_OK);

  /* Bad input. */
  char *json = NULL;
  CHECK_STATUS(ctrd_task_metrics_json(NULL, &json), CTRD_ERR_INVALID_ARGUMENT, "task is NULL");
  CHECK_STATUS(ctrd_task_metrics_json(task, NULL), CTRD_ERR_INVALID_ARGUMENT, "json is NULL");
  CHECK(json == NULL);
  CHECK_STATUS(ctrd_task_update(NULL, "{}"), CTRD_ERR_INVALID_ARGUMENT, "task is NULL");
  CHECK_STATUS(ctrd_task_update(task, NULL), CTRD_ERR_INVALID_ARGUMENT,
               "resources_json is NULL");
  CHECK_STATUS(ctrd_task_update(task, "{\"memory\":{"), CTRD_ERR_INVALID_ARGUMENT,
               "not valid JSON");
  CHECK_STATUS(ctrd_task_update(task, "{\"memory\":{\"limit\":\"64M\"}}"),
               CTRD_ERR_INVALID_ARGUMENT, "not an OCI LinuxResources");
  CHECK_STATUS(ctrd_task_update(task, "{\"mem\":{}}"), CTRD_ERR_INVALID_ARGUMENT,
               "member \"mem\"");

  /* A busy loop: CPU time grows, memory is in use. */
  pause_ms(300);
  char *first = metrics(task);
  pause_ms(500);
  char *second = metrics(task);
  uint64_t cpu1 = cpu_ns(first), cpu2 = cpu_ns(second);
  printf("cpu %" PRIu64 " -> %" PRIu64 " ns, memory %" PRIu64 " bytes\n", cpu1, cpu2,
         memory_usage(second));
  CHECK(cpu2 >= cpu1 + 100000000u); /* > 100 ms of a core in 500 ms */
  CHECK(memory_usage(second) > 0);
  ctrd_string_free(first);
  ctrd_string_free(second);

  /* A memory limit, seen in the metrics and (cgroup v1) in the cgroup. */
  const uint64_t limit = 64u << 20;
  CHECK(ctrd_task_update(task, "{\"memory\":{\"limit\":67108864}}") == CTRD_OK);
  json = metrics(task);
  CHECK(memory_limit(json) == limit);
  int on_v1 = v1(json);
  ctrd_string_free(json);
  if (on_v1) {
    char path[256];
    snprintf(path, sizeof path, "/sys/fs/cgroup/memory/%s/%s/memory.limit_in_bytes", ns, id);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    unsigned long long in_cgroup = 0;
    CHECK(fscanf(f, "%llu", &in_cgroup) == 1);
    fclose(f);
    CHECK(in_cgroup == limit);
  }

  /* The examples, against this container. */
  if (argc == 3) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s %s 50331648", argv[2], id);
    CHECK(system(cmd) == 0);
    json = metrics(task);
    CHECK(memory_limit(json) == 48u << 20);
    ctrd_string_free(json);
    snprintf(cmd, sizeof cmd, "%s %s 0", argv[2], id);
    CHECK(system(cmd) != 0); /* refused: usage */

    snprintf(cmd, sizeof cmd, "%s %s", argv[1], id);
    FILE *p = popen(cmd, "r");
    CHECK(p != NULL);
    char out[4096];
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    CHECK(pclose(p) == 0);
    fputs(out, stdout);
    CHECK(strstr(out, "memory.limit_bytes") != NULL);
    CHECK(strstr(out, " 50331648\n") != NULL);
    CHECK(strstr(out, "cpu.usage_") != NULL);
    CHECK(strstr(out, "pids.current") != NULL);
    snprintf(cmd, sizeof cmd, "%s no-such-container 2>/dev/null", argv[1]);
    CHECK(system(cmd) != 0);
  }

  CHECK(ctrd_task_delete(task, CTRD_TASK_DELETE_FORCE, NULL) == CTRD_OK);
  /* A task that is gone has no metrics. */
  json = NULL;
  CHECK_STATUS(ctrd_task_metrics_json(task, &json), CTRD_ERR_NOT_FOUND, id);
  CHECK(json == NULL);
  ctrd_task_free(task);
  CHECK(ctrd_container_delete(container, 0) == CTRD_OK);
  ctrd_container_free(container);
  ctrd_string_free(spec);
  ctrd_client_free(client);
  puts("metrics: ok");
  return 0;
}
