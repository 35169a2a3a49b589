/* Pushes an image from containerd to a registry, showing progress —
 * `ctr images push` in C.
 *
 *   push [OPTIONS] REMOTE [LOCAL]
 *
 *   REMOTE                  where to push, e.g. registry.example.com/team/app:1.2
 *   LOCAL                   the image in containerd (default: REMOTE)
 *   --user USER[:PASSWORD]  registry credentials (default: the docker config's)
 *   --plain-http            http:// instead of https://
 *   --skip-verify           accept any TLS certificate
 *   --ca-file FILE          also trust the CAs in this PEM file
 *   --hosts-dir DIR         containerd's host directories (the first host with
 *                           the push capability gets the push; default:
 *                           /etc/containerd/certs.d when it exists, "" = none)
 *   --platform OS/ARCH      push only this platform's manifest (default: every
 *                           platform whose content is in containerd)
 *
 * Blobs the registry has are not sent again. On a terminal the progress is
 * one line redrawn in place; otherwise a plain line at each phase and about
 * every 10% of the bytes. Uses $CONTAINERD_ADDRESS and $CONTAINERD_NAMESPACE
 * (defaults: the system daemon, "default"). Exits 0 when the image is in
 * the registry. */
#define _POSIX_C_SOURCE 200809L
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "containerd_c.h"

/* What the progress callback keeps between calls. It runs on a library
 * thread, one call at a time, so no lock is needed for its own state. */
struct shown {
  bool terminal;
  char phase[16];
  unsigned tenth; /* last tenth of the bytes a plain line was printed for */
  bool line_open; /* a terminal line is drawn and not ended yet */
};

static double mib(uint64_t bytes) { return (double)bytes / (1024.0 * 1024.0); }

static void on_progress(void *user_data, const ctrd_progress *p) {
  struct shown *s = user_data;
  bool new_phase = strcmp(s->phase, p->phase) != 0;
  if (s->terminal) {
    char bar[31];
    int filled = p->bytes_total ? (int)(30 * p->bytes_done / p->bytes_total) : 0;
    for (int i = 0; i < 30; i++) bar[i] = i < filled ? '=' : ' ';
    bar[30] = '\0';
    if (filled > 0 && filled < 30) bar[filled - 1] = '>';
    /* \r redraws the line; \033[K clears what a longer line left. */
    printf("\r%-8s [%s] %7.1f / %.1f MiB  %u/%u layers\033[K", p->phase, bar,
           mib(p->bytes_done), mib(p->bytes_total), p->layers_done, p->layers_total);
    s->line_open = true;
    if (strcmp(p->phase, "done") == 0) {
      printf("\n");
      s->line_open = false;
    }
    fflush(stdout);
  } else {
    unsigned tenth = p->bytes_total ? (unsigned)(10 * p->bytes_done / p->bytes_total) : 0;
    if (new_phase || tenth > s->tenth) {
      printf("%s: %.1f/%.1f MiB, %u/%u layers\n", p->phase, mib(p->bytes_done),
             mib(p->bytes_total), p->layers_done, p->layers_total);
      fflush(stdout);
      s->tenth = tenth;
    }
  }
  snprintf(s->phase, sizeof s->phase, "%s", p->phase);
}

static int usage(void) {
  fprintf(stderr,
          "usage: push [--user USER[:PASSWORD]] [--plain-http] [--skip-verify] [--ca-file FILE]\n"
          "            [--hosts-dir DIR] [--platform OS/ARCH] REMOTE [LOCAL]\n");
  return 2;
}

int main(int argc, char **argv) {
  ctrd_push_opts opts = ctrd_push_opts_default();
  char *user = NULL;
  const char *remote = NULL, *local = NULL;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    bool has_value = i + 1 < argc;
    if (strcmp(a, "--plain-http") == 0) {
      opts.plain_http = true;
    } else if (strcmp(a, "--skip-verify") == 0) {
      opts.skip_verify = true;
    } else if (strcmp(a, "--user") == 0 && has_value) {
      user = argv[++i];
    } else if (strcmp(a, "--ca-file") == 0 && has_value) {
      opts.ca_file = argv[++i];
    } else if (strcmp(a, "--hosts-dir") == 0 && has_value) {
      opts.hosts_dir = argv[++i];
    } else if (strcmp(a, "--platform") == 0 && has_value) {
      opts.platform = argv[++i];
    } else if (a[0] == '-' || local != NULL) {
      return usage();
    } else if (remote == NULL) {
      remote = a;
    } else {
      local = a;
    }
  }
  if (remote == NULL) return usage();
  if (local == NULL) local = remote;
  if (user != NULL) {
    /* USER:PASSWORD, or USER alone with the password on stdin's first line. */
    char *colon = strchr(user, ':');
    static char line[1024];
    if (colon != NULL) {
      *colon = '\0';
      opts.secret = colon + 1;
    } else if (fgets(line, sizeof line, stdin) != NULL) {
      line[strcspn(line, "\n")] = '\0';
      opts.secret = line;
    }
    opts.username = user;
  }

  struct shown shown;
  memset(&shown, 0, sizeof shown);
  shown.terminal = isatty(STDOUT_FILENO);
  opts.progress = on_progress;
  opts.user_data = &shown;

  ctrd_client *client = NULL;
  ctrd_status s = ctrd_client_connect(NULL, NULL, &client);
  if (s != CTRD_OK) {
    fprintf(stderr, "push: connect: %s: %s\n", ctrd_status_name(s), ctrd_last_error());
    return 1;
  }

  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  s = ctrd_image_push(client, local, remote, &opts);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  if (shown.line_open) printf("\n");
  if (s != CTRD_OK) {
    fprintf(stderr, "push: %s: %s\n", ctrd_status_name(s), ctrd_last_error());
    ctrd_client_free(client);
    return 1;
  }
  double seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  printf("pushed %s to %s in %.2f s\n", local, remote, seconds);
  ctrd_client_free(client);
  return 0;
}
