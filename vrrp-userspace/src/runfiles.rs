//! The files a running daemon owns: its pid file and its control socket.
//!
//! Neither is ever taken from another daemon that is still running, and neither replaces a
//! file of another kind. As keepalived does with its pid files, a pid file that names a
//! live vrrpd stops the start; one left by a process that is gone (or whose pid now belongs
//! to another program) is stale and taken over. A control socket that answers belongs to a
//! running daemon; one that refuses connections is stale. At exit each file is removed only
//! if it is still ours.
use std::{
    fs,
    io::{self, Write as _},
    os::unix::fs::{DirBuilderExt as _, FileTypeExt as _, MetadataExt as _, OpenOptionsExt as _},
    path::{Path, PathBuf},
};

use anyhow::{Context as _, bail};

/// Where the packaged service keeps its files (systemd's `RuntimeDirectory=vrrpd`).
pub const DEFAULT_DIR: &str = "/run/vrrpd";
/// `--socket` without a path, and `vrrpd status` without `--socket`.
pub const DEFAULT_SOCKET: &str = "/run/vrrpd/vrrpd.sock";
/// `--pidfile` without a path.
pub const DEFAULT_PIDFILE: &str = "/run/vrrpd/vrrpd.pid";
/// `--state` without a path (kept across restarts by `RuntimeDirectoryPreserve=restart`).
pub const DEFAULT_STATE: &str = "/run/vrrpd/senders.json";

/// Creates the default directory when a default path is used and it is missing (the
/// service manager normally does it). Other paths are used as given.
fn ensure_default_dir(path: &Path) -> anyhow::Result<()> {
    if path.parent() == Some(Path::new(DEFAULT_DIR)) && !Path::new(DEFAULT_DIR).exists() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(DEFAULT_DIR)
            .with_context(|| format!("creating {DEFAULT_DIR}"))?;
    }
    Ok(())
}

/// Who a pid file names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holder {
    /// A running vrrpd with this pid.
    Running(u32),
    /// Nobody: why the file is stale.
    Stale(String),
}

/// Reads the pid file at `path` (which exists) and decides whether a vrrpd runs there.
/// `proc` is the proc filesystem (`/proc`; tests give a made-up one).
pub fn holder(path: &Path, proc: &Path) -> io::Result<Holder> {
    let text = fs::read_to_string(path)?;
    let Ok(pid) = text.trim().parse::<u32>() else {
        return Ok(Holder::Stale("it holds no pid".to_owned()));
    };
    if pid == std::process::id() {
        return Ok(Holder::Stale(format!("it names this process ({pid})")));
    }
    let comm = match fs::read_to_string(proc.join(pid.to_string()).join("comm")) {
        Ok(comm) => comm,
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            return Ok(Holder::Stale(format!("process {pid} is gone")));
        }
        Err(error) => return Err(error),
    };
    let ours = fs::read_to_string(proc.join("self/comm")).unwrap_or_else(|_| "vrrpd".to_owned());
    if comm.trim() == ours.trim() || comm.trim() == "vrrpd" {
        Ok(Holder::Running(pid))
    } else {
        Ok(Holder::Stale(format!(
            "pid {pid} is now `{}`, not vrrpd",
            comm.trim()
        )))
    }
}

/// The daemon's pid file, removed at exit if it still holds our pid.
#[derive(Debug)]
pub struct PidFile {
    path: PathBuf,
}

impl PidFile {
    /// Writes our pid to `path`, unless a running vrrpd holds it.
    pub fn claim(path: &Path) -> anyhow::Result<Self> {
        ensure_default_dir(path)?;
        // Twice at most: once more after removing a stale file.
        for _ in 0..2 {
            match fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o644)
                .open(path)
            {
                Ok(mut file) => {
                    writeln!(file, "{}", std::process::id())
                        .with_context(|| format!("writing the pid file {}", path.display()))?;
                    return Ok(Self {
                        path: path.to_path_buf(),
                    });
                }
                Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {}
                Err(error) => {
                    return Err(error)
                        .with_context(|| format!("creating the pid file {}", path.display()));
                }
            }
            let kind = fs::symlink_metadata(path)
                .with_context(|| format!("reading the pid file {}", path.display()))?
                .file_type();
            if !kind.is_file() {
                bail!(
                    "{} exists and is not a pid file (not a regular file): refusing to replace it",
                    path.display()
                );
            }
            match holder(path, Path::new("/proc"))
                .with_context(|| format!("reading the pid file {}", path.display()))?
            {
                Holder::Running(pid) => bail!(
                    "vrrpd is already running with pid {pid} (pid file {}): stop it first, or \
                     give this daemon a --pidfile (and --socket) of its own",
                    path.display()
                ),
                Holder::Stale(why) => {
                    tracing::warn!(
                        pidfile = %path.display(),
                        "removing the stale pid file {}: {why}",
                        path.display()
                    );
                    fs::remove_file(path)
                        .with_context(|| format!("removing the stale {}", path.display()))?;
                }
            }
        }
        bail!(
            "{} reappeared while it was being replaced: another vrrpd is starting",
            path.display()
        )
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let ours = fs::read_to_string(&self.path)
            .is_ok_and(|text| text.trim() == std::process::id().to_string());
        if ours {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// The daemon's control socket file, removed at exit if it is still the one we bound.
#[derive(Debug)]
pub struct ControlSocket {
    path: PathBuf,
    /// Device and inode of the socket we bound.
    identity: (u64, u64),
}

impl ControlSocket {
    /// Listens on `path`. Refuses a path that exists and is not a socket, and a socket a
    /// running daemon answers on; a socket nobody answers on is stale and replaced.
    pub fn bind(path: &Path) -> anyhow::Result<(Self, tokio::net::UnixListener)> {
        ensure_default_dir(path)?;
        match fs::symlink_metadata(path) {
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(error) => {
                return Err(error).with_context(|| format!("examining {}", path.display()));
            }
            Ok(meta) if !meta.file_type().is_socket() => bail!(
                "{} exists and is not a socket: refusing to replace it (give --socket a path \
                 of its own)",
                path.display()
            ),
            Ok(_) => match std::os::unix::net::UnixStream::connect(path) {
                Ok(_) => bail!(
                    "a daemon already answers on {}: stop it first, or give this daemon a \
                     --socket of its own",
                    path.display()
                ),
                Err(error) if error.kind() == io::ErrorKind::ConnectionRefused => {
                    tracing::warn!(
                        socket = %path.display(),
                        "replacing the stale control socket {}",
                        path.display()
                    );
                    fs::remove_file(path)
                        .with_context(|| format!("removing the stale {}", path.display()))?;
                }
                Err(error) => {
                    return Err(error).with_context(|| {
                        format!("checking whether a daemon answers on {}", path.display())
                    });
                }
            },
        }
        let listener = std::os::unix::net::UnixListener::bind(path)
            .with_context(|| format!("listening on {}", path.display()))?;
        let meta =
            fs::symlink_metadata(path).with_context(|| format!("examining {}", path.display()))?;
        let socket = Self {
            path: path.to_path_buf(),
            identity: (meta.dev(), meta.ino()),
        };
        listener
            .set_nonblocking(true)
            .context("making the control socket non-blocking")?;
        let listener = tokio::net::UnixListener::from_std(listener)
            .context("registering the control socket")?;
        Ok((socket, listener))
    }
}

impl Drop for ControlSocket {
    fn drop(&mut self) {
        let ours = fs::symlink_metadata(&self.path)
            .is_ok_and(|meta| (meta.dev(), meta.ino()) == self.identity);
        if ours {
            let _ = fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A made-up `/proc` with `self` and the given `(pid, comm)` entries, and a pid file.
    struct Fixture {
        dir: PathBuf,
    }

    impl Fixture {
        fn new(tag: &str, processes: &[(u32, &str)], pidfile: &str) -> Self {
            let dir =
                std::env::temp_dir().join(format!("vrrpd-runfiles-{}-{tag}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            for (pid, comm) in processes.iter().chain(&[(0, "vrrpd")]) {
                let name = if *pid == 0 {
                    "self".to_owned()
                } else {
                    pid.to_string()
                };
                let entry = dir.join("proc").join(name);
                fs::create_dir_all(&entry).expect("a scratch folder");
                fs::write(entry.join("comm"), format!("{comm}\n")).expect("a comm file");
            }
            fs::write(dir.join("vrrpd.pid"), pidfile).expect("a pid file");
            Self { dir }
        }

        fn holder(&self) -> Holder {
            holder(&self.dir.join("vrrpd.pid"), &self.dir.join("proc")).expect("readable")
        }
    }

    impl Drop for Fixture {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }

    #[test]
    fn a_pid_file_naming_a_running_vrrpd_is_held() {
        let f = Fixture::new("live", &[(4242, "vrrpd")], "4242\n");
        assert_eq!(f.holder(), Holder::Running(4242));
    }

    #[test]
    fn a_pid_file_of_a_process_that_is_gone_is_stale() {
        let f = Fixture::new("gone", &[], "4242\n");
        assert_eq!(f.holder(), Holder::Stale("process 4242 is gone".to_owned()));
    }

    #[test]
    fn a_pid_file_whose_pid_was_reused_by_another_program_is_stale() {
        let f = Fixture::new("reused", &[(4242, "bash")], "4242");
        assert_eq!(
            f.holder(),
            Holder::Stale("pid 4242 is now `bash`, not vrrpd".to_owned())
        );
    }

    #[test]
    fn a_pid_file_without_a_pid_is_stale() {
        let f = Fixture::new("garbage", &[], "hello\n");
        assert!(matches!(f.holder(), Holder::Stale(_)));
    }
}
