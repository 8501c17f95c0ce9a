/* clock_gettime(CLOCK_PROCESS_CPUTIME_ID) through libc: glibc calls the vDSO's clock_gettime,
 * which has no fast path for CPU-time clocks and makes the syscall itself, so the call site is
 * in [vdso]. argv[1]: how many calls (default 3). */
#include <stdlib.h>
#include <time.h>

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 3;
    struct timespec ts;
    for (int i = 0; i < n; i++)
        if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0)
            return 1;
    return 0;
}
