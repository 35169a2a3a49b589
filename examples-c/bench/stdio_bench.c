/* stdio benchmark (not a test: figures, run by scripts/bench-stdio.sh),
 * against the daemon named by $CONTAINERD_ADDRESS in $CONTAINERD_NAMESPACE,
 * with the test image (busybox).
 *
 *   stdio_bench out BYTES   a container writes BYTES (a multiple of 1 MiB)
 *                           of zeros to its stdout (dd bs=1M); the session
 *                           copies them into a pipe read here
 *   stdio_bench in BYTES    BYTES of zeros written here into a pipe the
 *                           session copies to the container's stdin, read by
 *                           `wc -c` there (its count is checked)
 *   stdio_bench many N      N containers running `cat`, each attached with
 *                           stdin, stdout and stderr (pipes) at once; 256 KiB
 *                           of distinct bytes through each, checked; prints
 *                           the process's threads and VmRSS before, with all
 *                           N attached and running, after the bytes went
 *                           through, and after all were deleted
 *
 * out/in print one line: "<mode> <bytes> <seconds> <MB/s> <copy seconds>",
 * seconds for the whole run (container create to delete, as `ctr run --rm`)
 * and for the copy alone; MB/s = 10^6 bytes a second of the whole run.
 * many prints "threads <before> <attached> <echoed> <deleted>", the same for
 * "rss_kib", and "checked <N> <bytes each>".
 * Exits non-zero on any failure or a wrong count. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "containerd_c.h"

static const char *image = "docker.io/library/ctrd-test:latest";

#define TRY(call)                                                                    \
  do {                                                                               \
    ctrd_status s_ = (call);                                                         \
    if (s_ != CTRD_OK) {                                                             \
      fprintf(stderr, "stdio_bench: %s: %s: %s\n", #call, ctrd_status_name(s_),      \
              ctrd_last_error());                                                    \
      exit(1);                                                                       \
    }                                                                                \
  } while (0)

static void die(const char *what) {
  perror(what);
  exit(1);
}

/* A number from /proc/self/status ("Threads:", "VmRSS:"). */
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

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct run {
  char id[64];
  ctrd_container *k;
  ctrd_fifo_set *f;
  ctrd_io io;
  ctrd_task *t;
  ctrd_io_session *s;
};

/* Container, FIFOs and task (not started) for `argv`; the session copies the
 * caller's `in`, `out`, `err` (-1 = none). */
static void run_create(ctrd_client *c, struct run *r, const char *id, const char *const *argv,
                       int in, int out, int err) {
  char *spec = NULL;
  snprintf(r->id, sizeof r->id, "%s", id);
  TRY(ctrd_spec_generate(c, id, image, argv, &spec));
  TRY(ctrd_snapshot_prepare_from_image(c, image, NULL, id));
  ctrd_container_opts o = {.struct_size = sizeof(ctrd_container_opts),
                           .id = id,
                           .spec_json = spec,
                           .image = image,
                           .snapshot_key = id};
  TRY(ctrd_container_create(c, &o, &r->k));
  ctrd_string_free(spec);
  TRY(ctrd_fifo_set_create(NULL, id, in != -1, false, &r->f));
  TRY(ctrd_fifo_set_io(r->f, &r->io));
  TRY(ctrd_io_attach(&r->io, in, out, err, &r->s));
  TRY(ctrd_container_new_task(r->k, &r->io, &r->t));
  if (in != -1) TRY(ctrd_task_close_stdin_on_eof(r->t, r->s));
}

/* Waits for the task (exit status 0) and its output, then deletes it all. */
static void run_finish(struct run *r) {
  uint32_t code = 99;
  TRY(ctrd_task_wait(r->t, -1, &code));
  TRY(ctrd_io_session_wait(r->s, 60000));
  TRY(ctrd_task_delete(r->t, 0, NULL));
  ctrd_task_free(r->t);
  ctrd_io_session_free(r->s);
  ctrd_fifo_set_free(r->f);
  TRY(ctrd_container_delete(r->k, 0));
  ctrd_container_free(r->k);
  if (code != 0) {
    fprintf(stderr, "stdio_bench: %s exited with %u\n", r->id, code);
    exit(1);
  }
}

static void print_rate(const char *mode, uint64_t bytes, double t0, double c0, double c1,
                       double t1) {
  printf("%s %" PRIu64 " %.3f %.1f %.3f\n", mode, bytes, t1 - t0, (double)bytes / (t1 - t0) / 1e6,
         c1 - c0);
}

static void bench_out(ctrd_client *c, uint64_t bytes) {
  if (bytes % (1 << 20) != 0) {
    fprintf(stderr, "stdio_bench: out: BYTES must be a multiple of 1 MiB\n");
    exit(2);
  }
  char count[32], id[64];
  snprintf(count, sizeof count, "count=%" PRIu64, bytes >> 20);
  snprintf(id, sizeof id, "bench-out-%ld", (long)getpid());
  const char *argv[] = {"dd", "if=/dev/zero", "bs=1048576", count, NULL};
  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC)) die("pipe");
  double t0 = now();
  struct run r;
  run_create(c, &r, id, argv, -1, out[1], err[1]);
  close(out[1]);
  close(err[1]);
  static char buf[1 << 20];
  uint64_t got = 0;
  double c0 = now();
  TRY(ctrd_task_start(r.t));
  while (got < bytes) {
    ssize_t n = read(out[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) die("read stdout");
    got += (uint64_t)n;
  }
  double c1 = now();
  run_finish(&r);
  double t1 = now();
  /* Nothing more came (the session closed its end when freed). */
  if (read(out[0], buf, 1) != 0) {
    fprintf(stderr, "stdio_bench: out: more than %" PRIu64 " bytes\n", bytes);
    exit(1);
  }
  close(out[0]);
  close(err[0]);
  print_rate("out", got, t0, c0, c1, t1);
}

struct feed {
  int fd;
  uint64_t bytes;
};

static void *feeder(void *arg) {
  struct feed *f = arg;
  static char buf[1 << 20];
  uint64_t left = f->bytes;
  while (left > 0) {
    size_t n = left < sizeof buf ? (size_t)left : sizeof buf;
    ssize_t w = write(f->fd, buf, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) die("write stdin");
    left -= (uint64_t)w;
  }
  close(f->fd);
  return NULL;
}

static void bench_in(ctrd_client *c, uint64_t bytes) {
  char id[64];
  snprintf(id, sizeof id, "bench-in-%ld", (long)getpid());
  const char *argv[] = {"wc", "-c", NULL};
  int in[2], out[2];
  if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC)) die("pipe");
  double t0 = now();
  struct run r;
  run_create(c, &r, id, argv, in[0], out[1], -1);
  close(in[0]);
  close(out[1]);
  struct feed f = {.fd = in[1], .bytes = bytes};
  pthread_t th;
  double c0 = now();
  TRY(ctrd_task_start(r.t));
  if (pthread_create(&th, NULL, feeder, &f)) die("pthread_create");
  char text[64];
  size_t len = 0;
  for (;;) {
    ssize_t n = read(out[0], text + len, sizeof text - 1 - len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) die("read stdout");
    len += (size_t)n;
    if (n == 0 || memchr(text, '\n', len) || len == sizeof text - 1) break;
  }
  double c1 = now();
  pthread_join(th, NULL);
  run_finish(&r);
  double t1 = now();
  close(out[0]);
  text[len] = 0;
  uint64_t counted = strtoull(text, NULL, 10);
  if (counted != bytes) {
    fprintf(stderr, "stdio_bench: in: wc -c counted '%s', want %" PRIu64 "\n", text, bytes);
    exit(1);
  }
  print_rate("in", counted, t0, c0, c1, t1);
}

/* Byte i of container k's stream. */
static unsigned char pattern(size_t k, size_t i) {
  return (unsigned char)((i * 131u + k * 7u + (i >> 12)) & 0xff);
}

#define EACH (256 * 1024)

struct attached {
  struct run r;
  int in, out, err; /* our ends: write, read, read (non-blocking) */
  size_t sent, got;
};

static void bench_many(ctrd_client *c, int n) {
  const char *argv[] = {"cat", NULL};
  struct attached *a = calloc((size_t)n, sizeof *a);
  if (!a) die("calloc");
  long th0 = status_field("Threads:"), rss0 = status_field("VmRSS:");
  double t0 = now();
  for (int k = 0; k < n; k++) {
    int in[2], out[2], err[2];
    if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC)) die("pipe");
    char id[64];
    snprintf(id, sizeof id, "bench-many-%ld-%d", (long)getpid(), k);
    run_create(c, &a[k].r, id, argv, in[0], out[1], err[1]);
    close(in[0]);
    close(out[1]);
    close(err[1]);
    TRY(ctrd_task_start(a[k].r.t));
    /* Our ends only: the session's (blocking) ends keep their flags. */
    for (int fd = 0; fd < 3; fd++) {
      int e = fd == 0 ? in[1] : fd == 1 ? out[0] : err[0];
      if (fcntl(e, F_SETFL, fcntl(e, F_GETFL) | O_NONBLOCK) == -1) die("fcntl");
    }
    a[k].in = in[1], a[k].out = out[0], a[k].err = err[0];
  }
  double t1 = now();
  long th1 = status_field("Threads:"), rss1 = status_field("VmRSS:");
  printf("started %d in %.1f s\n", n, t1 - t0);
  fflush(stdout);

  /* Everything through every cat at once. */
  struct pollfd *p = calloc((size_t)n * 2, sizeof *p);
  unsigned char chunk[16384];
  size_t open_streams = (size_t)n;
  while (open_streams > 0) {
    size_t m = 0;
    for (int k = 0; k < n; k++) {
      if (a[k].in != -1) p[m++] = (struct pollfd){.fd = a[k].in, .events = POLLOUT};
      if (a[k].got < EACH) p[m++] = (struct pollfd){.fd = a[k].out, .events = POLLIN};
    }
    if (poll(p, m, 30000) <= 0) {
      fprintf(stderr, "stdio_bench: many: no progress in 30 s\n");
      exit(1);
    }
    size_t j = 0;
    for (int k = 0; k < n; k++) {
      if (a[k].in != -1) {
        if (p[j].revents) {
          size_t len = EACH - a[k].sent < sizeof chunk ? EACH - a[k].sent : sizeof chunk;
          for (size_t i = 0; i < len; i++) chunk[i] = pattern((size_t)k, a[k].sent + i);
          ssize_t w = write(a[k].in, chunk, len);
          if (w < 0 && errno != EAGAIN) die("write stdin");
          if (w > 0) a[k].sent += (size_t)w;
          if (a[k].sent == EACH) {
            close(a[k].in); /* end of file: the session closes the task's stdin */
            a[k].in = -1;
          }
        }
        j++;
      }
      if (a[k].got < EACH) {
        if (p[j].revents) {
          size_t want = EACH - a[k].got < sizeof chunk ? EACH - a[k].got : sizeof chunk;
          ssize_t r = read(a[k].out, chunk, want);
          if (r < 0 && errno != EAGAIN) die("read stdout");
          if (r == 0) {
            fprintf(stderr, "stdio_bench: many: %d: end of file after %zu bytes\n", k, a[k].got);
            exit(1);
          }
          /* Checked as it comes: nothing held but the pipes' contents. */
          for (ssize_t i = 0; i < r; i++)
            if (chunk[i] != pattern((size_t)k, a[k].got + (size_t)i)) {
              fprintf(stderr, "stdio_bench: many: %d: byte %zu differs\n", k,
                      a[k].got + (size_t)i);
              exit(1);
            }
          if (r > 0) a[k].got += (size_t)r;
          if (a[k].got == EACH) open_streams--;
        }
        j++;
      }
    }
  }
  double t2 = now();
  long th2 = status_field("Threads:"), rss2 = status_field("VmRSS:");
  for (int k = 0; k < n; k++) {
    run_finish(&a[k].r);
    char extra;
    if (read(a[k].out, &extra, 1) != 0 || read(a[k].err, &extra, 1) != 0) {
      fprintf(stderr, "stdio_bench: many: %d: more output than sent\n", k);
      exit(1);
    }
    close(a[k].out);
    close(a[k].err);
  }
  double t3 = now();
  long th3 = status_field("Threads:"), rss3 = status_field("VmRSS:");
  printf("echoed %d x %d bytes in %.1f s; deleted in %.1f s\n", n, EACH, t2 - t1, t3 - t2);
  printf("threads %ld %ld %ld %ld\n", th0, th1, th2, th3);
  printf("rss_kib %ld %ld %ld %ld\n", rss0, rss1, rss2, rss3);
  printf("checked %d %d\n", n, EACH);
  free(p);
  free(a);
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: stdio_bench out|in BYTES | many N\n");
    return 2;
  }
  if (getenv("CTRD_TEST_IMAGE")) image = getenv("CTRD_TEST_IMAGE");
  unsigned long long n = strtoull(argv[2], NULL, 10);
  ctrd_client *c = NULL;
  TRY(ctrd_client_connect(NULL, NULL, &c));
  if (strcmp(argv[1], "out") == 0)
    bench_out(c, (uint64_t)n);
  else if (strcmp(argv[1], "in") == 0)
    bench_in(c, (uint64_t)n);
  else if (strcmp(argv[1], "many") == 0 && n > 0 && n < 100000)
    bench_many(c, (int)n);
  else {
    fprintf(stderr, "stdio_bench: unknown mode %s or bad count\n", argv[1]);
    return 2;
  }
  ctrd_client_free(c);
  return 0;
}
