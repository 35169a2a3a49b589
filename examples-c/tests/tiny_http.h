/* A tiny HTTP server for the C tests: a listening socket on 127.0.0.1, a
 * thread that hands each connection to a handler thread, and a blocking
 * send of a whole string. */
#ifndef CTRD_TEST_TINY_HTTP_H
#define CTRD_TEST_TINY_HTTP_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"

/* Sends all of `n` bytes at `p` (less if the peer goes). */
static void tiny_write(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w <= 0) return;
    p += w;
    n -= (size_t)w;
  }
}

/* A listening socket on 127.0.0.1; its port in *port. */
static int tiny_listen(unsigned *port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  CHECK(fd >= 0);
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  CHECK(bind(fd, (struct sockaddr *)&addr, sizeof addr) == 0);
  CHECK(listen(fd, 16) == 0);
  socklen_t len = sizeof addr;
  CHECK(getsockname(fd, (struct sockaddr *)&addr, &len) == 0);
  *port = ntohs(addr.sin_port);
  return fd;
}

/* Reads a request's head (up to the blank line, at most `size` - 1 bytes)
 * into `head`, NUL-terminated. */
static void tiny_read_head(int fd, char *head, size_t size) {
  size_t got = 0;
  while (got < size - 1) {
    ssize_t n = recv(fd, head + got, size - 1 - got, 0);
    if (n <= 0) break;
    got += (size_t)n;
    head[got] = '\0';
    if (strstr(head, "\r\n\r\n")) break;
  }
  head[got] = '\0';
}

struct tiny_server {
  int listener;
  void *(*handler)(void *); /* gets the connection's fd as (intptr_t) */
};

static void *tiny_accept_loop(void *arg) {
  struct tiny_server *s = arg;
  for (;;) {
    int fd = accept(s->listener, NULL, NULL);
    if (fd < 0) {
      if (errno == EINTR) continue;
      return NULL;
    }
    pthread_t t;
    if (pthread_create(&t, NULL, s->handler, (void *)(intptr_t)fd) == 0) pthread_detach(t);
  }
}

/* Serves `s` (which must outlive the process's use of it) on a detached
 * thread. */
static void tiny_serve(struct tiny_server *s) {
  pthread_t t;
  CHECK(pthread_create(&t, NULL, tiny_accept_loop, s) == 0);
  pthread_detach(t);
}

#endif
