//! `cargo xtask`: vrrpd's orchestration. Setup of the toolchain and packages, builds,
//! running the daemon, the test suite. Orchestration only: no product logic lives here.
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use setup::Needs;

mod bench;
mod deb;
mod demo;
mod run;
mod setup;
mod setup_check;
mod test;
mod vm;

#[derive(Debug, Parser)]
#[command(name = "cargo xtask", about = "Build, set up, test and run vrrpd")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Install what building and testing need: nightly rust-src, bpf-linker (built against
    /// nightly's libLLVM), cargo-fuzz, and (as root on Debian) the test packages. Idempotent.
    Setup {
        /// Install only what this needs (`build`, `demo`); everything by default.
        #[arg(long, value_enum, default_value = "all")]
        only: Needs,
    },
    /// Prove the install path: run `cargo xtask setup` in a scratch HOME and CARGO_HOME
    /// where bpf-linker and cargo-fuzz are absent, then build vrrpd with the bpf-linker it
    /// produced. CI runs this on every submission.
    SetupCheck,
    /// Set up, then build vrrpd (with its embedded XDP program) in release mode.
    Build,
    /// Build, then run `vrrpd run ARGS...` in the foreground (Ctrl-C stops and detaches).
    BuildAndLoad {
        /// Configuration to run (YAML or keepalived.conf): `vrrpd run --config FILE`.
        #[arg(long)]
        config: Option<PathBuf>,
        /// More arguments for `vrrpd run`, e.g. `-- --interface eth0`.
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Set up, then run everything CI runs: fmt, clippy (host and bpf), unit, codec and
    /// privileged namespace tests, fuzz target builds with a short bounded run each; then
    /// the kernel matrix: the XDP program's tests on each of `--kernels` in a VM, and the
    /// case study against keepalived on Debian 13's kernel.
    Test {
        /// Debian kernels to test in VMs (`5.10`, `6.1`, `6.12`), comma-separated; `none`
        /// runs the host suite alone. By default the kernels the program loads on.
        #[arg(long, value_delimiter = ',', default_values_t = vm::supported_names())]
        kernels: Vec<String>,
        /// Only the kernel matrix, without the host suite.
        #[arg(long)]
        matrix_only: bool,
    },
    /// Run a command as root in a VM booted on one of Debian's kernels over this machine's
    /// root (virtme-ng; fetched from Debian's archive and cached in target/vm), e.g.
    /// `cargo xtask vm --kernel 6.12 -- target/release/vrrpd run -f FILE`. Exits with the
    /// command's status.
    Vm {
        /// `5.10` (Debian 11), `6.1` (Debian 12), `6.12` (Debian 13), or a path to a vmlinuz.
        #[arg(long)]
        kernel: String,
        #[arg(long, default_value_t = 2)]
        cpus: u32,
        /// Guest memory in MiB.
        #[arg(long, default_value_t = 4096)]
        memory: u32,
        /// Seconds before the VM is killed.
        #[arg(long, default_value_t = 3600)]
        timeout: u64,
        /// The command and its arguments, run from the repository root.
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// The seed case study, live in network namespaces.
    Demo,
    /// Build the Debian package `target/debian/vrrpd_VERSION_ARCH.deb` (the binary, the
    /// systemd unit, an example /etc/vrrpd/vrrpd.yaml, the docs); prints its path.
    Deb,
    /// Benchmarks; each prints its figures next to a baseline measured in the same run
    /// and writes them to BENCHMARKS.md.
    Bench {
        #[arg(value_enum)]
        what: bench::Bench,
        /// More arguments for the benchmark binary, e.g. `-- --counts 1,10 --rest 5`.
        #[arg(last = true)]
        args: Vec<String>,
    },
}

fn main() -> anyhow::Result<()> {
    let root = workspace_root();
    match Cli::parse().command {
        Command::Setup { only } => setup::run(&root, only),
        Command::SetupCheck => setup_check::run(&root),
        Command::Build => {
            setup::run(&root, Needs::Build)?;
            run::build_release(&root).map(drop)
        }
        Command::BuildAndLoad { config, mut args } => {
            setup::run(&root, Needs::Build)?;
            let vrrpd = run::build_release(&root)?;
            if let Some(config) = config {
                let config = std::path::absolute(&config).unwrap_or(config);
                args.splice(0..0, ["--config".to_owned(), config.display().to_string()]);
            }
            run::exec_vrrpd(&vrrpd, &args)
        }
        Command::Test {
            kernels,
            matrix_only,
        } => {
            setup::run(&root, Needs::All)?;
            let kernels: Vec<String> = kernels.into_iter().filter(|k| k != "none").collect();
            if !matrix_only {
                test::run(&root)?;
            }
            test::kernel_matrix(&root, &kernels)
        }
        Command::Vm {
            kernel,
            cpus,
            memory,
            timeout,
            command,
        } => {
            vm::setup()?;
            let kernel = vm::kernel(&root, &kernel)?;
            let options = vm::Options {
                cpus,
                memory_mib: memory,
                timeout: std::time::Duration::from_secs(timeout),
                stream: true,
            };
            let code = vm::run(&root, &kernel, &command, options)?;
            std::process::exit(code)
        }
        Command::Bench { what, args } => {
            setup::run(&root, Needs::All)?;
            bench::run(&root, what, &args)
        }
        Command::Deb => {
            setup::run(&root, Needs::Build)?;
            deb::run(&root).map(drop)
        }
        Command::Demo => {
            setup::run(&root, Needs::Demo)?;
            let vrrpd = run::build_release(&root)?;
            demo::run(&root, &vrrpd)
        }
    }
}

/// The workspace root: xtask's manifest directory's parent.
fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}
