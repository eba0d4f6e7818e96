//! `cargo xtask vm`: Debian's own kernels booted in a VM over this machine's root, to run a
//! command (a test binary, vrrpd, keepalived) on the kernels directors run.
//!
//! - The kernels come from Debian's archive through apt with a private sources list and
//!   state (`target/vm/apt`), nothing installed on the host: `linux-image-*-amd64-unsigned`
//!   of bullseye (5.10), bookworm (6.1) and trixie (6.12), the newest of each, unpacked with
//!   `dpkg-deb -x` into `target/vm/kernels`. Their modules (8021q, bonding, macvlan, netem,
//!   ip_vs) stay there; virtme-ng links them into the guest's `/lib/modules`.
//! - virtme-ng (PyPI) boots the kernel with qemu (Debian's `qemu-system-x86`) over the
//!   host's root, read-only but for `target/` and the run's own folder. KVM is used where it
//!   works; nested KVM hangs on some hosts, so a short probe decides once per host boot, and
//!   the VM falls back to TCG (`VRRPD_VM_ACCEL=kvm|tcg` decides without the probe).
//! - The command's output and exit status come back through files in the run's folder
//!   (virtme-ng's console carries the kernel's messages too); the output is streamed while
//!   the VM runs, the console kept in `console.log` beside it.
use std::{
    fs,
    io::{Read as _, Seek as _, SeekFrom, Write as _},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};

use crate::run::{output, status, step};

/// virtme-ng's release the harness was verified with.
const VIRTME_NG_VERSION: &str = "1.42";
/// Debian packages the VM needs on the host.
const VM_PACKAGES: [&str; 3] = ["qemu-system-x86", "kmod", "file"];
/// Debian's signing keys for the private sources list.
const KEYRING: &str = "/usr/share/keyrings/debian-archive-keyring.gpg";
const MIRROR: &str = "http://deb.debian.org/debian";

/// A kernel series of the matrix: the name on the command line, the Debian suite that
/// ships it, and the prefix of its image package.
struct Series {
    name: &'static str,
    suite: &'static str,
    package_prefix: &'static str,
}

/// The kernels directors run on Debian 11, 12 and 13.
const MATRIX: [Series; 3] = [
    Series {
        name: "5.10",
        suite: "bullseye",
        package_prefix: "linux-image-5.10.0-",
    },
    Series {
        name: "6.1",
        suite: "bookworm",
        package_prefix: "linux-image-6.1.0-",
    },
    Series {
        name: "6.12",
        suite: "trixie",
        package_prefix: "linux-image-6.12.",
    },
];

/// Every series of the matrix, as `--kernel` names them.
pub fn matrix_names() -> Vec<String> {
    MATRIX.iter().map(|s| s.name.to_owned()).collect()
}

/// The kernels `cargo xtask test` runs by default: those the XDP program loads on. 5.10
/// and 6.1 boot, but their verifiers refuse the program (see the README's kernel table).
pub fn supported_names() -> Vec<String> {
    vec!["6.12".to_owned()]
}

/// A kernel ready to boot.
#[derive(Debug, Clone)]
pub struct Kernel {
    /// As asked for (`6.1`).
    pub name: String,
    /// `uname -r` in the guest (`6.1.0-50-amd64`).
    pub release: String,
    vmlinuz: PathBuf,
}

/// How a VM is sized and bounded.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub cpus: u32,
    pub memory_mib: u32,
    /// The whole run, boot included; the VM is killed past it.
    pub timeout: Duration,
    /// Print the command's output while it runs.
    pub stream: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            cpus: 2,
            memory_mib: 4096,
            timeout: Duration::from_secs(3600),
            stream: true,
        }
    }
}

/// Installs what booting a VM needs: the Debian packages and virtme-ng.
pub fn setup() -> anyhow::Result<()> {
    crate::setup::debian_packages("vm", &VM_PACKAGES)?;
    if output(Command::new("vng").arg("--version")).is_some_and(|v| v.contains(VIRTME_NG_VERSION)) {
        step("[vm] virtme-ng: present");
        return Ok(());
    }
    step(&format!(
        "[vm] virtme-ng {VIRTME_NG_VERSION}: installing from PyPI"
    ));
    status(Command::new("python3").args([
        "-m",
        "pip",
        "install",
        "--quiet",
        &format!("virtme-ng=={VIRTME_NG_VERSION}"),
    ]))
    .context("installing virtme-ng; run: python3 -m pip install virtme-ng")?;
    if output(Command::new("vng").arg("--version")).is_none() {
        bail!("virtme-ng was installed but `vng` is not on PATH; add pip's script folder to PATH");
    }
    Ok(())
}

/// The kernel `name` (a series of the matrix, or a path to a `vmlinuz` whose modules sit
/// in `../lib/modules` as in an unpacked package), fetched and unpacked if needed.
pub fn kernel(root: &Path, name: &str) -> anyhow::Result<Kernel> {
    if Path::new(name).is_file() {
        let vmlinuz = std::path::absolute(name)?;
        let release = vmlinuz
            .file_name()
            .and_then(|f| f.to_str())
            .and_then(|f| f.strip_prefix("vmlinuz-"))
            .with_context(|| format!("{name}: expected a file named vmlinuz-RELEASE"))?
            .to_owned();
        return Ok(Kernel {
            name: name.to_owned(),
            release,
            vmlinuz,
        });
    }
    let Some(series) = MATRIX.iter().find(|s| s.name == name) else {
        bail!(
            "unknown kernel {name}: use one of {} or a path to a vmlinuz",
            matrix_names().join(", ")
        );
    };
    let vm = root.join("target/vm");
    let package = newest_image(&vm, series)?;
    let unpacked = vm.join("kernels").join(&package);
    let release = package
        .strip_prefix("linux-image-")
        .and_then(|p| p.strip_suffix("-unsigned"))
        .with_context(|| format!("unexpected package name {package}"))?
        .to_owned();
    let vmlinuz = unpacked.join("boot").join(format!("vmlinuz-{release}"));
    if !vmlinuz.exists() {
        step(&format!(
            "[vm] fetching {package} from Debian {}",
            series.suite
        ));
        let debs = vm.join("debs");
        fs::create_dir_all(&debs)?;
        status(
            apt(&vm, "apt-get")
                .current_dir(&debs)
                .args(["download", &package]),
        )
        .with_context(|| format!("downloading {package}"))?;
        let deb = fs::read_dir(&debs)?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| {
                p.file_name()
                    .and_then(|f| f.to_str())
                    .is_some_and(|f| f.starts_with(&format!("{package}_")))
            })
            .with_context(|| format!("apt-get downloaded no {package}_*.deb"))?;
        let partial = vm.join("kernels").join(format!("{package}.partial"));
        let _ = fs::remove_dir_all(&partial);
        fs::create_dir_all(&partial)?;
        status(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&partial))?;
        fs::rename(&partial, &unpacked)?;
        fs::remove_file(&deb)?;
    }
    Ok(Kernel {
        name: name.to_owned(),
        release,
        vmlinuz,
    })
}

/// An apt command on the private sources list and state under `vm/apt`.
fn apt(vm: &Path, program: &str) -> Command {
    let apt = vm.join("apt");
    let mut command = Command::new(program);
    for (option, value) in [
        ("Dir::Etc::SourceList", apt.join("sources.list")),
        ("Dir::Etc::SourceParts", PathBuf::from("/dev/null")),
        ("Dir::State::Lists", apt.join("lists")),
        ("Dir::Cache", apt.join("cache")),
    ] {
        command
            .arg("-o")
            .arg(format!("{option}={}", value.display()));
    }
    command
}

/// The newest `linux-image-*-amd64-unsigned` package of `series` (apt's lists fetched
/// once, then again when older than a day).
fn newest_image(vm: &Path, series: &Series) -> anyhow::Result<String> {
    let apt_dir = vm.join("apt");
    let lists = apt_dir.join("lists");
    let stamp = apt_dir.join("updated");
    let fresh = fs::metadata(&stamp)
        .and_then(|m| m.modified())
        .is_ok_and(|t| t.elapsed().is_ok_and(|e| e < Duration::from_secs(86_400)));
    if !fresh {
        fs::create_dir_all(lists.join("partial"))?;
        fs::create_dir_all(apt_dir.join("cache/archives/partial"))?;
        let sources: String = MATRIX
            .iter()
            .map(|s| format!("deb [signed-by={KEYRING}] {MIRROR} {} main\n", s.suite))
            .collect();
        fs::write(apt_dir.join("sources.list"), sources)?;
        step("[vm] reading Debian's kernel package lists (bullseye, bookworm, trixie)");
        status(apt(vm, "apt-get").args(["update", "-q"]))
            .context("apt-get update on the private sources list")?;
        fs::write(&stamp, "")?;
    }
    let names = output(apt(vm, "apt-cache").args([
        "search",
        "--names-only",
        &format!("^{}", series.package_prefix.replace('.', "\\.")),
    ]))
    .context("apt-cache search")?;
    names
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|p| {
            p.ends_with("-amd64-unsigned")
                && !p.contains("-cloud-")
                && !p.contains("-rt-")
                && p.starts_with(series.package_prefix)
        })
        .max_by_key(|p| version_key(p))
        .map(str::to_owned)
        .with_context(|| {
            format!(
                "Debian {} offers no {}*",
                series.suite, series.package_prefix
            )
        })
}

/// The numbers of a package name, for ordering `6.1.0-47` before `6.1.0-50`.
fn version_key(package: &str) -> Vec<u64> {
    package
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect()
}

/// Whether KVM works here: `VRRPD_VM_ACCEL`, else a probe boot (cached for this host
/// boot in `target/vm/accel`).
fn use_kvm(root: &Path, kernel: &Kernel) -> anyhow::Result<bool> {
    match std::env::var("VRRPD_VM_ACCEL").as_deref() {
        Ok("kvm") => return Ok(true),
        Ok("tcg") => return Ok(false),
        Ok(other) => bail!("VRRPD_VM_ACCEL={other}: use kvm or tcg"),
        Err(_) => {}
    }
    if !Path::new("/dev/kvm").exists() {
        return Ok(false);
    }
    let boot = fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default();
    let cache = root.join("target/vm/accel");
    if let Ok(cached) = fs::read_to_string(&cache)
        && let Some((id, accel)) = cached.split_once(' ')
        && id == boot.trim()
    {
        return Ok(accel.trim() == "kvm");
    }
    step("[vm] probing KVM (nested KVM hangs on some hosts; TCG is the fallback)");
    let probe = boot_vm(
        root,
        kernel,
        &["true".to_owned()],
        true,
        Options {
            cpus: 1,
            memory_mib: 1024,
            timeout: Duration::from_secs(60),
            stream: false,
        },
    );
    let kvm = probe.is_ok_and(|code| code == 0);
    fs::create_dir_all(root.join("target/vm"))?;
    fs::write(
        &cache,
        format!("{} {}\n", boot.trim(), if kvm { "kvm" } else { "tcg" }),
    )?;
    step(&format!(
        "[vm] {}",
        if kvm {
            "KVM works"
        } else {
            "KVM does not boot here: using TCG (slower)"
        }
    ));
    Ok(kvm)
}

/// Runs `command` (a program and its arguments, run from the repository root) as root in
/// a VM on `kernel`; returns its exit status.
pub fn run(
    root: &Path,
    kernel: &Kernel,
    command: &[String],
    options: Options,
) -> anyhow::Result<i32> {
    let kvm = use_kvm(root, kernel)?;
    boot_vm(root, kernel, command, kvm, options)
}

fn boot_vm(
    root: &Path,
    kernel: &Kernel,
    command: &[String],
    kvm: bool,
    options: Options,
) -> anyhow::Result<i32> {
    let dir = root
        .join("target/vm/run")
        .join(format!("{}-{}", kernel.release, std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir)?;
    let (script, out, code) = (
        dir.join("script.sh"),
        dir.join("output"),
        dir.join("status"),
    );
    let mut text = String::from("#!/bin/sh\n");
    for var in [
        "PATH",
        "HOME",
        "CI",
        "RUST_BACKTRACE",
        "RUST_LOG",
        "VRRPD_TEST_KERNEL",
    ] {
        if let Ok(value) = std::env::var(var) {
            text += &format!("export {var}={}\n", quote(&value));
        }
    }
    text += &format!("export VRRPD_VM_KERNEL={}\n", quote(&kernel.name));
    text += &format!("cd {}\n", quote(&root.display().to_string()));
    let line: Vec<String> = command.iter().map(|a| quote(a)).collect();
    text += &format!(
        "{} > {} 2>&1 < /dev/null\necho $? > {}\n",
        line.join(" "),
        quote(&out.display().to_string()),
        quote(&code.display().to_string())
    );
    fs::write(&script, text)?;
    fs::write(&out, "")?;
    let console = fs::File::create(dir.join("console.log"))?;
    let mut vng = Command::new("vng");
    vng.arg("--run")
        .arg(&kernel.vmlinuz)
        .args(["--user", "root", "--disable-microvm"])
        .args(["--cpus", &options.cpus.to_string()])
        .args(["--memory", &format!("{}M", options.memory_mib)])
        .arg("--rwdir")
        .arg(root.join("target"))
        .arg("--cwd")
        .arg(root)
        .arg("--exec")
        .arg(format!("sh {}", quote(&script.display().to_string())));
    if !kvm {
        vng.arg("--disable-kvm");
    }
    let mut child = vng
        .stdin(Stdio::null())
        .stdout(console.try_clone()?)
        .stderr(console)
        .spawn()
        .context("starting vng (cargo xtask vm installs it)")?;
    let started = Instant::now();
    let mut reader = fs::File::open(&out)?;
    let mut printed = 0u64;
    let mut stream = |printed: &mut u64| -> anyhow::Result<()> {
        if !options.stream {
            return Ok(());
        }
        reader.seek(SeekFrom::Start(*printed))?;
        let mut chunk = Vec::new();
        reader.read_to_end(&mut chunk)?;
        *printed += chunk.len() as u64;
        std::io::stdout().write_all(&chunk)?;
        std::io::stdout().flush()?;
        Ok(())
    };
    let exited = loop {
        stream(&mut printed)?;
        if let Some(exit) = child.try_wait()? {
            break Some(exit);
        }
        if started.elapsed() > options.timeout {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    stream(&mut printed)?;
    let Some(_) = exited else {
        bail!(
            "the VM on {} did not finish within {:?}; its console: {}",
            kernel.release,
            options.timeout,
            dir.join("console.log").display()
        );
    };
    let Some(code) = fs::read_to_string(&code)
        .ok()
        .and_then(|c| c.trim().parse().ok())
    else {
        bail!(
            "the VM on {} ended without the command's status (it did not boot, or the \
             command was killed); its console: {}",
            kernel.release,
            dir.join("console.log").display()
        );
    };
    // Only what failed is kept for reading.
    if code == 0 {
        let _ = fs::remove_dir_all(&dir);
    }
    Ok(code)
}

/// `value` quoted for `sh`.
fn quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}
