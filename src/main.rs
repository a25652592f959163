/// mimalloc, not the system allocator: hyper allocates a few times per request (headers,
/// buffers), and mimalloc's per-thread heaps keep that cheap on every core.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    portcullis::cli::run()
}
