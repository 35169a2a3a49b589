/* Call benchmark (not a test: figures, run by scripts/bench-calls.sh, which
 * compares them with containerd's Go client and the library's Rust core):
 * what the everyday calls cost through the C ABI, against the daemon named by
 * $CONTAINERD_ADDRESS in $CONTAINERD_NAMESPACE.
 *
 *   calls_bench [--container ID] [--image IMAGE] [--ops a,b,c,d,e]
 *               [--n N] [--warmup N] [--n-lifecycle N] [--threads N]
 *               [--n-threaded N] [--first] [--rss N]
 *
 * Operations, each after a warm-up (--warmup calls, 3 lifecycles for d):
 *   a  ctrd_client_server_version (--n calls)
 *   b  ctrd_container_load + ctrd_container_spec_json (+ frees) (--n)
 *   c  ctrd_container_load_task of a running container, already loaded (--n)
 *   d  the lifecycle of `true` from IMAGE (--n-lifecycle times): spec from
 *      the image, snapshot prepare, container create, new task (no stdio),
 *      start, wait, delete task, delete container (and its snapshot)
 *   e  b from --threads threads sharing one client, --n-threaded each: ops/s
 *   --first  the first call of a process: this program again in a fresh
 *            process, from main() to the end of connect + server version
 *            (the library's runtime starts inside that), and the whole
 *            child process as its parent sees it (exec, loading, exit)
 *   --rss N  VmRSS after 1,000 and after N calls of op a
 * b, c and e use the running container ID; without --container the program
 * starts one (`sleep`) from IMAGE and removes it at the end.
 *
 * Output: one machine-readable line per figure on stdout, e.g.
 *   op=a n=2000 median_us=95.1 p99_us=160.2 ops_s=10250
 *   op=e n=8000 threads=16 median_us=... p99_us=... ops_s=...
 *   first_call_us=2100 process_us=3500
 *   rss_kib_after=1000 value=9000
 *   step=d.spec n=30 median_us=...   (one per step of op d: where its time goes)
 * then a readable table. Exits non-zero on any failure. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "containerd_c.h"

#define TRY(call)                                                                    \
  do {                                                                               \
    ctrd_status s_ = (call);                                                         \
    if (s_ != CTRD_OK) {                                                             \
      fprintf(stderr, "calls_bench: %s: %s: %s\n", #call, ctrd_status_name(s_),      \
              ctrd_last_error());                                                    \
      exit(1);                                                                       \
    }                                                                                \
  } while (0)

static const char *image = "docker.io/library/ctrd-test:latest";
static const char *container_id = NULL;
static ctrd_client *client = NULL;

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static long rss_kib(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long kib = -1;
  while (f && fgets(line, sizeof line, f))
    if (strncmp(line, "VmRSS:", 6) == 0) kib = strtol(line + 6, NULL, 10);
  if (f) fclose(f);
  if (kib < 0) {
    fprintf(stderr, "calls_bench: no VmRSS in /proc/self/status\n");
    exit(1);
  }
  return kib;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Nearest rank, as the Go and Rust comparators compute it. */
static double quantile(const double *sorted, size_t n, double q) {
  long i = (long)(q * (double)n + 0.5) - 1;
  if (i < 0) i = 0;
  if ((size_t)i >= n) i = (long)n - 1;
  return sorted[i];
}

#define MAX_RESULTS 16
static struct result {
  char op[8];
  size_t n;
  int threads;
  double median, p99, ops_s;
} results[MAX_RESULTS];
static size_t n_results = 0;

static void report(const char *op, double *samples, size_t n, double elapsed_us, size_t ops,
                   int threads) {
  qsort(samples, n, sizeof *samples, cmp_double);
  struct result *r = &results[n_results < MAX_RESULTS ? n_results++ : MAX_RESULTS - 1];
  snprintf(r->op, sizeof r->op, "%s", op);
  r->n = n;
  r->threads = threads;
  r->median = quantile(samples, n, 0.5);
  r->p99 = quantile(samples, n, 0.99);
  r->ops_s = (double)ops / (elapsed_us / 1e6);
  char extra[32] = "";
  if (threads > 0) snprintf(extra, sizeof extra, " threads=%d", threads);
  printf("op=%s n=%zu%s median_us=%.1f p99_us=%.1f ops_s=%.0f\n", op, n, extra, r->median,
         r->p99, r->ops_s);
  fflush(stdout);
}

typedef void (*op_fn)(void);

static void measure(const char *op, size_t warm, size_t n, op_fn f) {
  for (size_t i = 0; i < warm; i++) f();
  double *samples = calloc(n, sizeof *samples);
  if (samples == NULL) exit(1);
  double start = now_us();
  for (size_t i = 0; i < n; i++) {
    double t = now_us();
    f();
    samples[i] = now_us() - t;
  }
  double elapsed = now_us() - start;
  report(op, samples, n, elapsed, n, 0);
  free(samples);
}

static void op_a(void) {
  char *version = NULL;
  TRY(ctrd_client_server_version(client, &version, NULL));
  ctrd_string_free(version);
}

static void op_b(void) {
  ctrd_container *k = NULL;
  char *spec = NULL;
  TRY(ctrd_container_load(client, container_id, &k));
  TRY(ctrd_container_spec_json(k, &spec));
  ctrd_string_free(spec);
  ctrd_container_free(k);
}

static ctrd_container *loaded = NULL; /* op c's container */

static void op_c(void) {
  ctrd_task *t = NULL;
  TRY(ctrd_container_load_task(loaded, &t));
  ctrd_task_free(t);
}

/* Makes container `id` running `argv` from the image, without stdio. */
static void start_container(const char *id, const char *const *argv, ctrd_container **k,
                            ctrd_task **t) {
  char *spec = NULL;
  TRY(ctrd_spec_generate(client, id, image, argv, &spec));
  TRY(ctrd_snapshot_prepare_from_image(client, image, NULL, id));
  ctrd_container_opts opts = {.struct_size = sizeof(ctrd_container_opts), .id = id, .spec_json = spec, .image = image, .snapshot_key = id};
  TRY(ctrd_container_create(client, &opts, k));
  ctrd_string_free(spec);
  TRY(ctrd_container_new_task(*k, NULL, t));
  TRY(ctrd_task_start(*t));
}

/* Where op d's time goes: each step's duration in every measured lifecycle. */
#define D_STEPS 8
static const char *const d_step_names[D_STEPS] = {
    "spec", "snapshot", "create", "new_task", "start", "wait", "delete_task", "delete_container"};
static double *d_steps[D_STEPS];
static size_t d_measured = 0, d_capacity = 0;

static void op_d(void) {
  static unsigned long seq = 0;
  static const char *const argv[] = {"true", NULL};
  char id[64];
  snprintf(id, sizeof id, "calls-bench-d-%ld-%lu", (long)getpid(), ++seq);
  ctrd_container *k = NULL;
  ctrd_task *t = NULL;
  uint32_t status = 0;
  char *spec = NULL;
  double at[D_STEPS + 1];
  at[0] = now_us();
  TRY(ctrd_spec_generate(client, id, image, argv, &spec));
  at[1] = now_us();
  TRY(ctrd_snapshot_prepare_from_image(client, image, NULL, id));
  at[2] = now_us();
  ctrd_container_opts opts = {.struct_size = sizeof(ctrd_container_opts), .id = id, .spec_json = spec, .image = image, .snapshot_key = id};
  TRY(ctrd_container_create(client, &opts, &k));
  ctrd_string_free(spec);
  at[3] = now_us();
  TRY(ctrd_container_new_task(k, NULL, &t));
  at[4] = now_us();
  TRY(ctrd_task_start(t));
  at[5] = now_us();
  TRY(ctrd_task_wait(t, -1, &status));
  at[6] = now_us();
  if (status != 0) {
    fprintf(stderr, "calls_bench: %s: `true` exited with %u\n", id, status);
    exit(1);
  }
  TRY(ctrd_task_delete(t, 0, NULL));
  at[7] = now_us();
  TRY(ctrd_container_delete(k, 0));
  at[8] = now_us();
  ctrd_task_free(t);
  ctrd_container_free(k);
  if (d_measured < d_capacity) {
    for (int i = 0; i < D_STEPS; i++) d_steps[i][d_measured] = at[i + 1] - at[i];
    d_measured++;
  }
}

/* One line per step of op d: "step=d.spec n=30 median_us=...". */
static void report_d_steps(void) {
  for (int i = 0; i < D_STEPS; i++) {
    qsort(d_steps[i], d_measured, sizeof(double), cmp_double);
    printf("step=d.%s n=%zu median_us=%.1f\n", d_step_names[i], d_measured,
           quantile(d_steps[i], d_measured, 0.5));
    free(d_steps[i]);
  }
}

static size_t n_threaded = 500;
static pthread_barrier_t barrier;

static void *op_e_thread(void *arg) {
  double *samples = arg;
  pthread_barrier_wait(&barrier);
  for (size_t i = 0; i < n_threaded; i++) {
    double t = now_us();
    op_b();
    samples[i] = now_us() - t;
  }
  return NULL;
}

static void op_e(int threads) {
  for (int i = 0; i < 50; i++) op_b();
  double *samples = calloc((size_t)threads * n_threaded, sizeof *samples);
  pthread_t *tids = calloc((size_t)threads, sizeof *tids);
  if (samples == NULL || tids == NULL) exit(1);
  pthread_barrier_init(&barrier, NULL, (unsigned)threads + 1);
  for (int i = 0; i < threads; i++)
    if (pthread_create(&tids[i], NULL, op_e_thread, samples + (size_t)i * n_threaded) != 0) {
      fprintf(stderr, "calls_bench: pthread_create failed\n");
      exit(1);
    }
  double start = now_us();
  pthread_barrier_wait(&barrier);
  for (int i = 0; i < threads; i++) pthread_join(tids[i], NULL);
  double elapsed = now_us() - start;
  pthread_barrier_destroy(&barrier);
  size_t n = (size_t)threads * n_threaded;
  report("e", samples, n, elapsed, n, threads);
  free(samples);
  free(tids);
}

/* The fresh process of --first: from main() to the end of the first call. */
static int first_child(double t0) {
  ctrd_client *c = NULL;
  char *version = NULL;
  TRY(ctrd_client_connect(NULL, NULL, &c));
  TRY(ctrd_client_server_version(c, &version, NULL));
  double t1 = now_us();
  ctrd_string_free(version);
  ctrd_client_free(c);
  printf("%.0f\n", t1 - t0);
  return 0;
}

static void first_call(void) {
  int fds[2];
  if (pipe(fds) != 0) {
    perror("calls_bench: pipe");
    exit(1);
  }
  double t0 = now_us();
  pid_t pid = fork();
  if (pid < 0) {
    perror("calls_bench: fork");
    exit(1);
  }
  if (pid == 0) {
    dup2(fds[1], 1);
    close(fds[0]);
    close(fds[1]);
    execl("/proc/self/exe", "calls_bench", "--first-child", (char *)NULL);
    _exit(127);
  }
  close(fds[1]);
  char buf[64] = "";
  size_t got = 0;
  ssize_t r;
  while (got < sizeof buf - 1 && ((r = read(fds[0], buf + got, sizeof buf - 1 - got)) > 0 ||
                                  (r < 0 && errno == EINTR)))
    if (r > 0) got += (size_t)r;
  close(fds[0]);
  int st = 0;
  waitpid(pid, &st, 0);
  double t1 = now_us();
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || got == 0) {
    fprintf(stderr, "calls_bench: the --first-child process failed\n");
    exit(1);
  }
  buf[strcspn(buf, "\n")] = '\0';
  printf("first_call_us=%s process_us=%.0f\n", buf, t1 - t0);
}

static void usage(void) {
  fprintf(stderr,
          "usage: calls_bench [--container ID] [--image IMAGE] [--ops a,b,c,d,e]\n"
          "                   [--n N] [--warmup N] [--n-lifecycle N] [--threads N]\n"
          "                   [--n-threaded N] [--first] [--rss N]\n");
  exit(2);
}

static size_t count_arg(const char *s) {
  char *end = NULL;
  unsigned long v = strtoul(s, &end, 10);
  if (end == s || *end != '\0' || v == 0 || v > 100000000UL) usage();
  return (size_t)v;
}

static int wanted(const char *ops, const char *op) {
  size_t len = strlen(op);
  for (const char *p = ops; *p;) {
    size_t n = strcspn(p, ",");
    if (n == len && strncmp(p, op, len) == 0) return 1;
    p += n + (p[n] == ',');
  }
  return 0;
}

int main(int argc, char **argv) {
  double t0 = now_us();
  if (argc == 2 && strcmp(argv[1], "--first-child") == 0) return first_child(t0);

  const char *ops = "a,b,c,d,e";
  size_t n = 2000, warm = 200, n_lifecycle = 30, rss_calls = 0;
  int threads = 16, first = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--first") == 0) {
      first = 1;
      continue;
    }
    if (v == NULL) usage();
    i++;
    if (strcmp(a, "--container") == 0) container_id = v;
    else if (strcmp(a, "--image") == 0) image = v;
    else if (strcmp(a, "--ops") == 0) ops = v;
    else if (strcmp(a, "--n") == 0) n = count_arg(v);
    else if (strcmp(a, "--warmup") == 0) warm = count_arg(v);
    else if (strcmp(a, "--n-lifecycle") == 0) n_lifecycle = count_arg(v);
    else if (strcmp(a, "--threads") == 0) threads = (int)count_arg(v);
    else if (strcmp(a, "--n-threaded") == 0) n_threaded = count_arg(v);
    else if (strcmp(a, "--rss") == 0) rss_calls = count_arg(v);
    else usage();
  }
  if (threads > 1024) usage();

  TRY(ctrd_client_connect(NULL, NULL, &client));
  ctrd_container *own = NULL;
  ctrd_task *own_task = NULL;
  char own_id[64];
  int need_container = wanted(ops, "b") || wanted(ops, "c") || wanted(ops, "e");
  if (need_container && container_id == NULL) {
    static const char *const sleep_argv[] = {"sleep", "1000000", NULL};
    snprintf(own_id, sizeof own_id, "calls-bench-%ld", (long)getpid());
    start_container(own_id, sleep_argv, &own, &own_task);
    container_id = own_id;
  }

  if (wanted(ops, "a")) measure("a", warm, n, op_a);
  if (wanted(ops, "b")) measure("b", warm, n, op_b);
  if (wanted(ops, "c")) {
    TRY(ctrd_container_load(client, container_id, &loaded));
    measure("c", warm, n, op_c);
    ctrd_container_free(loaded);
  }
  if (wanted(ops, "d")) {
    for (size_t w = 0; w < 3; w++) op_d(); /* the warm-up, not recorded */
    for (int i = 0; i < D_STEPS; i++)
      if ((d_steps[i] = calloc(n_lifecycle, sizeof(double))) == NULL) exit(1);
    d_capacity = n_lifecycle;
    measure("d", 0, n_lifecycle, op_d);
    report_d_steps();
  }
  if (wanted(ops, "e")) op_e(threads);
  if (first) first_call();
  long rss_1000 = -1, rss_end = -1;
  for (size_t i = 1; i <= rss_calls; i++) {
    op_a();
    if (i == 1000 || i == rss_calls) {
      long kib = rss_kib();
      if (i == 1000) rss_1000 = kib;
      if (i == rss_calls) rss_end = kib;
      printf("rss_kib_after=%zu value=%ld\n", i, kib);
    }
  }

  if (own != NULL) {
    TRY(ctrd_task_delete(own_task, CTRD_TASK_DELETE_FORCE, NULL));
    TRY(ctrd_container_delete(own, 0));
    ctrd_task_free(own_task);
    ctrd_container_free(own);
  }
  ctrd_client_free(client);

  /* The readable table. */
  if (n_results > 0) {
    printf("\n%-4s %8s %8s %12s %12s %10s\n", "op", "n", "threads", "median µs", "p99 µs",
           "ops/s");
    for (size_t i = 0; i < n_results; i++)
      printf("%-4s %8zu %8d %12.1f %12.1f %10.0f\n", results[i].op, results[i].n,
             results[i].threads, results[i].median, results[i].p99, results[i].ops_s);
  }
  if (rss_calls >= 1000)
    printf("VmRSS after 1,000 calls: %ld KiB; after %zu: %ld KiB (%+ld KiB)\n", rss_1000,
           rss_calls, rss_end, rss_end - rss_1000);
  return 0;
}
