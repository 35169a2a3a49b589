/* Archives through descriptors, from C: ctrd_image_export_fd into a pipe
 * `tar -t` reads (through popen) and into a pipe a thread drains;
 * ctrd_image_import_fd of those bytes from a pipe a thread feeds (a round
 * trip keeping the digest); a pipe whose reader is gone fails with
 * CTRD_ERR_IO instead of killing this program with SIGPIPE (its default
 * disposition here); bad descriptors are CTRD_ERR_INVALID_ARGUMENT. The
 * caller's descriptors stay open. Needs the test image in the default
 * namespace, as the other C tests. */
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#include "check.h"

#define IMAGE "docker.io/library/ctrd-test:latest"

struct buffer {
  int fd;
  char *data;
  size_t len;
};

static void *drain(void *arg) {
  struct buffer *b = arg;
  size_t cap = 0;
  for (;;) {
    if (b->len == cap) {
      cap = cap ? cap * 2 : 1 << 20;
      b->data = realloc(b->data, cap);
      if (b->data == NULL) abort();
    }
    ssize_t n = read(b->fd, b->data + b->len, cap - b->len);
    if (n <= 0) break;
    b->len += (size_t)n;
  }
  close(b->fd);
  return NULL;
}

static void *feed(void *arg) {
  struct buffer *b = arg;
  size_t done = 0;
  while (done < b->len) {
    ssize_t n = write(b->fd, b->data + done, b->len - done);
    if (n <= 0) break;
    done += (size_t)n;
  }
  close(b->fd);
  return NULL;
}

static char *digest_of(ctrd_client *client) {
  ctrd_image *image = NULL;
  CHECK(ctrd_image_get(client, IMAGE, &image) == CTRD_OK);
  char *d = strdup(ctrd_image_digest(image));
  ctrd_image_free(image);
  return d;
}

int main(void) {
  ctrd_client *client = NULL;
  CHECK(ctrd_client_connect(NULL, NULL, &client) == CTRD_OK);
  const char *names[] = {IMAGE, NULL};
  char *before = digest_of(client);

  /* export_fd into tar -t: it lists the layout's files. */
  FILE *tar = popen("tar -t | sort | grep -qx index.json", "w");
  CHECK(tar != NULL);
  CHECK(ctrd_image_export_fd(client, names, fileno(tar)) == CTRD_OK);
  CHECK(fcntl(fileno(tar), F_GETFD) != -1); /* still the caller's */
  CHECK(pclose(tar) == 0);

  /* export_fd into a pipe a thread drains. */
  int p[2];
  CHECK(pipe(p) == 0);
  struct buffer out = {p[0], NULL, 0};
  pthread_t t;
  CHECK(pthread_create(&t, NULL, drain, &out) == 0);
  CHECK(ctrd_image_export_fd(client, names, p[1]) == CTRD_OK);
  CHECK(fcntl(p[1], F_GETFD) != -1);
  close(p[1]);
  CHECK(pthread_join(t, NULL) == 0);
  CHECK(out.len > 1024 && memcmp(out.data, "oci-layout", 10) == 0);

  /* import_fd from a pipe a thread feeds: the same image back. */
  CHECK(pipe(p) == 0);
  struct buffer in = {p[1], out.data, out.len};
  CHECK(pthread_create(&t, NULL, feed, &in) == 0);
  char **got = NULL;
  size_t len = 0;
  CHECK(ctrd_image_import_fd(client, p[0], NULL, &got, &len) == CTRD_OK);
  CHECK(pthread_join(t, NULL) == 0);
  CHECK(len == 1 && strcmp(got[0], IMAGE) == 0);
  ctrd_string_array_free(got, len);
  CHECK(fcntl(p[0], F_GETFD) != -1);
  close(p[0]);
  char *after = digest_of(client);
  CHECK(strcmp(before, after) == 0);
  printf("round trip through pipes: %zu bytes, %s\n", out.len, after);

  /* A reader gone: an I/O error, not SIGPIPE. */
  CHECK(pipe(p) == 0);
  close(p[0]);
  CHECK_STATUS(ctrd_image_export_fd(client, names, p[1]), CTRD_ERR_IO, "Broken pipe");
  close(p[1]);

  /* Bad descriptors; out-params untouched. */
  got = NULL;
  len = 7;
  CHECK_STATUS(ctrd_image_import_fd(client, -1, NULL, &got, &len),
               CTRD_ERR_INVALID_ARGUMENT, "fd -1");
  CHECK(got == NULL && len == 7);
  int closed = dup(0);
  CHECK(closed >= 0);
  close(closed);
  CHECK_STATUS(ctrd_image_import_fd(client, closed, NULL, &got, &len),
               CTRD_ERR_INVALID_ARGUMENT, "not an open file descriptor");
  CHECK_STATUS(ctrd_image_export_fd(client, names, closed), CTRD_ERR_INVALID_ARGUMENT,
               "not an open file descriptor");
  CHECK_STATUS(ctrd_image_export_fd(client, names, -1), CTRD_ERR_INVALID_ARGUMENT, "fd -1");

  free(out.data);
  free(before);
  free(after);
  ctrd_client_free(client);
  return 0;
}
