/* Completion-queue benchmark (not a test: figures, run by
 * scripts/bench-queue.sh, which compares them with containerd's Go client):
 * COUNT lifecycles of `true` at once, against the daemon named by
 * $CONTAINERD_ADDRESS in $CONTAINERD_NAMESPACE, and what a queued call adds
 * to one call.
 *
 *   queue_bench --mode queue|threads|version [--count N] [--image IMAGE]
 *               [--n N] [--warmup N] [--depth N]
 *
 *   queue    one thread on a ctrd_queue (epoll on its descriptor) runs COUNT
 *            lifecycles at once: snapshot prepare, create, new task, start,
 *            wait, delete task, delete container (the spec is made without
 *            a call: no image config, args `true`)
 *   threads  COUNT threads each run one lifecycle with the blocking calls
 *   version  --n server-version calls one after the other, blocking and
 *            through the queue (submit, epoll_wait, take); then through the
 *            queue with --depth of them in flight
 *
 * Output (one machine-readable line per figure):
 *   run=queue count=100 wall_ms=... max_threads=... hwm_kib=... rss_kib=...
 *   op=version_blocking n=... median_us=... p99_us=... ops_s=...
 *   op=version_queued n=... median_us=... p99_us=... ops_s=...
 *   op=version_pipelined n=... depth=... ops_s=...
 * max_threads: the most threads the process had, read from /proc/self/status
 * after every completion (queue) or every 2 ms by the main thread
 * (threads); hwm_kib: VmHWM (the peak RSS) at the end. Exits non-zero on
 * any failure. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "containerd_c.h"

#define TRY(call)                                                                    \
  do {                                                                               \
    ctrd_status s_ = (call);                                                         \
    if (s_ != CTRD_OK) {                                                             \
      fprintf(stderr, "queue_bench: %s: %s: %s\n", #call, ctrd_status_name(s_),      \
              ctrd_last_error());                                                    \
      exit(1);                                                                       \
    }                                                                                \
  } while (0)

static const char *image = "docker.io/library/ctrd-test:latest";
static ctrd_client *client;
static long max_threads;

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* A field of /proc/self/status ("Threads:", "VmHWM:", ...). */
static long status_field(const char *name) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long v = -1;
  size_t n = strlen(name);
  while (f && fgets(line, sizeof line, f))
    if (strncmp(line, name, n) == 0) v = strtol(line + n, NULL, 10);
  if (f) fclose(f);
  return v;
}

static void sample_threads(void) {
  long t = status_field("Threads:");
  if (t > max_threads) max_threads = t;
}

static char *spec_for(const char *id) {
  const char *args[] = {"true", NULL};
  char *spec = NULL;
  TRY(ctrd_spec_generate(client, id, NULL, args, &spec));
  return spec;
}

/* ---- queue: one thread, one epoll -------------------------------------- */

enum step { PREPARE, CREATE, NEW_TASK, WAIT, START, DELETE_TASK, DELETE, STEPS };

typedef struct {
  char id[64];
  char *spec;
  ctrd_container *k;
  ctrd_task *t;
  int open; /* operations of it in flight */
  int started, exited;
  int done;
} life;

static ctrd_queue *queue;

static void submit(life *l, size_t n, enum step st) {
  uint64_t tag = (uint64_t)n * STEPS + st;
  switch (st) {
    case PREPARE: TRY(ctrd_snapshot_prepare_from_image_submit(client, image, NULL, l->id, queue, tag)); break;
    case CREATE: {
      ctrd_container_opts o = ctrd_container_opts_default();
      o.id = l->id;
      o.spec_json = l->spec;
      o.image = image;
      o.snapshot_key = l->id;
      TRY(ctrd_container_create_submit(client, &o, queue, tag));
      break;
    }
    case NEW_TASK: TRY(ctrd_container_new_task_submit(l->k, NULL, queue, tag)); break;
    case WAIT: TRY(ctrd_task_wait_submit(l->t, queue, tag)); break;
    case START: TRY(ctrd_task_start_submit(l->t, queue, tag)); break;
    case DELETE_TASK: TRY(ctrd_task_delete_submit(l->t, 0, queue, tag)); break;
    case DELETE: TRY(ctrd_container_delete_submit(l->k, 0, queue, tag)); break;
    case STEPS: break;
  }
  l->open++;
}

static void run_queue(size_t count) {
  TRY(ctrd_queue_new(&queue));
  int ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event ev = {.events = EPOLLIN};
  if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, ctrd_queue_fd(queue), &ev) != 0) {
    perror("queue_bench: epoll");
    exit(1);
  }
  life *lives = calloc(count, sizeof *lives);
  for (size_t i = 0; i < count; i++) {
    snprintf(lives[i].id, sizeof lives[i].id, "qb-%ld-%zu", (long)getpid(), i);
    lives[i].spec = spec_for(lives[i].id);
  }
  sample_threads();
  double start = now_us();
  for (size_t i = 0; i < count; i++) submit(&lives[i], i, PREPARE);
  size_t finished = 0;
  while (finished < count) {
    struct epoll_event got;
    if (epoll_wait(ep, &got, 1, -1) < 0) continue;
    ctrd_completion c;
    while (ctrd_queue_next(queue, 0, &c) == CTRD_OK) {
      size_t n = (size_t)(c.tag / STEPS);
      enum step st = (enum step)(c.tag % STEPS);
      life *l = &lives[n];
      l->open--;
      if (c.status != CTRD_OK) {
        fprintf(stderr, "queue_bench: %s: step %d: %s\n", l->id, (int)st, c.error);
        exit(1);
      }
      switch (st) {
        case PREPARE: submit(l, n, CREATE); break;
        case CREATE: l->k = c.container; submit(l, n, NEW_TASK); break;
        case NEW_TASK:
          l->t = c.task;
          submit(l, n, WAIT);
          submit(l, n, START);
          break;
        case WAIT:
          if (c.exit_status != 0) {
            fprintf(stderr, "queue_bench: %s exited with %u\n", l->id, c.exit_status);
            exit(1);
          }
          l->exited = 1;
          /* The exit can come before the start's answer: the task goes
           * once both came (the daemon's start reads the task's state after
           * starting it). */
          if (l->started) submit(l, n, DELETE_TASK);
          break;
        case START:
          l->started = 1;
          if (l->exited) submit(l, n, DELETE_TASK);
          break;
        case DELETE_TASK: submit(l, n, DELETE); break;
        case DELETE:
          l->done = 1;
          finished++;
          break;
        case STEPS: break;
      }
      sample_threads();
    }
  }
  double wall = now_us() - start;
  sample_threads();
  printf("run=queue count=%zu wall_ms=%.1f max_threads=%ld hwm_kib=%ld rss_kib=%ld\n", count, wall / 1000,
         max_threads, status_field("VmHWM:"), status_field("VmRSS:"));
  for (size_t i = 0; i < count; i++) {
    ctrd_task_free(lives[i].t);
    ctrd_container_free(lives[i].k);
    ctrd_string_free(lives[i].spec);
  }
  free(lives);
  close(ep);
  ctrd_queue_free(queue);
}

/* ---- threads: the blocking calls, a thread per lifecycle ---------------- */

static void *one_life(void *arg) {
  life *l = arg;
  TRY(ctrd_snapshot_prepare_from_image(client, image, NULL, l->id));
  ctrd_container_opts o = ctrd_container_opts_default();
  o.id = l->id;
  o.spec_json = l->spec;
  o.image = image;
  o.snapshot_key = l->id;
  TRY(ctrd_container_create(client, &o, &l->k));
  TRY(ctrd_container_new_task(l->k, NULL, &l->t));
  TRY(ctrd_task_start(l->t));
  uint32_t code = 1;
  TRY(ctrd_task_wait(l->t, -1, &code));
  if (code != 0) {
    fprintf(stderr, "queue_bench: %s exited with %u\n", l->id, code);
    exit(1);
  }
  TRY(ctrd_task_delete(l->t, 0, NULL));
  TRY(ctrd_container_delete(l->k, 0));
  __atomic_store_n(&l->done, 1, __ATOMIC_RELEASE);
  return NULL;
}

static void run_threads(size_t count) {
  life *lives = calloc(count, sizeof *lives);
  pthread_t *threads = calloc(count, sizeof *threads);
  for (size_t i = 0; i < count; i++) {
    snprintf(lives[i].id, sizeof lives[i].id, "qt-%ld-%zu", (long)getpid(), i);
    lives[i].spec = spec_for(lives[i].id);
  }
  sample_threads();
  double start = now_us();
  for (size_t i = 0; i < count; i++)
    if (pthread_create(&threads[i], NULL, one_life, &lives[i]) != 0) {
      perror("queue_bench: pthread_create");
      exit(1);
    }
  size_t finished = 0;
  while (finished < count) {
    sample_threads();
    struct timespec pause = {0, 2000000};
    nanosleep(&pause, NULL);
    finished = 0;
    for (size_t i = 0; i < count; i++) finished += (size_t)__atomic_load_n(&lives[i].done, __ATOMIC_ACQUIRE);
  }
  double wall = now_us() - start;
  for (size_t i = 0; i < count; i++) pthread_join(threads[i], NULL);
  printf("run=threads count=%zu wall_ms=%.1f max_threads=%ld hwm_kib=%ld rss_kib=%ld\n", count, wall / 1000,
         max_threads, status_field("VmHWM:"), status_field("VmRSS:"));
  for (size_t i = 0; i < count; i++) {
    ctrd_task_free(lives[i].t);
    ctrd_container_free(lives[i].k);
    ctrd_string_free(lives[i].spec);
  }
  free(threads);
  free(lives);
}

/* ---- version: one call, blocking and queued ------------------------------ */

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static void report(const char *op, double *samples, int n, double elapsed_us) {
  qsort(samples, (size_t)n, sizeof *samples, cmp_double);
  printf("op=%s n=%d median_us=%.1f p99_us=%.1f ops_s=%.0f\n", op, n, samples[n / 2],
         samples[(int)((n - 1) * 0.99)], n / (elapsed_us / 1e6));
}

static void take_one(int ep) {
  ctrd_completion c;
  while (ctrd_queue_next(queue, 0, &c) != CTRD_OK) {
    struct epoll_event got;
    epoll_wait(ep, &got, 1, -1);
  }
  if (c.status != CTRD_OK) {
    fprintf(stderr, "queue_bench: version: %s\n", c.error);
    exit(1);
  }
  ctrd_string_array_free(c.names, c.names_len);
}

static void run_version(int n, int warmup, int depth) {
  double *samples = calloc((size_t)n, sizeof *samples);
  for (int i = 0; i < warmup; i++) TRY(ctrd_client_server_version(client, NULL, NULL));
  double start = now_us();
  for (int i = 0; i < n; i++) {
    double t = now_us();
    TRY(ctrd_client_server_version(client, NULL, NULL));
    samples[i] = now_us() - t;
  }
  report("version_blocking", samples, n, now_us() - start);

  TRY(ctrd_queue_new(&queue));
  int ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event ev = {.events = EPOLLIN};
  if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, ctrd_queue_fd(queue), &ev) != 0) {
    perror("queue_bench: epoll");
    exit(1);
  }
  uint64_t tag = 0;
  for (int i = 0; i < warmup; i++) {
    TRY(ctrd_client_server_version_submit(client, queue, tag++));
    take_one(ep);
  }
  start = now_us();
  for (int i = 0; i < n; i++) {
    double t = now_us();
    TRY(ctrd_client_server_version_submit(client, queue, tag++));
    take_one(ep);
    samples[i] = now_us() - t;
  }
  report("version_queued", samples, n, now_us() - start);

  /* depth calls in flight: a new one for each that completes. */
  start = now_us();
  int submitted = 0, taken = 0;
  for (; submitted < depth && submitted < n; submitted++) TRY(ctrd_client_server_version_submit(client, queue, tag++));
  while (taken < n) {
    take_one(ep);
    taken++;
    if (submitted < n) {
      TRY(ctrd_client_server_version_submit(client, queue, tag++));
      submitted++;
    }
  }
  printf("op=version_pipelined n=%d depth=%d ops_s=%.0f\n", n, depth, n / ((now_us() - start) / 1e6));
  close(ep);
  ctrd_queue_free(queue);
  free(samples);
}

int main(int argc, char **argv) {
  const char *mode = NULL;
  size_t count = 100;
  int n = 2000, warmup = 200, depth = 16;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (v == NULL) goto usage;
    if (strcmp(a, "--mode") == 0) mode = v;
    else if (strcmp(a, "--count") == 0) count = (size_t)strtoul(v, NULL, 10);
    else if (strcmp(a, "--image") == 0) image = v;
    else if (strcmp(a, "--n") == 0) n = atoi(v);
    else if (strcmp(a, "--warmup") == 0) warmup = atoi(v);
    else if (strcmp(a, "--depth") == 0) depth = atoi(v);
    else goto usage;
    i++;
  }
  if (mode == NULL || count == 0 || n < 1 || depth < 1) goto usage;
  TRY(ctrd_client_connect(NULL, NULL, &client));
  /* The daemon's version: a spec without an image is then made without a
   * call. */
  TRY(ctrd_client_server_version(client, NULL, NULL));
  if (strcmp(mode, "queue") == 0) run_queue(count);
  else if (strcmp(mode, "threads") == 0) run_threads(count);
  else if (strcmp(mode, "version") == 0) run_version(n, warmup, depth);
  else goto usage;
  ctrd_client_free(client);
  return 0;
usage:
  fprintf(stderr, "usage: queue_bench --mode queue|threads|version [--count N] [--image IMAGE] [--n N] "
                  "[--warmup N] [--depth N]\n");
  return 2;
}
