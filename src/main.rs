/// mimalloc, not the system allocator: pingora allocates a few dozen times per request,
/// often freeing on another worker thread than the one that allocated, and glibc's arenas
/// contend on that. `benches/load.sh` measured 15-30% less CPU per request with it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    portcullis::cli::run()
}
