/* Call sites for the recorders' call-site tests: N times (argv[1], default 3) a write(2) of one
 * byte to stdout through glibc's wrapper (the site is in libc.so.6) and a getppid made by the
 * syscall instruction of raw_getppid below, right before the global label
 * site_probe_after_syscall (the site is in this executable, at that label: every backend
 * reports the address after the syscall instruction). With a second argument EXE it then execs
 * EXE N (a copy of itself: the same addresses, another file); with +S instead it then sleeps S
 * seconds (a reader of asynchronous records finds it alive). Built with -shared -fPIC too, for
 * recording() to call site_probe() in a shared object. */
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

__attribute__((noinline)) static long raw_getppid(void)
{
    long ret;
    __asm__ volatile("syscall\n"
                     ".globl site_probe_after_syscall\n"
                     "site_probe_after_syscall:\n"
                     : "=a"(ret)
                     : "a"((long)SYS_getppid)
                     : "rcx", "r11", "memory");
    return ret;
}

int site_probe(long n, int fd)
{
    for (long i = 0; i < n; i++) {
        if (write(fd, "x", 1) != 1)
            return 1;
        if (raw_getppid() <= 0)
            return 2;
    }
    return 0;
}

int main(int argc, char **argv)
{
    int rc = site_probe(argc > 1 ? strtol(argv[1], NULL, 10) : 3, 1);
    if (rc == 0 && argc > 2 && argv[2][0] == '+') {
        sleep((unsigned)strtoul(argv[2] + 1, NULL, 10));
    } else if (rc == 0 && argc > 2) {
        char *next[] = {argv[2], argv[1], NULL};
        execv(argv[2], next);
        return 3;
    }
    return rc;
}
