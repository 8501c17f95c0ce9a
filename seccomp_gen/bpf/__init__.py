"""What the ebpf recorder needs from the kernel, without bpftrace, clang or libbpf: the kernel's
BTF read for field offsets (:mod:`.btf`), a small assembler (:mod:`.asm`), the bpf(2) calls
(:mod:`.kernel`) and the syscall-counting programs themselves (:mod:`.syscall_counter`)."""
