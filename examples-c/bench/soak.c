/* Soak benchmark (not a test: figures, run by scripts/soak.sh): memory over
 * thousands of cycles and bytes through stdio, against the daemon named by
 * $CONTAINERD_ADDRESS in $CONTAINERD_NAMESPACE, with the test image.
 *
 *   soak cycles N   N x (spec + snapshot + container create, task new, start,
 *                   wait, delete, container delete); prints VmRSS every 500
 *   soak calls N    N x ctrd_client_server_version; VmRSS after 1,000 and N
 *   soak stdio N    N bytes (pseudo-random) through a task's stdin -> cat ->
 *                   stdout via FIFOs; checks length and checksum both ways
 *
 * Exits non-zero on any failure, a wrong exit status, a wrong checksum, or a
 * container left behind. */
#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
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
      fprintf(stderr, "soak: %s: %s: %s\n", #call, ctrd_status_name(s_),             \
              ctrd_last_error());                                                    \
      exit(1);                                                                       \
    }                                                                                \
  } while (0)

static long rss_kib(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long kib = -1;
  while (f && fgets(line, sizeof line, f))
    if (strncmp(line, "VmRSS:", 6) == 0) kib = strtol(line + 6, NULL, 10);
  if (f) fclose(f);
  return kib;
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static ctrd_container *make_container(ctrd_client *c, const char *id, const char *const *argv) {
  char *spec = NULL;
  ctrd_container *k = NULL;
  TRY(ctrd_spec_generate(c, id, image, argv, &spec));
  TRY(ctrd_snapshot_prepare_from_image(c, image, NULL, id));
  ctrd_container_opts o = {.struct_size = sizeof(ctrd_container_opts), .id = id, .spec_json = spec, .image = image, .snapshot_key = id};
  TRY(ctrd_container_create(c, &o, &k));
  ctrd_string_free(spec);
  return k;
}

static void cycles(ctrd_client *c, long n) {
  const char *argv[] = {"sh", "-c", "exit 3", NULL};
  double t0 = now();
  printf("cycles: start VmRSS %ld KiB\n", rss_kib());
  for (long i = 1; i <= n; i++) {
    char id[64];
    snprintf(id, sizeof id, "soak-%ld", i);
    ctrd_container *k = make_container(c, id, argv);
    ctrd_task *t = NULL;
    uint32_t code = 0;
    TRY(ctrd_container_new_task(k, NULL, &t));
    TRY(ctrd_task_start(t));
    TRY(ctrd_task_wait(t, 30000, &code));
    if (code != 3) {
      fprintf(stderr, "soak: cycle %ld: exit status %u, want 3\n", i, code);
      exit(1);
    }
    TRY(ctrd_task_delete(t, 0, &code));
    ctrd_task_free(t);
    TRY(ctrd_container_delete(k, 0));
    ctrd_container_free(k);
    if (i % 500 == 0 || i == n)
      printf("cycles: %ld done, VmRSS %ld KiB, %.1f s\n", i, rss_kib(), now() - t0);
    fflush(stdout);
  }
  char **ids = NULL;
  size_t len = 0;
  TRY(ctrd_container_list(c, NULL, &ids, &len));
  ctrd_string_array_free(ids, len);
  if (len != 0) {
    fprintf(stderr, "soak: %zu containers left\n", len);
    exit(1);
  }
}

static void calls(ctrd_client *c, long n) {
  double t0 = now();
  printf("calls: start VmRSS %ld KiB\n", rss_kib());
  for (long i = 1; i <= n; i++) {
    char *v = NULL;
    TRY(ctrd_client_server_version(c, &v, NULL));
    ctrd_string_free(v);
    if (i == 1000 || i % 25000 == 0 || i == n)
      printf("calls: %ld done, VmRSS %ld KiB, %.1f s\n", i, rss_kib(), now() - t0);
    fflush(stdout);
  }
}

/* xorshift64 bytes and an FNV-1a checksum. */
struct stream {
  int fd;
  uint64_t bytes, sum;
};

static uint64_t fnv(uint64_t h, const unsigned char *p, size_t n) {
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ULL;
  return h;
}

static void *writer(void *arg) {
  struct stream *s = arg;
  static unsigned char buf[1 << 16];
  uint64_t x = 0x9e3779b97f4a7c15ULL, left = s->bytes;
  s->sum = 0xcbf29ce484222325ULL;
  while (left > 0) {
    size_t n = left < sizeof buf ? (size_t)left : sizeof buf;
    for (size_t i = 0; i < n; i += 8) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      memcpy(buf + i, &x, n - i < 8 ? n - i : 8);
    }
    s->sum = fnv(s->sum, buf, n);
    for (size_t off = 0; off < n;) {
      ssize_t w = write(s->fd, buf + off, n - off);
      if (w <= 0) {
        perror("soak: write");
        exit(1);
      }
      off += (size_t)w;
    }
    left -= n;
  }
  close(s->fd);
  return NULL;
}

static void *reader(void *arg) {
  struct stream *s = arg;
  static unsigned char buf[1 << 16];
  s->sum = 0xcbf29ce484222325ULL;
  s->bytes = 0;
  for (;;) {
    ssize_t r = read(s->fd, buf, sizeof buf);
    if (r < 0) {
      perror("soak: read");
      exit(1);
    }
    if (r == 0) break;
    s->sum = fnv(s->sum, buf, (size_t)r);
    s->bytes += (uint64_t)r;
  }
  close(s->fd);
  return NULL;
}

static void stdio(ctrd_client *c, uint64_t n) {
  const char *argv[] = {"cat", NULL};
  char id[64];
  snprintf(id, sizeof id, "soak-stdio-%ld", (long)getpid());
  ctrd_container *k = make_container(c, id, argv);
  ctrd_fifo_set *f = NULL;
  ctrd_io io;
  ctrd_io_session *sess = NULL;
  ctrd_task *t = NULL;
  int in[2], out[2];
  if (pipe(in) || pipe(out)) {
    perror("soak: pipe");
    exit(1);
  }
  TRY(ctrd_fifo_set_create(NULL, id, true, false, &f));
  TRY(ctrd_fifo_set_io(f, &io));
  TRY(ctrd_io_attach(&io, in[0], out[1], -1, &sess));
  close(in[0]); /* the session holds its own duplicates */
  close(out[1]);
  TRY(ctrd_container_new_task(k, &io, &t));
  TRY(ctrd_task_start(t));
  TRY(ctrd_task_close_stdin_on_eof(t, sess));
  struct stream w = {.fd = in[1], .bytes = n}, r = {.fd = out[0]};
  pthread_t wt, rt;
  double t0 = now();
  pthread_create(&wt, NULL, writer, &w);
  pthread_create(&rt, NULL, reader, &r);
  uint32_t code = 99;
  TRY(ctrd_task_wait(t, -1, &code));
  TRY(ctrd_io_session_wait(sess, 60000));
  pthread_join(wt, NULL);
  pthread_join(rt, NULL);
  double secs = now() - t0;
  printf("stdio: %" PRIu64 " bytes in, %" PRIu64 " bytes out, checksums %016" PRIx64
         " / %016" PRIx64 ", exit %u, %.1f s (%.0f MiB/s), VmRSS %ld KiB\n",
         w.bytes, r.bytes, w.sum, r.sum, code, secs, (double)r.bytes / secs / 1048576.0,
         rss_kib());
  TRY(ctrd_task_delete(t, 0, NULL));
  ctrd_task_free(t);
  ctrd_io_session_free(sess);
  ctrd_fifo_set_free(f);
  TRY(ctrd_container_delete(k, 0));
  ctrd_container_free(k);
  if (code != 0 || r.bytes != w.bytes || r.sum != w.sum) {
    fprintf(stderr, "soak: stdio: bytes or checksum differ\n");
    exit(1);
  }
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: soak cycles|calls|stdio N\n");
    return 2;
  }
  if (getenv("CTRD_TEST_IMAGE")) image = getenv("CTRD_TEST_IMAGE");
  long long n = atoll(argv[2]);
  ctrd_client *c = NULL;
  TRY(ctrd_client_connect(NULL, NULL, &c));
  if (strcmp(argv[1], "cycles") == 0)
    cycles(c, (long)n);
  else if (strcmp(argv[1], "calls") == 0)
    calls(c, (long)n);
  else if (strcmp(argv[1], "stdio") == 0)
    stdio(c, (uint64_t)n);
  else {
    fprintf(stderr, "soak: unknown mode %s\n", argv[1]);
    return 2;
  }
  ctrd_client_free(c);
  return 0;
}
