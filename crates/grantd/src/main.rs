fn main() -> std::process::ExitCode {
    grantd::cli::main()
}
