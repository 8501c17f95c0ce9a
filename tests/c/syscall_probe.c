/* Makes each syscall number given on the command line (decimal or 0x hex) with six zero
 * arguments, through the raw syscall(2) so that libc adds nothing, and prints "NR ERRNO" for
 * each (0: it returned without an error). Built static with musl so that a container without
 * a libc runs it too. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/syscall.h>

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        long nr = strtol(argv[i], NULL, 0);
        errno = 0;
        long rc = syscall(nr, 0L, 0L, 0L, 0L, 0L, 0L);
        printf("%s %d\n", argv[i], rc == -1 ? errno : 0);
    }
    return 0;
}
