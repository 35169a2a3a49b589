/* FIFO sets and IO sessions from C, without a daemon: a child /bin/sh plays
 * the task, reading its stdin FIFO and writing its stdout and stderr FIFOs,
 * while a session copies between them and the test's pipes. SIGPIPE keeps
 * its default action here (unlike in Rust test binaries). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

/* Reads fd to end of file into buf (NUL-terminated); returns the length. */
static size_t read_all(int fd, char *buf, size_t cap) {
  size_t len = 0;
  for (;;) {
    ssize_t n = read(fd, buf + len, cap - 1 - len);
    if (n < 0 && errno == EINTR) continue;
    CHECK(n >= 0);
    if (n == 0) break;
    len += (size_t)n;
    CHECK(len < cap - 1);
  }
  buf[len] = 0;
  return len;
}

int main(void) {
  char base[] = "/tmp/ctrd-io-fifo-XXXXXX";
  CHECK(mkdtemp(base) != NULL);

  ctrd_fifo_set *set = NULL;
  CHECK(ctrd_fifo_set_create(base, "c-test", true, false, &set) == CTRD_OK);
  ctrd_io io;
  CHECK(ctrd_fifo_set_io(set, &io) == CTRD_OK);
  CHECK(io.stdin_path[0] == '/' && io.stdout_path[0] == '/' && io.stderr_path[0] == '/');
  CHECK(!io.terminal);
  CHECK(strstr(io.stdout_path, "/c-test-stdout") != NULL);
  struct stat st;
  CHECK(stat(io.stdout_path, &st) == 0 && S_ISFIFO(st.st_mode) && (st.st_mode & 07777) == 0700);
  char dir[4096];
  snprintf(dir, sizeof dir, "%s", ctrd_fifo_set_dir(set));
  CHECK(strncmp(dir, base, strlen(base)) == 0);

  /* Bad input: a message, out untouched. */
  ctrd_io_session *s = (ctrd_io_session *)0x1;
  CHECK_STATUS(ctrd_io_attach(NULL, -1, 1, -1, &s), CTRD_ERR_INVALID_ARGUMENT, "fifos is NULL");
  CHECK_STATUS(ctrd_io_attach(&io, -1, 9999, -1, &s), CTRD_ERR_INVALID_ARGUMENT,
               "stdout_fd 9999 is not an open file descriptor");
  CHECK_STATUS(ctrd_fifo_set_create("relative", "x", false, false, NULL),
               CTRD_ERR_INVALID_ARGUMENT, "out is NULL");
  CHECK(s == (ctrd_io_session *)0x1);

  int in[2], out[2], err[2];
  CHECK(pipe2(in, O_CLOEXEC) == 0 && pipe2(out, O_CLOEXEC) == 0 && pipe2(err, O_CLOEXEC) == 0);
  CHECK(ctrd_io_attach(&io, in[0], out[1], err[1], &s) == CTRD_OK);
  /* The session has its own duplicates. */
  close(in[0]);
  close(out[1]);
  close(err[1]);

  /* No writer yet: no end of file. */
  CHECK_STATUS(ctrd_io_session_wait(s, 50), CTRD_ERR_DEADLINE_EXCEEDED, "did not reach end of file");

  /* The "task": each FIFO opened once, as a process's stdio. */
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c",
          "exec <\"$1\" >\"$2\" 2>\"$3\"; read line; printf 'got %s\\n' \"$line\"; "
          "printf 'to stderr\\n' >&2",
          "sh", io.stdin_path, io.stdout_path, io.stderr_path, (char *)NULL);
    _exit(127);
  }
  const char *typed = "ping\n";
  CHECK(write(in[1], typed, strlen(typed)) == (ssize_t)strlen(typed));
  close(in[1]); /* end of input */

  int status = 0;
  CHECK(waitpid(pid, &status, 0) == pid);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  CHECK(ctrd_io_session_wait(s, 10000) == CTRD_OK);
  CHECK(strcmp(ctrd_last_error(), "") == 0);
  ctrd_io_session_free(s); /* closes its duplicates: our pipes reach EOF */

  char buf[256];
  read_all(out[0], buf, sizeof buf);
  CHECK(strcmp(buf, "got ping\n") == 0);
  read_all(err[0], buf, sizeof buf);
  CHECK(strcmp(buf, "to stderr\n") == 0);
  close(out[0]);
  close(err[0]);

  /* Re-attach to the same FIFOs; a caller's pipe nobody reads is an error
   * from wait, not a SIGPIPE that kills this process. */
  int gone[2];
  CHECK(pipe2(gone, O_CLOEXEC) == 0);
  CHECK(ctrd_io_attach(&io, -1, gone[1], -1, &s) == CTRD_OK);
  close(gone[0]);
  close(gone[1]);
  pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", "printf 'lost' >\"$1\"", "sh", io.stdout_path, (char *)NULL);
    _exit(127);
  }
  CHECK(waitpid(pid, &status, 0) == pid);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  CHECK_STATUS(ctrd_io_session_wait(s, 10000), CTRD_ERR_IO, "writing stdout to its fd");
  ctrd_io_session_free(s);

  ctrd_fifo_set_free(set); /* removes the FIFOs and their directory */
  CHECK(access(dir, F_OK) != 0 && errno == ENOENT);
  ctrd_fifo_set_free(NULL);
  ctrd_io_session_free(NULL);
  CHECK(rmdir(base) == 0);
  puts("io_fifo: ok");
  return 0;
}
