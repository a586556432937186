/* A small static program run inside test containers: performs one syscall
 * (or action) named on the command line and prints "ok" or the errno name,
 * so tests can see exactly what the kernel answered from inside. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/keyctl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <stddef.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>
#include <dirent.h>

static const char *ename(int e) {
    switch (e) {
    case EPERM: return "EPERM";
    case ENOSYS: return "ENOSYS";
    case EACCES: return "EACCES";
    case EINVAL: return "EINVAL";
    case EFAULT: return "EFAULT";
    case ENOENT: return "ENOENT";
    case EROFS: return "EROFS";
    case ECONNREFUSED: return "ECONNREFUSED";
    case EBADF: return "EBADF";
    case ENOMEM: return "ENOMEM";
    default: { static char b[32]; snprintf(b, sizeof b, "E%d", e); return b; }
    }
}

static int report(long r) {
    if (r < 0) { printf("%s\n", ename(errno)); return 1; }
    printf("ok\n");
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: probe WHAT [ARG]\n"); return 2; }
    const char *w = argv[1];
    if (!strcmp(w, "keyctl")) return report(syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0));
    if (!strcmp(w, "add_key")) return report(syscall(SYS_add_key, "user", "ward", "x", 1, KEY_SPEC_PROCESS_KEYRING));
    if (!strcmp(w, "unshare-user")) return report(unshare(CLONE_NEWUSER));
    if (!strcmp(w, "unshare-ns")) return report(unshare(CLONE_NEWNS));
    if (!strcmp(w, "mount")) return report(mount("none", "/tmp", "tmpfs", 0, NULL));
    if (!strcmp(w, "bpf")) return report(syscall(SYS_bpf, 0, NULL, 0));
    if (!strcmp(w, "io_uring_setup")) return report(syscall(SYS_io_uring_setup, 1, NULL));
    if (!strcmp(w, "userfaultfd")) return report(syscall(SYS_userfaultfd, 0));
    if (!strcmp(w, "perf_event_open")) return report(syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0));
    if (!strcmp(w, "open_by_handle_at")) {
        /* a well-formed but guessed handle: only privilege decides */
        struct { unsigned int bytes; int type; unsigned char h[8]; } fh = {8, 1, {2, 0, 0, 0, 0, 0, 0, 0}};
        return report(syscall(SYS_open_by_handle_at, AT_FDCWD, &fh, O_RDONLY));
    }
    if (!strcmp(w, "ptrace")) return report(syscall(SYS_ptrace, 0x4206 /*SEIZE*/, 1, 0, 0));
    if (!strcmp(w, "getpid")) return report(getpid());
    if (!strcmp(w, "ids")) { printf("uid=%d euid=%d\n", (int)getuid(), (int)geteuid()); return 0; }
    if (!strcmp(w, "nr1000")) return report(syscall(1000));
    if (!strcmp(w, "getcwd")) { char b[256]; return report(syscall(SYS_getcwd, b, sizeof b)); }
    if (!strcmp(w, "getpriority")) {
        errno = 0;
        long r = syscall(SYS_getpriority, atoi(argv[2]), 0);
        return report(r < 0 && errno ? -1 : 0);
    }
    if (!strcmp(w, "mkdir")) return report(mkdir(argv[2], 0755));
    if (!strcmp(w, "write")) {
        int fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0) return report(-1);
        return report(write(fd, "x", 1));
    }
    if (!strcmp(w, "connect-abstract")) {
        int s = socket(AF_UNIX, SOCK_STREAM, 0);
        struct sockaddr_un a = {.sun_family = AF_UNIX};
        size_t n = strlen(argv[2]);
        memcpy(a.sun_path + 1, argv[2], n);
        return report(connect(s, (struct sockaddr *)&a, offsetof(struct sockaddr_un, sun_path) + 1 + n));
    }
    if (!strcmp(w, "kill")) return report(kill(atoi(argv[2]), 0));
    if (!strcmp(w, "open-ward-exe")) {
        /* every runtime process ("ward", or libcontainer's "youki:[N:...]") entering this container:
         * can we open its /proc/<pid>/exe? */
        DIR *d = opendir("/proc");
        struct dirent *e;
        int found = 0;
        while (d && (e = readdir(d))) {
            char p[300], comm[64] = "";
            if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
            snprintf(p, sizeof p, "/proc/%s/comm", e->d_name);
            FILE *f = fopen(p, "r");
            if (!f) continue;
            if (!fgets(comm, sizeof comm, f)) comm[0] = 0;
            fclose(f);
            if (strncmp(comm, "ward", 4) && strncmp(comm, "youki:", 6)) continue;
            found = 1;
            snprintf(p, sizeof p, "/proc/%s/exe", e->d_name);
            int fd = open(p, O_RDONLY);
            printf("%s %s\n", e->d_name, fd >= 0 ? "opened" : ename(errno));
        }
        if (!found) printf("none\n");
        return 0;
    }
    fprintf(stderr, "probe: unknown %s\n", w);
    return 2;
}
