/* A 64-bit program making 32-bit syscalls through int $0x80 (i386 getpid = 20, i386 getuid32 =
 * 199) and one x32 syscall (getpid | __X32_SYSCALL_BIT). If the kernel has no x32 support that
 * call returns -ENOSYS, which is fine: a tracer still sees its entry. Prints the results. */
#include <stdio.h>

static long int80(long nr)
{
    long ret;
    __asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr) : "memory");
    return ret;
}

static long sys64(long nr)
{
    long ret;
    __asm__ volatile("syscall" : "=a"(ret) : "a"(nr) : "rcx", "r11", "memory");
    return ret;
}

int main(void)
{
    long pid32 = int80(20);
    long uid32 = int80(199);
    long pidx32 = sys64(0x40000000L | 39);
    printf("i386 getpid=%ld getuid32=%ld x32 getpid=%ld\n", pid32, uid32, pidx32);
    return 0;
}
