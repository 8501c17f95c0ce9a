# seccomp-gen profile: args=strict default=errno 1 baseline=runc arches=observed
# host x86_64, kernel 6.18, libseccomp 2.5.4, backend ptrace
# recorded: prog
# note: clone3 is answered with ENOSYS (its flags are out of a filter's reach); glibc then uses clone(2), whose namespace flags are pinned
# note: x32 not used by the traces: calls of that ABI are killed (--arches family lists them)
# note: x86 socketcall(2)/ipc(2) multiplex socket and SysV IPC calls; their real arguments are in memory, so socket/socketpair argument rules do not cover them; only the sub-call number is pinned
# skipped: x86_64 syscall_0x1f4: libseccomp 2.5.4 has no name for nr 0x1f4 on x86_64; 1 call(s) cannot be allowed by name
# widened: firejail cannot check arguments: allowed with any arguments: clone ioctl mmap mmap2 mprotect personality prctl socketcall
seccomp.keep capget,capset,chdir,clone,clone3:ENOSYS,close,epoll_ctl,execve,exit_group,faccessat2,fcntl,fstat,fstatfs,futex,getcwd,getdents64,getpid,getppid,ioctl,mmap,mprotect,newfstatat,openat,personality,prctl,read,rt_sigreturn,sched_yield,setgid,setgroups,setuid,socket,tgkill,write
seccomp.32.keep clone3:ENOSYS,exit_group,mmap2,personality,read,socketcall,write
seccomp-error-action EPERM
protocol unix,inet
