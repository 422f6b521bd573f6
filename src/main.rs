//! The `medtap` command: parses arguments, sets up logging, runs the
//! subcommand, and turns errors into a cause chain on stderr and an exit code.

mod cli;

use clap::Parser;
use std::process::ExitCode;

/// mimalloc instead of glibc's malloc: records are allocated on the hot
/// path and freed by the writer thread, which glibc handles with arena
/// locking and consolidation. Its arenas commit memory as it is used
/// (`MI_DEFAULT_ARENA_EAGER_COMMIT=0` in .cargo/config.toml).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(code) => code,
        // The reader went away (`medtap flows | head`): nothing left to say.
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("medtap: error: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::from(2)
        }
    }
}

/// True when the error comes from writing to a closed pipe.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            || c.downcast_ref::<serde_json::Error>()
                .and_then(|e| e.io_error_kind())
                .is_some_and(|k| k == std::io::ErrorKind::BrokenPipe)
    })
}
