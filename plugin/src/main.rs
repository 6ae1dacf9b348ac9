//! `sema-live`: the command line of Sema Live (see `cli::command`).

fn main() -> std::process::ExitCode {
    sema_live::cli::main()
}
