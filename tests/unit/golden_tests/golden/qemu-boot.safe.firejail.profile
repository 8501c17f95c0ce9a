# seccomp-gen profile: args=safe default=errno 1 baseline=none arches=observed
# host x86_64, kernel 6.18.44-fc-v1045, libseccomp 2.5.4, backend ptrace, pinned to cpu 1
# recorded: qemu-system-x86_64 -nographic -no-reboot -m 256 -kernel /boot/vmlinuz-6.1.0-57-amd64 -append 'console=ttyS0 panic=-1'
# note: clone3 is answered with ENOSYS (its flags are out of a filter's reach); glibc then uses clone(2), whose namespace flags are pinned
# note: x86, x32 not used by the traces: calls of those ABIs are killed (--arches family lists them)
# widened: firejail cannot check arguments: allowed with any arguments: clone prctl
seccomp.keep access,arch_prctl,brk,clock_nanosleep,clone,clone3:ENOSYS,close,eventfd2,execve,exit_group,fchdir,fcntl,futex,get_mempolicy,getdents64,getrandom,gettid,io_uring_setup,ioctl,lseek,madvise,memfd_create,mmap,mprotect,munmap,newfstatat,openat,ppoll,prctl,pread64,prlimit64,read,readlink,readv,rseq,rt_sigaction,rt_sigprocmask,sched_getaffinity,seccomp,set_mempolicy,set_robust_list,set_tid_address,signalfd4,statfs,sysinfo,write,writev
seccomp.block-secondary
seccomp-error-action EPERM
