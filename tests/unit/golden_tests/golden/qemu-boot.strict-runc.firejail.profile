# seccomp-gen profile: args=strict default=errno 1 baseline=runc arches=observed
# host x86_64, kernel 6.18.44-fc-v1045, libseccomp 2.5.4, backend ptrace, pinned to cpu 1
# recorded: qemu-system-x86_64 -nographic -no-reboot -m 256 -kernel /boot/vmlinuz-6.1.0-57-amd64 -append 'console=ttyS0 panic=-1'
# note: clone3 is answered with ENOSYS (its flags are out of a filter's reach); glibc then uses clone(2), whose namespace flags are pinned
# note: x86, x32 not used by the traces: calls of those ABIs are killed (--arches family lists them)
# widened: firejail cannot check arguments: allowed with any arguments: arch_prctl clone ioctl mmap mprotect prctl
seccomp.keep access,arch_prctl,brk,capget,capset,chdir,clock_nanosleep,clone,clone3:ENOSYS,close,epoll_ctl,eventfd2,execve,exit_group,faccessat2,fchdir,fcntl,fstat,fstatfs,futex,get_mempolicy,getcwd,getdents64,getpid,getppid,getrandom,gettid,io_uring_setup,ioctl,lseek,madvise,memfd_create,mmap,mprotect,munmap,newfstatat,openat,ppoll,prctl,pread64,prlimit64,read,readlink,readv,rseq,rt_sigaction,rt_sigprocmask,rt_sigreturn,sched_getaffinity,sched_yield,seccomp,set_mempolicy,set_robust_list,set_tid_address,setgid,setgroups,setuid,signalfd4,statfs,sysinfo,tgkill,write,writev
seccomp.block-secondary
seccomp-error-action EPERM
