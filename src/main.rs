//! The `berth` binary: parse the command line and hand over to [`berth::cli`].

fn main() -> std::process::ExitCode {
    berth::cli::main()
}
