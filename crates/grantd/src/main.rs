/// mimalloc rather than glibc's allocator: a proxied call allocates and
/// frees many small buffers on two threads, and glibc's allocator was a
/// fifth of the proxy's CPU time in the benchmark (BENCHMARKS.md §7). Only
/// the binary: tests and embedders of the library keep their own.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    grantd::cli::main()
}
