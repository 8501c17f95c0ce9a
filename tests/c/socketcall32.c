/* Built with -m32 -static: asks for an AF_ALG socket (family 38) twice with the i386 ABI, once
 * with the direct socket syscall (359) and once through the socketcall multiplexer (102,
 * SYS_SOCKET = 1), and prints the errno of each (0: a socket was made). Docker's default
 * profile pins socket's family to keep AF_ALG out, but a filter cannot read socketcall's
 * arguments: they are in memory. */
#include <errno.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(void)
{
    long args[3] = {38, 5 /* SOCK_SEQPACKET */, 0};
    long direct = syscall(359, 38, 5, 0);
    int direct_errno = direct < 0 ? errno : 0;
    long multiplexed = syscall(102, 1, args);
    int multiplexed_errno = multiplexed < 0 ? errno : 0;
    printf("direct=%d socketcall=%d\n", direct_errno, multiplexed_errno);
    return 0;
}
