/* Pull benchmark (not a test: figures, run by scripts/bench-pull.sh): pulls
 * an image from a registry RUNS times into the daemon named by
 * $CONTAINERD_ADDRESS in $CONTAINERD_NAMESPACE, removing it (and, with the
 * garbage collector, its content and snapshots) after each pull so that
 * every pull fetches and unpacks everything.
 *
 *   pull_bench [--plain-http] [--user USER:PASSWORD] [--ca-file FILE] [--trace] REF RUNS
 *
 * One line per pull: "pull SECONDS MBPS PEAK_RSS_KIB" (MB/s = 10^6 bytes of
 * the image's content per second, fetch and unpack included; peak RSS is
 * the process's VmHWM so far), after a first line "baseline RSS_KIB" (VmRSS
 * once connected). With --trace, each progress report goes to stderr with the
 * milliseconds since the pull began (where the time goes: fetch, unpack).
 * Exits non-zero on any failure. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "containerd_c.h"

#define TRY(call)                                                                    \
  do {                                                                               \
    ctrd_status s_ = (call);                                                         \
    if (s_ != CTRD_OK) {                                                             \
      fprintf(stderr, "pull_bench: %s: %s: %s\n", #call, ctrd_status_name(s_),       \
              ctrd_last_error());                                                    \
      exit(1);                                                                       \
    }                                                                                \
  } while (0)

/* A "Vm...:" line of /proc/self/status, in KiB. */
static long status_kib(const char *key) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long kib = -1;
  size_t n = strlen(key);
  while (f && fgets(line, sizeof line, f))
    if (strncmp(line, key, n) == 0) kib = strtol(line + n, NULL, 10);
  if (f) fclose(f);
  return kib;
}

static struct timespec trace_t0;

static void trace(void *user_data, const ctrd_progress *p) {
  (void)user_data;
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  long ms = (now.tv_sec - trace_t0.tv_sec) * 1000 + (now.tv_nsec - trace_t0.tv_nsec) / 1000000;
  fprintf(stderr, "%6ld ms %-10s %3llu/%3llu MiB layers %u/%u\n", ms, p->phase,
          (unsigned long long)(p->bytes_done >> 20), (unsigned long long)(p->bytes_total >> 20),
          p->layers_done, p->layers_total);
}

int main(int argc, char **argv) {
  ctrd_pull_opts opts = ctrd_pull_opts_default();
  int arg = 1;
  for (; arg < argc && argv[arg][0] == '-'; arg++) {
    if (strcmp(argv[arg], "--plain-http") == 0) {
      opts.plain_http = true;
    } else if (strcmp(argv[arg], "--user") == 0 && arg + 1 < argc) {
      char *user = argv[++arg], *colon = strchr(user, ':');
      if (colon != NULL) {
        *colon = '\0';
        opts.secret = colon + 1;
      }
      opts.username = user;
    } else if (strcmp(argv[arg], "--trace") == 0) {
      opts.progress = trace;
    } else if (strcmp(argv[arg], "--ca-file") == 0 && arg + 1 < argc) {
      opts.ca_file = argv[++arg];
    } else {
      break;
    }
  }
  if (argc - arg != 2) {
    fprintf(stderr, "usage: pull_bench [--plain-http] [--user U:P] [--ca-file F] [--trace] REF RUNS\n");
    return 2;
  }
  const char *ref = argv[arg];
  int runs = atoi(argv[arg + 1]);

  ctrd_client *client = NULL;
  TRY(ctrd_client_connect(NULL, NULL, &client));
  TRY(ctrd_client_set_timeout_ms(client, 0));
  char *version = NULL, *revision = NULL;
  TRY(ctrd_client_server_version(client, &version, &revision));
  ctrd_string_free(version);
  ctrd_string_free(revision);
  printf("baseline %ld\n", status_kib("VmRSS:"));
  fflush(stdout);

  for (int i = 0; i < runs; i++) {
    struct timespec t0, t1;
    ctrd_image *image = NULL;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    trace_t0 = t0;
    TRY(ctrd_image_pull(client, ref, &opts, &image));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    uint64_t bytes = 0;
    TRY(ctrd_image_size(image, &bytes));
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("pull %.3f %.1f %ld\n", s, (double)bytes / 1e6 / s, status_kib("VmHWM:"));
    fflush(stdout);
    TRY(ctrd_image_delete(client, ctrd_image_name(image), CTRD_IMAGE_DELETE_SYNC));
    ctrd_image_free(image);
  }
  ctrd_client_free(client);
  return 0;
}
