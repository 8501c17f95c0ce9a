# seccomp-gen profile: args=safe default=errno 1 baseline=none arches=observed
# host x86_64, kernel 6.18.44-fc-v1045, libseccomp 2.5.4, backend ptrace, pinned to cpu 1
# recorded: sh sample_traces/src/http_server_requests.sh 8765
# note: clone3 is answered with ENOSYS (its flags are out of a filter's reach); glibc then uses clone(2), whose namespace flags are pinned
# note: x86, x32 not used by the traces: calls of those ABIs are killed (--arches family lists them)
# widened: firejail cannot check arguments: allowed with any arguments: clone socketpair
seccomp.keep accept4,access,arch_prctl,bind,brk,clock_nanosleep,clone,clone3:ENOSYS,close,connect,dup2,epoll_create1,execve,exit,exit_group,fcntl,futex,getcwd,getdents64,getegid,geteuid,getgid,getpeername,getpid,getppid,getrandom,getsockname,getsockopt,gettid,getuid,ioctl,kill,listen,lseek,madvise,mmap,mprotect,munmap,newfstatat,openat,pipe2,poll,pread64,prlimit64,read,readlink,recvfrom,rseq,rt_sigaction,rt_sigprocmask,rt_sigreturn,rt_sigsuspend,sendto,set_robust_list,set_tid_address,setsockopt,shutdown,socket,socketpair,sysinfo,uname,vfork,wait4,write
seccomp.block-secondary
seccomp-error-action EPERM
protocol unix,inet
