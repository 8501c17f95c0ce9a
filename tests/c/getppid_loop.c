/* Calls getppid N times (N = argv[1], default 100000) through the raw syscall so that libc
 * cannot cache or elide any call. */
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : 100000;
    for (long i = 0; i < n; i++)
        syscall(SYS_getppid);
    return 0;
}
