# seccomp-gen profile: args=strict default=errno 1 baseline=runc arches=observed
# host x86_64, kernel 6.18.44-fc-v1045, libseccomp 2.5.4, backend ptrace, pinned to cpu 1
# recorded: ls -la /
# note: x86, x32 not used by the traces: calls of those ABIs are killed (--arches family lists them)
# widened: firejail cannot check arguments: allowed with any arguments: arch_prctl ioctl mmap mprotect prctl
seccomp.keep access,arch_prctl,brk,capget,capset,chdir,clone3:ENOSYS,close,connect,epoll_ctl,execve,exit_group,faccessat2,fcntl,fstat,fstatfs,futex,getcwd,getdents64,getpid,getppid,getrandom,getxattr,ioctl,lgetxattr,lseek,mmap,mprotect,munmap,newfstatat,openat,prctl,pread64,prlimit64,read,readlink,rseq,rt_sigreturn,sched_yield,set_robust_list,set_tid_address,setgid,setgroups,setuid,socket,statfs,statx,tgkill,write
seccomp.block-secondary
seccomp-error-action EPERM
protocol unix
