/* containerd's host directories (ctrd_pull_opts.hosts_dir) from C: a mirror
 * named in <dir>/127.0.0.1_PORT_/hosts.toml is asked first (with ?ns= naming
 * the registry), then the registry; when both fail the message lists each
 * host with its failure. A malformed hosts.toml is CTRD_ERR_INVALID_ARGUMENT
 * naming the line and the key; a program built before hosts_dir (its
 * struct_size) gets no host directory. The mirror is a thread of this
 * program that knows no image; the registry is a port where nothing
 * listens. */
#define _POSIX_C_SOURCE 200809L

#include <stddef.h>
#include <sys/stat.h>

#include "tiny_http.h"

/* What the mirror was asked for a manifest (the request line). */
static char g_asked[512];
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

static void write_str(int fd, const char *p) { tiny_write(fd, p, strlen(p)); }

/* One connection, one request: `/v2/` is 200, anything else 404. */
static void *serve(void *arg) {
  int fd = (int)(intptr_t)arg;
  char head[4096];
  tiny_read_head(fd, head, sizeof head);
  if (strncmp(head, "GET /v2/ ", 9) == 0) {
    write_str(fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}");
  } else {
    pthread_mutex_lock(&g_lock);
    size_t line = strcspn(head, "\r\n");
    if (line >= sizeof g_asked) line = sizeof g_asked - 1;
    memcpy(g_asked, head, line);
    g_asked[line] = '\0';
    pthread_mutex_unlock(&g_lock);
    write_str(fd, "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n"
                  "Content-Length: 53\r\nConnection: close\r\n\r\n"
                  "{\"errors\":[{\"code\":\"MANIFEST_UNKNOWN\",\"message\":\"\"}]}");
  }
  close(fd);
  return NULL;
}

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  CHECK(f != NULL);
  CHECK(fputs(text, f) >= 0);
  CHECK(fclose(f) == 0);
}

int main(void) {
  unsigned mirror_port, down_port;
  static struct tiny_server mirror;
  mirror.listener = tiny_listen(&mirror_port);
  mirror.handler = serve;
  tiny_serve(&mirror);
  /* A port that was free a moment ago: connections are refused. */
  close(tiny_listen(&down_port));

  char root[] = "/tmp/ctrd-hosts-XXXXXX";
  CHECK(mkdtemp(root) != NULL);
  char dir[256], file[300], ref[128], text[512];
  snprintf(dir, sizeof dir, "%s/127.0.0.1_%u_", root, down_port);
  CHECK(mkdir(dir, 0700) == 0);
  snprintf(file, sizeof file, "%s/hosts.toml", dir);
  snprintf(ref, sizeof ref, "127.0.0.1:%u/some/image:latest", down_port);

  ctrd_client *client = NULL;
  CHECK(ctrd_client_connect(NULL, NULL, &client) == CTRD_OK);
  ctrd_pull_opts opts = ctrd_pull_opts_default();
  opts.plain_http = true;
  opts.no_unpack = true;
  opts.hosts_dir = root;
  ctrd_image *image = NULL;

  /* The mirror, then the registry: not found beats unreachable. */
  snprintf(text, sizeof text, "[host.\"http://127.0.0.1:%u\"]\n  capabilities = [\"pull\", \"resolve\"]\n",
           mirror_port);
  write_file(file, text);
  CHECK_STATUS(ctrd_image_pull(client, ref, &opts, &image), CTRD_ERR_NOT_FOUND, "every host failed");
  printf("%s\n", ctrd_last_error());
  snprintf(text, sizeof text, "http://127.0.0.1:%u/v2 (not found (MANIFEST_UNKNOWN)); ", mirror_port);
  CHECK(strstr(ctrd_last_error(), text) != NULL);
  snprintf(text, sizeof text, "http://127.0.0.1:%u/v2 (connect to 127.0.0.1:%u: ", down_port,
           down_port);
  CHECK(strstr(ctrd_last_error(), text) != NULL);
  pthread_mutex_lock(&g_lock);
  snprintf(text, sizeof text, "GET /v2/some/image/manifests/latest?ns=127.0.0.1%%3A%u HTTP/1.1",
           down_port);
  CHECK(strcmp(g_asked, text) == 0);
  pthread_mutex_unlock(&g_lock);

  /* Malformed: the line and the key. */
  write_file(file, "server = \"http://127.0.0.1:1\"\nskip_verify = \"no\"\n");
  CHECK_STATUS(ctrd_image_pull(client, ref, &opts, &image), CTRD_ERR_INVALID_ARGUMENT,
               "/hosts.toml: line 2: skip_verify: true or false is wanted, not string");
  printf("%s\n", ctrd_last_error());

  /* The struct of a program built before hosts_dir: not read, so the
   * registry alone (down). */
  opts.struct_size = offsetof(ctrd_pull_opts, hosts_dir);
  CHECK_STATUS(ctrd_image_pull(client, ref, &opts, &image), CTRD_ERR_UNAVAILABLE, "connect to");
  opts.struct_size = sizeof opts;

  /* "" = none; a file is not a directory. */
  opts.hosts_dir = "";
  CHECK_STATUS(ctrd_image_pull(client, ref, &opts, &image), CTRD_ERR_UNAVAILABLE, "connect to");
  opts.hosts_dir = file;
  CHECK_STATUS(ctrd_image_pull(client, ref, &opts, &image), CTRD_ERR_INVALID_ARGUMENT,
               "not a directory");
  CHECK(image == NULL);

  unlink(file);
  rmdir(dir);
  rmdir(root);
  ctrd_client_free(client);
  return 0;
}
