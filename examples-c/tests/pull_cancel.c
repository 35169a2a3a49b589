/* Ctrl-C during a pull, as ctr does it: a SIGINT handler triggers a
 * ctrd_cancel, and the pull from a registry that stalls (its manifest comes
 * a byte every 200 ms) returns CTRD_ERR_CANCELLED within a second of the
 * signal. The stalling registry is a thread of this program. Also: a
 * timeout_ms pull from it is CTRD_ERR_DEADLINE_EXCEEDED, bad input to the
 * cancel functions is harmless, and ctrd_cancel_trigger works in a signal
 * handler on a thread that never called the library, leaving the last
 * error alone. */
#define _POSIX_C_SOURCE 200809L

#include <signal.h>
#include <time.h>

#include "tiny_http.h"

static ctrd_cancel *g_cancel;
static struct timespec g_signalled;
static volatile sig_atomic_t g_got_signal;

static void on_sigint(int sig) {
  (void)sig;
  /* Both async-signal-safe. */
  clock_gettime(CLOCK_MONOTONIC, &g_signalled);
  ctrd_cancel_trigger(g_cancel);
  g_got_signal = 1;
}

static ctrd_cancel *g_fresh_cancel;
static volatile sig_atomic_t g_fresh_handled;

static void on_sigusr1(int sig) {
  (void)sig;
  ctrd_cancel_trigger(NULL);
  ctrd_cancel_trigger(g_fresh_cancel);
  g_fresh_handled = 1;
}

/* A thread that never calls the library: it waits (10 s at most) for its
 * signal. */
static void *fresh_thread(void *arg) {
  (void)arg;
  for (int i = 0; i < 1000 && !g_fresh_handled; i++) {
    struct timespec pause = {0, 10 * 1000 * 1000};
    nanosleep(&pause, NULL);
  }
  return NULL;
}

static double since(const struct timespec *t) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (double)(now.tv_sec - t->tv_sec) + (double)(now.tv_nsec - t->tv_nsec) / 1e9;
}

/* One connection: `/v2/` is answered at once, anything else with a body
 * that comes a byte every 200 ms until the client goes. */
static void *serve(void *arg) {
  int fd = (int)(intptr_t)arg;
  char head[4096];
  tiny_read_head(fd, head, sizeof head);
  if (strncmp(head, "GET /v2/ ", 9) == 0) {
    const char *ok = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     "Content-Length: 2\r\nConnection: close\r\n\r\n{}";
    tiny_write(fd, ok, strlen(ok));
  } else {
    const char *slow = "HTTP/1.1 200 OK\r\n"
                       "Content-Type: application/vnd.oci.image.manifest.v1+json\r\n"
                       "Content-Length: 100000\r\nConnection: close\r\n\r\n";
    tiny_write(fd, slow, strlen(slow));
    for (int i = 0; i < 100000; i++) {
      struct timespec pause = {0, 200 * 1000 * 1000};
      nanosleep(&pause, NULL);
      if (send(fd, " ", 1, MSG_NOSIGNAL) != 1) break;
    }
  }
  close(fd);
  return NULL;
}

static void *send_sigint(void *arg) {
  (void)arg;
  sleep(1);
  kill(getpid(), SIGINT);
  return NULL;
}

int main(void) {
  /* The stalling registry. */
  unsigned port;
  static struct tiny_server registry;
  registry.listener = tiny_listen(&port);
  registry.handler = serve;
  tiny_serve(&registry);
  char ref[128];
  snprintf(ref, sizeof ref, "127.0.0.1:%u/stalls/here:latest", port);

  ctrd_client *client = NULL;
  CHECK(ctrd_client_connect(NULL, NULL, &client) == CTRD_OK);

  /* Bad input. */
  CHECK_STATUS(ctrd_cancel_new(NULL), CTRD_ERR_INVALID_ARGUMENT, "out is NULL");
  ctrd_cancel_trigger(NULL);
  CHECK(!ctrd_cancel_is_triggered(NULL));
  ctrd_cancel_free(NULL);

  /* A signal handler on a thread that never called the library: NULL and a
   * signal; the last error (of this thread) stays as it was. */
  CHECK(ctrd_cancel_new(&g_fresh_cancel) == CTRD_OK);
  CHECK_STATUS(ctrd_cancel_new(NULL), CTRD_ERR_INVALID_ARGUMENT, "out is NULL");
  ctrd_cancel_trigger(NULL);
  CHECK(strstr(ctrd_last_error(), "out is NULL") != NULL);
  struct sigaction usr1;
  memset(&usr1, 0, sizeof usr1);
  usr1.sa_handler = on_sigusr1;
  sigemptyset(&usr1.sa_mask);
  CHECK(sigaction(SIGUSR1, &usr1, NULL) == 0);
  pthread_t fresh;
  CHECK(pthread_create(&fresh, NULL, fresh_thread, NULL) == 0);
  CHECK(pthread_kill(fresh, SIGUSR1) == 0);
  pthread_join(fresh, NULL);
  CHECK(g_fresh_handled);
  CHECK(ctrd_cancel_is_triggered(g_fresh_cancel));
  CHECK(strstr(ctrd_last_error(), "out is NULL") != NULL);
  ctrd_cancel_free(g_fresh_cancel);
  g_fresh_cancel = NULL;

  CHECK(ctrd_cancel_new(&g_cancel) == CTRD_OK);
  CHECK(!ctrd_cancel_is_triggered(g_cancel));
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  CHECK(sigaction(SIGINT, &sa, NULL) == 0);

  /* Ctrl-C a second into the pull. */
  ctrd_pull_opts opts = ctrd_pull_opts_default();
  opts.plain_http = true;
  opts.no_unpack = true;
  opts.cancel = g_cancel;
  pthread_t interrupter;
  CHECK(pthread_create(&interrupter, NULL, send_sigint, NULL) == 0);
  ctrd_image *image = NULL;
  CHECK_STATUS(ctrd_image_pull(client, ref, &opts, &image), CTRD_ERR_CANCELLED, "cancelled");
  double after = since(&g_signalled);
  pthread_join(interrupter, NULL);
  CHECK(g_got_signal);
  CHECK(image == NULL);
  CHECK(ctrd_cancel_is_triggered(g_cancel));
  printf("SIGINT: the pull returned CTRD_ERR_CANCELLED %.3f s after the signal\n", after);
  CHECK(after < 1.0);
  ctrd_cancel_free(g_cancel);
  g_cancel = NULL;

  /* The whole call's timeout. */
  opts.cancel = NULL;
  opts.timeout_ms = 800;
  struct timespec start;
  clock_gettime(CLOCK_MONOTONIC, &start);
  CHECK_STATUS(ctrd_image_pull(client, ref, &opts, &image), CTRD_ERR_DEADLINE_EXCEEDED,
               "800 ms");
  double took = since(&start);
  printf("timeout_ms 800: CTRD_ERR_DEADLINE_EXCEEDED after %.3f s\n", took);
  CHECK(took >= 0.8 && took < 1.8);

  ctrd_client_free(client);
  return 0;
}
