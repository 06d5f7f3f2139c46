/* `sagerun local`: start, stop and look after the embedded engine.
 *
 * The data directory (--data-dir, else $SAGERUN_LOCAL_DIR, else
 * ~/.local/share/sagerun/local) holds everything: credentials, engine.db,
 * s3/, engine.log, and while an engine runs engine.pid, engine.port and
 * engine.lock. The running engine holds a POSIX record lock on
 * engine.lock for its whole life: that lock, not the pid file, says
 * whether (and which process) runs, so a stale pid file after a crash
 * misleads nobody and two engines never share a directory. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <uv.h>

#include "../runner/cli.h"
#include "../runner/commands.h"
#include "../runner/error.h"
#include "../runner/target.h"
#include "credentials.h"
#include "engine.h"
#include "worker.h" /* issue 6: the hidden `local worker` */

#define LOCAL_DEFAULT_PORT 4566
#define START_WAIT_MS 30000
#define STOP_WAIT_MS 30000
#define POLL_STEP_MS 50

struct local_args {
  const char *sub;
  char data_dir[PATH_MAX];
  int port;
  int foreground;
  int follow;
  const char *bind;
  const char *faults;
};

/* The engine process's state, for its signal handlers. */
struct engine_run {
  uv_loop_t loop;
  uv_signal_t sigterm, sigint;
  uv_timer_t watch; /* the data directory is still there */
  const char *data_dir;
  struct local_engine *engine;
  int stopping;
};

/* How often the engine looks whether its data directory still exists. */
#define ENGINE_WATCH_MS 5000

static void sleep_ms(long ms)
{
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

  while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
    ;
}

/* --- the data directory --- */

static int mkdir_p(const char *path)
{
  char tmp[PATH_MAX];
  size_t i, len = strlen(path);

  if (len == 0 || len >= sizeof(tmp))
    return -1;
  memcpy(tmp, path, len + 1);
  for (i = 1; i <= len; i++) {
    if (tmp[i] != '/' && tmp[i] != '\0')
      continue;
    tmp[i] = '\0';
    if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
      return -1;
    tmp[i] = path[i];
  }
  return 0;
}

/* Resolves the data directory to an absolute path. */
static int data_dir_resolve(const char *given, char out[PATH_MAX])
{
  const char *env = getenv("SAGERUN_LOCAL_DIR");
  const char *home = getenv("HOME");
  char cwd[PATH_MAX];
  int n;

  if (given && *given)
    n = snprintf(out, PATH_MAX, "%s", given);
  else if (env && *env)
    n = snprintf(out, PATH_MAX, "%s", env);
  else if (home && *home)
    n = snprintf(out, PATH_MAX, "%s/.local/share/sagerun/local", home);
  else {
    cli_error("local", "no data directory: set HOME or SAGERUN_LOCAL_DIR, "
                       "or pass --data-dir");
    return -1;
  }
  if (n < 0 || n >= PATH_MAX)
    goto too_long;
  if (out[0] != '/') {
    char rel[PATH_MAX];

    if (getcwd(cwd, sizeof(cwd)) == NULL) {
      cli_error("local", "cannot get the current directory: %s",
                strerror(errno));
      return -1;
    }
    memcpy(rel, out, (size_t)n + 1);
    n = snprintf(out, PATH_MAX, "%s/%s", cwd, rel);
    if (n < 0 || n >= PATH_MAX)
      goto too_long;
  }
  /* Long enough for every file the engine keeps under it. */
  if (strlen(out) > PATH_MAX / 2 - 128)
    goto too_long;
  return 0;
too_long:
  cli_error("local", "data directory path too long");
  return -1;
}

static int dir_file(const struct local_args *a, const char *name,
                    char out[PATH_MAX])
{
  int n = snprintf(out, PATH_MAX, "%s/%s", a->data_dir, name);

  return n < 0 || n >= PATH_MAX ? -1 : 0;
}

/* The pid of the engine holding the data directory's lock, or 0. */
static pid_t engine_pid(const struct local_args *a)
{
  char path[PATH_MAX];
  struct flock fl;
  int fd;

  if (dir_file(a, "engine.lock", path) != 0)
    return 0;
  fd = open(path, O_RDWR | O_CLOEXEC);
  if (fd < 0)
    return 0;
  memset(&fl, 0, sizeof(fl));
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  if (fcntl(fd, F_GETLK, &fl) != 0 || fl.l_type == F_UNLCK)
    fl.l_pid = 0;
  close(fd);
  return fl.l_pid;
}

/* Takes the lock for this process; returns the fd (kept open for the
 * process's life) or -1. */
static int engine_lock(const struct local_args *a)
{
  char path[PATH_MAX];
  struct flock fl;
  int fd;

  if (dir_file(a, "engine.lock", path) != 0)
    return -1;
  fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0)
    return -1;
  memset(&fl, 0, sizeof(fl));
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  if (fcntl(fd, F_SETLK, &fl) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

/* Writes text to DATA_DIR/name through a temporary file and rename, so
 * readers never see it half written. */
static int write_small_file(const struct local_args *a, const char *name,
                            const char *text)
{
  char path[PATH_MAX], tmp[PATH_MAX];
  FILE *f;
  int rc = 0;

  if (dir_file(a, name, path) != 0 ||
      snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
    return -1;
  f = fopen(tmp, "w");
  if (f == NULL)
    return -1;
  if (fputs(text, f) < 0)
    rc = -1;
  if (fclose(f) != 0)
    rc = -1;
  if (rc == 0 && rename(tmp, path) != 0)
    rc = -1;
  if (rc)
    unlink(tmp);
  return rc;
}

/* The port in DATA_DIR/engine.port, or 0. */
static int read_port(const struct local_args *a)
{
  char path[PATH_MAX], text[32];
  FILE *f;
  char *end;
  long v = 0;

  if (dir_file(a, "engine.port", path) != 0)
    return 0;
  f = fopen(path, "r");
  if (f == NULL)
    return 0;
  if (fgets(text, sizeof(text), f)) {
    v = strtol(text, &end, 10);
    if (end == text || v < 1 || v > 65535)
      v = 0;
  }
  fclose(f);
  return (int)v;
}

static int is_loopback(const char *bind)
{
  return strncmp(bind, "127.", 4) == 0 || strcmp(bind, "::1") == 0 ||
         strcmp(bind, "localhost") == 0;
}

/* --- the engine process --- */

static void engine_closed(void *arg)
{
  struct engine_run *run = arg;

  run->engine = NULL;
  uv_close((uv_handle_t *)&run->sigterm, NULL);
  uv_close((uv_handle_t *)&run->sigint, NULL);
  uv_close((uv_handle_t *)&run->watch, NULL);
}

static void engine_run_stop(struct engine_run *run, const char *why)
{
  if (run->stopping)
    return;
  run->stopping = 1;
  local_engine_log(run->engine, "%s: stopping", why);
  local_engine_close(run->engine, engine_closed, run);
}

static void on_signal(uv_signal_t *h, int signum)
{
  char why[32];

  snprintf(why, sizeof(why), "signal %d", signum);
  engine_run_stop(h->data, why);
}

/* An engine whose data directory was removed (rm -rf, a test's temporary
 * directory cleaned up) serves nothing anyone can find again: it stops
 * rather than run on unseen. */
static void on_watch(uv_timer_t *t)
{
  struct engine_run *run = t->data;
  struct stat st;

  if (stat(run->data_dir, &st) != 0 && errno == ENOENT)
    engine_run_stop(run, "the data directory was removed");
}

/* Tells a waiting `start` how it went: "ok PORT" or "error: TEXT". */
static void report(int fd, const char *text)
{
  size_t len = strlen(text);

  if (fd < 0)
    return;
  while (len > 0) {
    ssize_t n = write(fd, text, len);

    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    text += n;
    len -= (size_t)n;
  }
}

/* Runs the engine in this process until SIGTERM or SIGINT. ready_fd (or
 * -1) gets the outcome of starting. Returns the exit status. */
static int engine_run(const struct local_args *a, int ready_fd)
{
  struct local_engine_options o;
  struct engine_run run;
  char err[512], text[PATH_MAX + 128], path[PATH_MAX];
  int lock_fd, rc, status = EXIT_FAILED;
  pid_t other;

  memset(&run, 0, sizeof(run));
  lock_fd = engine_lock(a);
  if (lock_fd < 0) {
    other = engine_pid(a);
    snprintf(text, sizeof(text),
             "error: another engine (pid %ld) already runs with %s\n",
             (long)other, a->data_dir);
    report(ready_fd, text);
    fputs(text + 7, stderr);
    return EXIT_FAILED;
  }
  signal(SIGPIPE, SIG_IGN);
  /* Everything the engine writes (database, log, objects) is private to
   * its user, whatever the directory's own mode. */
  umask(077);
  if (uv_loop_init(&run.loop) != 0) {
    report(ready_fd, "error: cannot create the event loop\n");
    close(lock_fd);
    return EXIT_FAILED;
  }
  memset(&o, 0, sizeof(o));
  o.data_dir = a->data_dir;
  o.bind = a->bind;
  o.port = a->port;
  o.faults = a->faults;
  rc = local_engine_open(&run.loop, &o, &run.engine, err, sizeof(err));
  if (rc) {
    snprintf(text, sizeof(text), "error: %s\n", err);
    report(ready_fd, text);
    fprintf(stderr, "sagerun local: %s\n", err);
    goto out;
  }
  if (a->bind && !is_loopback(a->bind))
    local_engine_log(run.engine,
                     "WARNING: listening on %s: the engine is reachable "
                     "from other machines; anyone who learns its "
                     "credentials can use it",
                     a->bind);
  snprintf(text, sizeof(text), "%d\n", local_engine_port(run.engine));
  write_small_file(a, "engine.port", text);
  snprintf(text, sizeof(text), "%ld\n", (long)getpid());
  write_small_file(a, "engine.pid", text);
  uv_signal_init(&run.loop, &run.sigterm);
  uv_signal_init(&run.loop, &run.sigint);
  run.sigterm.data = &run;
  run.sigint.data = &run;
  uv_signal_start(&run.sigterm, on_signal, SIGTERM);
  uv_signal_start(&run.sigint, on_signal, SIGINT);
  run.data_dir = a->data_dir;
  uv_timer_init(&run.loop, &run.watch);
  run.watch.data = &run;
  uv_timer_start(&run.watch, on_watch, ENGINE_WATCH_MS, ENGINE_WATCH_MS);
  local_engine_log(run.engine, "listening on %s, data in %s (pid %ld)",
                   local_engine_url(run.engine), a->data_dir, (long)getpid());
  snprintf(text, sizeof(text), "ok %d\n", local_engine_port(run.engine));
  report(ready_fd, text);
  if (ready_fd >= 0)
    close(ready_fd);
  ready_fd = -1;
  uv_run(&run.loop, UV_RUN_DEFAULT);
  status = 0;
  if (dir_file(a, "engine.port", path) == 0)
    unlink(path);
  if (dir_file(a, "engine.pid", path) == 0)
    unlink(path);
out:
  /* A failed open may leave handles closing: let them finish. */
  uv_run(&run.loop, UV_RUN_DEFAULT);
  /* A handle left open is a bug: fail, so that tests see it. */
  if (uv_loop_close(&run.loop) != 0) {
    fprintf(stderr, "sagerun local: handles left open at exit\n");
    status = EXIT_FAILED;
  }
  close(lock_fd);
  return status;
}

/* Whether something accepts connections on 127.0.0.1 (or the bind
 * address) port. */
static int port_answers(const char *bind, int port)
{
  struct sockaddr_in sa;
  int fd, ok;

  memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)port);
  if (bind == NULL || strcmp(bind, "0.0.0.0") == 0 ||
      inet_pton(AF_INET, bind, &sa.sin_addr) != 1)
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
  fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return 0;
  ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
  close(fd);
  return ok;
}

/* Reads the child's report (up to len - 1 bytes) within START_WAIT_MS. */
static int read_report(int fd, char *out, size_t len)
{
  struct pollfd p = {fd, POLLIN, 0};
  size_t n = 0;
  long waited = 0;

  while (n + 1 < len) {
    ssize_t got;
    int r = poll(&p, 1, POLL_STEP_MS * 10);

    if (r < 0 && errno == EINTR)
      continue;
    if (r == 0) {
      waited += POLL_STEP_MS * 10;
      if (waited >= START_WAIT_MS)
        break;
      continue;
    }
    got = read(fd, out + n, len - 1 - n);
    if (got < 0 && errno == EINTR)
      continue;
    if (got <= 0)
      break;
    n += (size_t)got;
    if (memchr(out, '\n', n))
      break;
  }
  out[n] = '\0';
  return n > 0 ? 0 : -1;
}

static void print_running(const struct local_args *a, pid_t pid)
{
  int port = read_port(a);

  printf("sagerun local: running at http://%s:%d (pid %ld, data %s)\n",
         "127.0.0.1", port, (long)pid, a->data_dir);
}

static int sub_start(const struct local_args *a)
{
  char path[PATH_MAX], text[600];
  int fds[2], log_fd, devnull, port;
  pid_t pid, other;
  long waited;

  if (mkdir_p(a->data_dir) != 0) {
    cli_error("local", "cannot create %s: %s", a->data_dir, strerror(errno));
    return EXIT_FAILED;
  }
  other = engine_pid(a);
  if (other > 0) {
    print_running(a, other);
    return 0;
  }
  if (a->bind && !is_loopback(a->bind))
    fprintf(stderr,
            "sagerun local: WARNING: --bind %s makes the engine reachable "
            "from other machines. Anyone who can reach it and learns the "
            "credentials can read and write its data.\n",
            a->bind);
  if (a->foreground)
    return engine_run(a, -1);
  if (dir_file(a, "engine.log", path) != 0 || pipe(fds) != 0) {
    cli_error("local", "cannot set up the engine's process");
    return EXIT_FAILED;
  }
  fflush(stdout);
  fflush(stderr);
  pid = fork();
  if (pid < 0) {
    cli_error("local", "fork: %s", strerror(errno));
    return EXIT_FAILED;
  }
  if (pid == 0) {
    /* The child: a new session, then a grandchild that no terminal can
     * reach and no parent waits for. */
    close(fds[0]);
    setsid();
    pid = fork();
    if (pid != 0)
      _exit(pid < 0 ? 1 : 0);
    log_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (log_fd < 0 || devnull < 0)
      _exit(1);
    dup2(devnull, 0);
    dup2(log_fd, 1);
    dup2(log_fd, 2);
    close(devnull);
    close(log_fd);
    exit(engine_run(a, fds[1]));
  }
  close(fds[1]);
  waitpid(pid, NULL, 0);
  if (read_report(fds[0], text, sizeof(text)) != 0) {
    close(fds[0]);
    cli_error("local", "the engine did not start; see %s", path);
    return EXIT_FAILED;
  }
  close(fds[0]);
  if (strncmp(text, "ok ", 3) != 0) {
    text[strcspn(text, "\n")] = '\0';
    cli_error("local", "%s",
              strncmp(text, "error: ", 7) == 0 ? text + 7 : text);
    return EXIT_FAILED;
  }
  port = (int)strtol(text + 3, NULL, 10);
  for (waited = 0; !port_answers(a->bind, port); waited += POLL_STEP_MS) {
    if (waited >= START_WAIT_MS) {
      cli_error("local", "port %d does not answer; see %s", port, path);
      return EXIT_FAILED;
    }
    sleep_ms(POLL_STEP_MS);
  }
  print_running(a, engine_pid(a));
  return 0;
}

/* Stops the engine of a's data directory, if one runs. Returns 0 when
 * none runs any more. */
static int engine_stop(const struct local_args *a, int quiet)
{
  pid_t pid = engine_pid(a);
  long waited;

  if (pid <= 0) {
    if (!quiet)
      printf("sagerun local: not running (data %s)\n", a->data_dir);
    return 0;
  }
  if (kill(pid, SIGTERM) != 0 && errno != ESRCH) {
    cli_error("local", "cannot stop pid %ld: %s", (long)pid, strerror(errno));
    return -1;
  }
  for (waited = 0; engine_pid(a) > 0; waited += POLL_STEP_MS) {
    if (waited >= STOP_WAIT_MS) {
      cli_error("local", "pid %ld did not stop within %d s; killing it",
                (long)pid, STOP_WAIT_MS / 1000);
      kill(pid, SIGKILL);
      sleep_ms(POLL_STEP_MS * 4);
      break;
    }
    sleep_ms(POLL_STEP_MS);
  }
  if (engine_pid(a) > 0)
    return -1;
  if (!quiet)
    printf("sagerun local: stopped (pid %ld)\n", (long)pid);
  return 0;
}

static int sub_stop(const struct local_args *a)
{
  return engine_stop(a, 0) == 0 ? 0 : EXIT_FAILED;
}

static int sub_status(const struct local_args *a)
{
  pid_t pid = engine_pid(a);

  if (pid <= 0) {
    printf("sagerun local: not running (data %s)\n", a->data_dir);
    return EXIT_FAILED;
  }
  printf("url: http://127.0.0.1:%d\npid: %ld\ndata: %s\n", read_port(a),
         (long)pid, a->data_dir);
  return 0;
}

static int sub_logs(const struct local_args *a)
{
  char path[PATH_MAX], chunk[8192];
  FILE *f;
  size_t n;

  if (dir_file(a, "engine.log", path) != 0)
    return EXIT_FAILED;
  f = fopen(path, "r");
  if (f == NULL) {
    cli_error("local", "no log at %s", path);
    return EXIT_FAILED;
  }
  for (;;) {
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
      fwrite(chunk, 1, n, stdout);
    fflush(stdout);
    if (!a->follow || ferror(f))
      break;
    clearerr(f);
    sleep_ms(POLL_STEP_MS * 4);
  }
  fclose(f);
  return 0;
}

/* Removes dirfd/name and everything under it. */
static int remove_tree(int dirfd, const char *name)
{
  struct stat st;
  struct dirent *de;
  DIR *d;
  int fd, rc = 0;

  if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
    return errno == ENOENT ? 0 : -1;
  if (!S_ISDIR(st.st_mode))
    return unlinkat(dirfd, name, 0);
  fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return -1;
  d = fdopendir(fd);
  if (d == NULL) {
    close(fd);
    return -1;
  }
  while ((de = readdir(d)) != NULL) {
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
      continue;
    if (remove_tree(fd, de->d_name) != 0)
      rc = -1;
  }
  closedir(d);
  if (rc == 0)
    rc = unlinkat(dirfd, name, AT_REMOVEDIR);
  return rc;
}

/* Whether dir looks like an engine's data directory (or is empty), so
 * that reset never wipes a directory given by mistake. */
static int looks_like_data_dir(const struct local_args *a)
{
  static const char *const marks[] = {"credentials", "engine.db", "engine.lock",
                                      NULL};
  const char *const *m;
  char path[PATH_MAX];
  struct dirent *de;
  DIR *d;
  int empty = 1;

  for (m = marks; *m; m++)
    if (dir_file(a, *m, path) == 0 && access(path, F_OK) == 0)
      return 1;
  d = opendir(a->data_dir);
  if (d == NULL)
    return 1;
  while ((de = readdir(d)) != NULL)
    if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
      empty = 0;
  closedir(d);
  return empty;
}

static int sub_reset(const struct local_args *a)
{
  struct stat st;

  if (stat(a->data_dir, &st) != 0) {
    printf("sagerun local: nothing to reset (no %s)\n", a->data_dir);
    return 0;
  }
  if (!looks_like_data_dir(a)) {
    cli_error("local",
              "%s does not look like an engine's data directory (no "
              "credentials or engine.db); not removing it",
              a->data_dir);
    return EXIT_FAILED;
  }
  if (engine_stop(a, 1) != 0)
    return EXIT_FAILED;
  if (remove_tree(AT_FDCWD, a->data_dir) != 0) {
    cli_error("local", "cannot remove %s: %s", a->data_dir, strerror(errno));
    return EXIT_FAILED;
  }
  printf("sagerun local: removed %s\n", a->data_dir);
  return 0;
}

static int sub_credentials(const struct local_args *a)
{
  struct local_credentials c;
  char err[512];
  int port;

  if (mkdir_p(a->data_dir) != 0) {
    cli_error("local", "cannot create %s: %s", a->data_dir, strerror(errno));
    return EXIT_FAILED;
  }
  if (local_credentials_load(a->data_dir, &c, err, sizeof(err)) != 0) {
    cli_error("local", "%s", err);
    return EXIT_FAILED;
  }
  port = engine_pid(a) > 0 ? read_port(a) : 0;
  printf("export AWS_ACCESS_KEY_ID=%s\n"
         "export AWS_SECRET_ACCESS_KEY=%s\n"
         "export AWS_DEFAULT_REGION=us-east-1\n"
         "export AWS_ENDPOINT_URL=http://127.0.0.1:%d\n",
         c.access_key_id, c.secret_access_key,
         port > 0 ? port : LOCAL_DEFAULT_PORT);
  local_credentials_clear(&c);
  return 0;
}

/* --- options --- */

/* Matches --name VALUE and --name=VALUE. */
static int option(const char *name, int argc, char **argv, int *i,
                  const char **value)
{
  size_t n = strlen(name);
  const char *arg = argv[*i];

  if (strncmp(arg, name, n) != 0)
    return 0;
  if (arg[n] == '=') {
    *value = arg + n + 1;
    return 1;
  }
  if (arg[n] != '\0')
    return 0;
  *value = *i + 1 < argc ? argv[++*i] : NULL;
  return 1;
}

static int parse_port(const char *text, int *port)
{
  char *end;
  long v;

  if (text == NULL || *text < '0' || *text > '9')
    return -1;
  errno = 0;
  v = strtol(text, &end, 10);
  if (errno || *end != '\0' || v < 0 || v > 65535)
    return -1;
  *port = (int)v;
  return 0;
}

static int parse_args(int argc, char **argv, struct local_args *a)
{
  const char *dir = NULL, *v;
  int i;

  memset(a, 0, sizeof(*a));
  a->port = LOCAL_DEFAULT_PORT;
  for (i = 1; i < argc; i++) {
    const char *arg = argv[i];

    if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
      fputs(cli_find("local")->usage, stdout);
      exit(0);
    }
    if (arg[0] != '-') {
      if (a->sub) {
        cli_error("local", "unexpected argument \"%s\"", arg);
        return EXIT_USAGE;
      }
      a->sub = arg;
    } else if (option("--data-dir", argc, argv, &i, &v)) {
      if (v == NULL || *v == '\0')
        goto missing;
      dir = v;
    } else if (option("--port", argc, argv, &i, &v)) {
      if (parse_port(v, &a->port) != 0) {
        cli_error("local", "--port wants a number from 0 to 65535");
        return EXIT_USAGE;
      }
    } else if (option("--bind", argc, argv, &i, &v)) {
      if (v == NULL || *v == '\0')
        goto missing;
      a->bind = v;
    } else if (option("--faults", argc, argv, &i, &v)) {
      if (v == NULL)
        goto missing;
      a->faults = v;
    } else if (strcmp(arg, "--foreground") == 0) {
      a->foreground = 1;
    } else if (strcmp(arg, "-f") == 0 || strcmp(arg, "--follow") == 0) {
      a->follow = 1;
    } else {
      cli_error("local", "unknown option \"%s\" (see sagerun local --help)",
                arg);
      return EXIT_USAGE;
    }
    continue;
  missing:
    cli_error("local", "%s needs a value", arg);
    return EXIT_USAGE;
  }
  if (a->sub == NULL) {
    cli_error("local", "expected a command: start, stop, status, logs, "
                       "reset or credentials");
    return EXIT_USAGE;
  }
  return data_dir_resolve(dir, a->data_dir) == 0 ? 0 : EXIT_USAGE;
}

/* ---- How a run reaches the engine (target local) ---------------------- */

/* `sagerun local A1 [A2 A3]`, by the binary running now, its chatter on
 * stderr (stdout belongs to the run's output); 0 when it exits 0. */
static int run_self(const char *a1, const char *a2, const char *a3)
{
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  pid_t pid;
  int status;

  if (n <= 0)
    return SR_EIO;
  self[n] = '\0';
  fflush(stdout);
  pid = fork();
  if (pid < 0)
    return SR_EIO;
  if (pid == 0) {
    dup2(2, 1);
    execl(self, self, "local", a1, a2, a3, (char *)NULL);
    _exit(127);
  }
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
    ;
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : SR_EIO;
}

/* Whether the engine runs a binary that has since been replaced (a
 * rebuild): it could not start its training workers any more. */
static int engine_outdated(const struct local_args *a)
{
  char path[64], exe[PATH_MAX];
  pid_t pid = engine_pid(a);
  ssize_t n;

  if (pid <= 0)
    return 0;
  snprintf(path, sizeof(path), "/proc/%ld/exe", (long)pid);
  n = readlink(path, exe, sizeof(exe) - 1);
  if (n <= 0)
    return 0;
  exe[n] = '\0';
  return strstr(exe, " (deleted)") != NULL;
}

int local_connect(char *url, size_t url_len, struct aws_credentials *creds,
                  char *err, size_t errlen)
{
  struct local_args a;
  struct local_credentials lc;
  int port, rc;

  memset(creds, 0, sizeof(*creds));
  memset(&a, 0, sizeof(a));
  if (data_dir_resolve(NULL, a.data_dir) != 0) {
    snprintf(err, errlen, "no data directory for the local engine");
    return SR_EINVAL;
  }
  port = read_port(&a);
  if (port && port_answers(NULL, port) && engine_outdated(&a)) {
    /* Restarted on the new binary; its data stays. */
    run_self("stop", NULL, NULL);
    port = 0;
  }
  if (port == 0 || !port_answers(NULL, port)) {
    /* The usual port, else any free one (another engine, of another data
     * directory, may hold 4566). */
    if (run_self("start", NULL, NULL) != 0 &&
        run_self("start", "--port", "0") != 0) {
      snprintf(err, errlen,
               "`sagerun local start` failed (see sagerun "
               "local logs)");
      return SR_EIO;
    }
    port = read_port(&a);
    if (port == 0 || !port_answers(NULL, port)) {
      snprintf(err, errlen, "the local engine started but does not answer");
      return SR_ECONN;
    }
  }
  rc = local_credentials_load(a.data_dir, &lc, err, errlen);
  if (rc)
    return rc;
  snprintf(url, url_len, "http://127.0.0.1:%d", port);
  creds->access_key_id = strdup(lc.access_key_id);
  creds->secret_access_key = strdup(lc.secret_access_key);
  creds->source = "static";
  local_credentials_clear(&lc);
  if (creds->access_key_id == NULL || creds->secret_access_key == NULL)
    return SR_ENOMEM;
  return 0;
}

int cmd_local(int argc, char **argv)
{
  struct local_args a;
  int rc;

  if (argc > 1 && strcmp(argv[1], "worker") == 0) /* issue 6, worker.h */
    return local_worker_main(argc - 1, argv + 1);
  rc = parse_args(argc, argv, &a);
  if (rc)
    return rc;
  if (strcmp(a.sub, "start") == 0)
    return sub_start(&a);
  if (strcmp(a.sub, "stop") == 0)
    return sub_stop(&a);
  if (strcmp(a.sub, "status") == 0)
    return sub_status(&a);
  if (strcmp(a.sub, "logs") == 0)
    return sub_logs(&a);
  if (strcmp(a.sub, "reset") == 0)
    return sub_reset(&a);
  if (strcmp(a.sub, "credentials") == 0)
    return sub_credentials(&a);
  cli_error("local",
            "unknown command \"%s\": expected start, stop, status, "
            "logs, reset or credentials",
            a.sub);
  return EXIT_USAGE;
}
