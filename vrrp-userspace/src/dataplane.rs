//! The XDP program: loading it, attaching it to interfaces, telling it about instances,
//! and reading back what it counts, learns and reports.
//!
//! The object is built by `build.rs` from the `vrrp-ebpf` crate and embedded in the binary,
//! so `vrrpd` is one self-contained file. The maps are described in `vrrp_common::maps`.
//!
//! The program reports rare failures (a timer it could not arm, an event lost to a full
//! ring buffer, a slot a map refused) through aya-log, at most a few lines per CPU over
//! its life; [`Dataplane::flush_kernel_logs`] forwards them into `tracing`, with target
//! [`KERNEL_LOG_TARGET`].
use std::{
    fmt,
    os::fd::AsFd as _,
    sync::{Arc, Mutex, atomic::Ordering},
    time::Duration,
};

use aya::{
    Ebpf, EbpfLoader,
    maps::{Array, HashMap, Map, MapData, PerCpuArray, RingBuf},
    programs::{ProgramError, TestRun as _, TestRunOptions, Xdp, XdpMode, xdp::XdpLinkId},
};
use aya_log::EbpfLogger;
use vrrp_common::{
    counters::{self, Counter},
    maps::{
        AuthType, CONFIG_MAP, CONTROL_MAGIC, Control, EVENTS_MAP, Event, InstanceConfig,
        InstanceKey, KernelState, MAX_INSTANCES, MasterDown, RUNTIME_MAP, Runtime, SEQUENCE_MAP,
        SLOTS_MAP, TIMER_MAP, VrrpVersion, control,
    },
    predict::{PREDICT_MAP, PredictKey, Prediction},
};

use crate::sys::SharedCounters;

/// The program's ELF object, built for `bpfel-unknown-none` with BTF.
static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/vrrp"));

/// Name of the XDP entry point in the object.
const PROGRAM: &str = "vrrp";
/// Name of the control program (run with `BPF_PROG_TEST_RUN`, never attached).
const CONTROL: &str = "vrrp_control";
/// Name of the benchmark baseline (a bare `XDP_PASS`; loaded only by the benchmark).
const BASELINE: &str = "vrrp_baseline";
/// Name of the absorption baseline (a bare `XDP_DROP`; attached only by the benchmark).
const BASELINE_DROP: &str = "vrrp_baseline_drop";

/// What can go wrong between the object and an attached program.
#[derive(Debug, thiserror::Error)]
pub enum DataplaneError {
    #[error("loading the XDP object failed")]
    Load(#[from] aya::EbpfError),
    #[error("the XDP object has no program named `{PROGRAM}`")]
    MissingProgram,
    #[error("the XDP object has no map named `{0}`")]
    MissingMap(&'static str),
    #[error("the kernel rejected the XDP program: {0}")]
    Program(#[source] ProgramError),
    /// The verifier refused a program: where and why, and the file that holds its whole
    /// log (the message alone rarely says enough).
    #[error(
        "the kernel's verifier rejected XDP program `{program}` {at}: {message} (Linux \
         {kernel}; the whole verifier log is in {})",
        log.display()
    )]
    Rejected {
        program: &'static str,
        /// `at instruction N`, or `before verification` (BTF, unknown helper, ...).
        at: String,
        message: String,
        kernel: String,
        log: std::path::PathBuf,
    },
    #[error("attaching XDP to {interface} failed")]
    Attach {
        interface: String,
        #[source]
        source: ProgramError,
    },
    #[error("no network interface named {interface} in this network namespace")]
    NoInterface { interface: String },
    /// The kernel holds one XDP program per interface: it refuses a second one (EEXIST or
    /// EBUSY), also when the first is attached in the other mode.
    #[error(
        "{interface} already has an XDP program attached (another vrrpd, or another XDP \
         program: `ip link show {interface}` shows its id); vrrpd does not replace it"
    )]
    AlreadyAttached { interface: String },
    #[error("map {map} failed: {source}")]
    Map {
        map: &'static str,
        #[source]
        source: aya::maps::MapError,
    },
    #[error("slot {0} is out of range (the program serves {MAX_INSTANCES} instances)")]
    Slot(u32),
    #[error("mapping the AH sequence counters failed: {0}")]
    Mmap(#[source] std::io::Error),
    #[error("the control program refused {what} for slot {slot}")]
    Control { what: &'static str, slot: u32 },
    /// A timer helper failed in the kernel; `errno` is what it returned (negated).
    #[error(
        "the kernel refused {what} for slot {slot}: {helper} returned -{errno} ({})",
        std::io::Error::from_raw_os_error(*errno)
    )]
    Timer {
        what: &'static str,
        slot: u32,
        helper: &'static str,
        errno: i32,
    },
    #[error("running the program on a test frame failed: {0}")]
    TestRun(#[source] ProgramError),
    #[error("reading the XDP program's log failed: {0}")]
    Log(#[source] aya_log::Error),
}

/// Fails unless `interface` exists in the calling thread's network namespace.
pub fn require_interface(interface: &str) -> Result<(), DataplaneError> {
    crate::sys::if_index(interface)
        .map(drop)
        .map_err(|_| DataplaneError::NoInterface {
            interface: interface.to_owned(),
        })
}

/// What a failed attach means: an interface that has an XDP program already (the kernel
/// says EEXIST or EBUSY, from `bpf_link_create` or netlink), or another failure.
fn attach_error(interface: &str, source: ProgramError) -> DataplaneError {
    use aya::programs::xdp::XdpError;
    // aya's netlink errors are `transparent`: their io::Error is not in the source chain.
    let errno = match &source {
        ProgramError::SyscallError(e) => e.io_error.raw_os_error(),
        ProgramError::XdpError(XdpError::NetlinkError(e)) | ProgramError::NetlinkError(e) => {
            e.raw_os_error()
        }
        _ => None,
    };
    if matches!(errno, Some(libc::EEXIST | libc::EBUSY)) {
        DataplaneError::AlreadyAttached {
            interface: interface.to_owned(),
        }
    } else {
        DataplaneError::Attach {
            interface: interface.to_owned(),
            source,
        }
    }
}

/// A failed `program.load()`: a verifier rejection becomes [`DataplaneError::Rejected`],
/// its whole log written to `vrrpd-verifier-PROGRAM-PID.log` in `$RUNTIME_DIRECTORY` (the
/// service's) or the temporary folder.
fn load_error(program: &'static str, error: ProgramError) -> DataplaneError {
    let ProgramError::LoadError {
        io_error,
        verifier_log,
    } = &error
    else {
        return DataplaneError::Program(error);
    };
    let text = verifier_log.to_string();
    let folder = std::env::var_os("RUNTIME_DIRECTORY")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let log = folder.join(format!(
        "vrrpd-verifier-{program}-{}.log",
        std::process::id()
    ));
    let kernel = crate::sys::kernel_release().unwrap_or_else(|_| "(unknown)".to_owned());
    let header = format!("vrrpd: BPF_PROG_LOAD of `{program}` on Linux {kernel}: {io_error}\n\n");
    if std::fs::write(&log, header + &text).is_err() {
        return DataplaneError::Program(error);
    }
    let (at, message) = verifier_verdict(&text);
    DataplaneError::Rejected {
        program,
        at,
        message: message.unwrap_or_else(|| io_error.to_string()),
        kernel,
        log,
    }
}

/// Where a verifier log says the program failed (`at instruction N`, or `before
/// verification` when no instruction was reached), and the message that follows.
pub fn verifier_verdict(log: &str) -> (String, Option<String>) {
    let lines: Vec<&str> = log.lines().map(str::trim).collect();
    // An instruction line reads `123: (bf) r1 = r2 ...`.
    let instruction = |line: &str| -> Option<u32> {
        let (number, rest) = line.split_once(": (")?;
        rest.contains(')').then_some(())?;
        number.parse().ok()
    };
    let is_message = |line: &&&str| {
        !line.is_empty()
            && !line.starts_with(';')
            && instruction(line).is_none()
            && !line.starts_with("verification time")
            && !line.starts_with("processed ")
            && !line.starts_with("stack depth")
            && !line.starts_with("REG INVARIANTS")
            && !line.chars().next().is_some_and(|c| c.is_ascii_digit())
    };
    match lines.iter().rposition(|l| instruction(l).is_some()) {
        Some(last) => {
            let number = lines.get(last).copied().and_then(instruction);
            let message = lines[last + 1..].iter().find(is_message);
            (
                format!("at instruction {}", number.unwrap_or(0)),
                message.map(|m| (*m).to_owned()),
            )
        }
        None => (
            "before verification".to_owned(),
            lines.iter().find(is_message).map(|m| (*m).to_owned()),
        ),
    }
}

fn map_error(map: &'static str) -> impl Fn(aya::maps::MapError) -> DataplaneError {
    move |source| DataplaneError::Map { map, source }
}

/// How the program runs on an interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachMode {
    /// In the driver, before any socket buffer exists (the fast path).
    Driver,
    /// In the generic network stack: works on any interface, slower.
    Generic,
}

impl fmt::Display for AttachMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Driver => "driver",
            Self::Generic => "generic",
        })
    }
}

/// The loaded program and its attachments. Dropping it detaches from every interface.
pub struct Dataplane {
    ebpf: Ebpf,
    attached: Vec<Attachment>,
    events: RingBuf<MapData>,
    sequences: SharedCounters,
    logs: EbpfLogger<KernelLog>,
    /// The lines `logs` forwarded during the current flush.
    log_lines: Arc<Mutex<Vec<String>>>,
    /// The keys each slot has besides its own (see [`links::aliases`]).
    aliases: std::collections::HashMap<u32, Vec<InstanceKey>>,
}

/// The `tracing` target of the lines the XDP program logs.
pub const KERNEL_LOG_TARGET: &str = "vrrpd::xdp";

/// Receives the program's aya-log records (as `log` records, each once) and re-emits them
/// as `tracing` events at their level: the daemon's subscriber prints them like its own
/// lines, without depending on a `log` bridge. Keeps the messages for the caller of the
/// flush.
struct KernelLog(Arc<Mutex<Vec<String>>>);

impl log::Log for KernelLog {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        let message = record.args().to_string();
        match record.level() {
            log::Level::Error => {
                tracing::error!(target: KERNEL_LOG_TARGET, "XDP program: {message}");
            }
            log::Level::Warn => tracing::warn!(target: KERNEL_LOG_TARGET, "XDP program: {message}"),
            log::Level::Info => tracing::info!(target: KERNEL_LOG_TARGET, "XDP program: {message}"),
            log::Level::Debug => {
                tracing::debug!(target: KERNEL_LOG_TARGET, "XDP program: {message}");
            }
            log::Level::Trace => {
                tracing::trace!(target: KERNEL_LOG_TARGET, "XDP program: {message}");
            }
        }
        if let Ok(mut lines) = self.0.lock() {
            lines.push(message);
        }
    }

    fn flush(&self) {}
}

impl fmt::Debug for Dataplane {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dataplane")
            .field("attached", &self.attached)
            .finish_non_exhaustive()
    }
}

/// One interface the program runs on.
#[derive(Debug)]
pub struct Attachment {
    pub interface: String,
    pub mode: AttachMode,
    link: XdpLinkId,
}

/// The counters, summed over CPUs, indexed by [`Counter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counters(pub [u64; counters::COUNT as usize]);

impl Counters {
    /// The value of `counter`.
    pub fn get(&self, counter: Counter) -> u64 {
        self.0[counter as usize]
    }

    /// `(name, value)` pairs in index order.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        Counter::ALL
            .iter()
            .zip(self.0.iter().copied())
            .map(|(c, v)| (c.name(), v))
    }
}

/// Only the non-zero counters, `name=value` separated by spaces (`-` when all are zero).
impl fmt::Display for Counters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (name, value) in self.iter().filter(|(_, v)| *v != 0) {
            if !first {
                f.write_str(" ")?;
            }
            first = false;
            write!(f, "{name}={value}")?;
        }
        if first {
            f.write_str("-")?;
        }
        Ok(())
    }
}

impl Dataplane {
    /// Loads the embedded object into the kernel (maps created, programs verified).
    pub fn load() -> Result<Self, DataplaneError> {
        let mut ebpf = EbpfLoader::new().load(OBJECT)?;
        for name in [PROGRAM, CONTROL] {
            let program: &mut Xdp = ebpf
                .program_mut(name)
                .ok_or(DataplaneError::MissingProgram)?
                .try_into()
                .map_err(DataplaneError::Program)?;
            program.load().map_err(|e| load_error(name, e))?;
        }
        let events = ebpf
            .take_map(EVENTS_MAP)
            .ok_or(DataplaneError::MissingMap(EVENTS_MAP))?;
        let events = RingBuf::try_from(events).map_err(map_error(EVENTS_MAP))?;
        let sequences = match ebpf.map(SEQUENCE_MAP) {
            Some(Map::Array(data)) => {
                SharedCounters::map(data.fd().as_fd(), MAX_INSTANCES as usize)
                    .map_err(DataplaneError::Mmap)?
            }
            _ => return Err(DataplaneError::MissingMap(SEQUENCE_MAP)),
        };
        let log_lines = Arc::new(Mutex::new(Vec::new()));
        let logs = EbpfLogger::init_with_logger(&mut ebpf, KernelLog(Arc::clone(&log_lines)))
            .map_err(DataplaneError::Log)?;
        Ok(Self {
            ebpf,
            attached: Vec::new(),
            events,
            sequences,
            logs,
            log_lines,
            aliases: std::collections::HashMap::new(),
        })
    }

    /// The descriptor of the program's log ring buffer: readable when it logged something
    /// (wait with epoll / tokio's `AsyncFd`, then [`Self::flush_kernel_logs`]).
    pub fn kernel_logs_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.logs.as_fd()
    }

    /// Forwards what the program logged since the last flush into `tracing` (target
    /// [`KERNEL_LOG_TARGET`], the program's level) and returns the messages.
    pub fn flush_kernel_logs(&mut self) -> Vec<String> {
        self.logs.flush();
        self.log_lines
            .lock()
            .map(|mut lines| std::mem::take(&mut *lines))
            .unwrap_or_default()
    }

    fn xdp(&self, name: &str) -> Result<&Xdp, DataplaneError> {
        self.ebpf
            .program(name)
            .ok_or(DataplaneError::MissingProgram)?
            .try_into()
            .map_err(DataplaneError::Program)
    }

    /// The array map `name` with values `V`, to read.
    fn array<V: aya::Pod>(&self, name: &'static str) -> Result<Array<&MapData, V>, DataplaneError> {
        let map = self
            .ebpf
            .map(name)
            .ok_or(DataplaneError::MissingMap(name))?;
        Array::try_from(map).map_err(map_error(name))
    }

    /// The array map `name` with values `V`, to write.
    fn array_mut<V: aya::Pod>(
        &mut self,
        name: &'static str,
    ) -> Result<Array<&mut MapData, V>, DataplaneError> {
        let map = self
            .ebpf
            .map_mut(name)
            .ok_or(DataplaneError::MissingMap(name))?;
        Array::try_from(map).map_err(map_error(name))
    }

    /// The slot hash, to write.
    fn slots(&mut self) -> Result<HashMap<&mut MapData, InstanceKey, u32>, DataplaneError> {
        let map = self
            .ebpf
            .map_mut(SLOTS_MAP)
            .ok_or(DataplaneError::MissingMap(SLOTS_MAP))?;
        HashMap::try_from(map).map_err(map_error(SLOTS_MAP))
    }

    fn check_slot(slot: u32) -> Result<(), DataplaneError> {
        if slot < MAX_INSTANCES {
            Ok(())
        } else {
            Err(DataplaneError::Slot(slot))
        }
    }

    /// Installs instance `config` in `slot`: its configuration, a fresh runtime (no
    /// master-down deadline, the learned state cleared), AH counter 0, then its key and
    /// the aliases its interface needs (a VLAN's parent, a bond's slaves: see
    /// [`links::aliases`]); from this moment the program looks at its adverts.
    pub fn install(&mut self, slot: u32, config: &InstanceConfig) -> Result<(), DataplaneError> {
        Self::check_slot(slot)?;
        self.write_config(slot, config)?;
        self.array_mut::<Runtime>(RUNTIME_MAP)?
            .set(slot, Runtime::zeroed(), 0)
            .map_err(map_error(RUNTIME_MAP))?;
        self.set_sequence(slot, 0)?;
        self.slots()?
            .insert(config.key, slot, 0)
            .map_err(map_error(SLOTS_MAP))?;
        self.set_aliases(slot, &links::aliases_of(config.key))
    }

    /// Makes `aliases` the keys `slot` has besides its own, replacing those it had: the
    /// program then takes adverts seen under any of them for the instance. [`Self::install`]
    /// and [`Self::update`] set the aliases of the interface's topology; tests set their
    /// own (this kernel has no VLAN or bond devices).
    pub fn set_aliases(
        &mut self,
        slot: u32,
        aliases: &[InstanceKey],
    ) -> Result<(), DataplaneError> {
        Self::check_slot(slot)?;
        let old = self.aliases.remove(&slot).unwrap_or_default();
        let mut slots = self.slots()?;
        for key in &old {
            // Only our own entry: another slot may have taken the key since.
            if !aliases.contains(key) && slots.get(key, 0).ok() == Some(slot) {
                slots.remove(key).map_err(map_error(SLOTS_MAP))?;
            }
        }
        for key in aliases {
            slots.insert(*key, slot, 0).map_err(map_error(SLOTS_MAP))?;
        }
        if !aliases.is_empty() {
            self.aliases.insert(slot, aliases.to_vec());
        }
        Ok(())
    }

    /// The keys `slot` has besides its own.
    pub fn aliases(&self, slot: u32) -> &[InstanceKey] {
        self.aliases.get(&slot).map_or(&[], Vec::as_slice)
    }

    /// Rewrites `slot`'s configuration in place (a reload, an interface back with a new
    /// index): the state and its epoch stay as the program has them, and so do what it
    /// learned, the AH counter and the master-down deadline. A new key replaces the old one.
    pub fn update(&mut self, slot: u32, config: &InstanceConfig) -> Result<(), DataplaneError> {
        let current = self.config(slot)?;
        let mut config = *config;
        config.state = current.state;
        config.state_epoch = current.state_epoch;
        self.write_config(slot, &config)?;
        if current.key != config.key {
            let mut slots = self.slots()?;
            // Only our own entry: another slot may have taken the old key since.
            if slots.get(&current.key, 0).ok() == Some(slot) {
                slots.remove(&current.key).map_err(map_error(SLOTS_MAP))?;
            }
            slots
                .insert(config.key, slot, 0)
                .map_err(map_error(SLOTS_MAP))?;
        }
        self.set_aliases(slot, &links::aliases_of(config.key))
    }

    /// Forgets `slot` (an instance removed by a reload): the program no longer looks up its
    /// key; the slot can be installed again.
    pub fn uninstall(&mut self, slot: u32) -> Result<(), DataplaneError> {
        let current = self.config(slot)?;
        self.set_aliases(slot, &[])?;
        let mut slots = self.slots()?;
        if slots.get(&current.key, 0).ok() == Some(slot) {
            slots.remove(&current.key).map_err(map_error(SLOTS_MAP))?;
        }
        let mut config = InstanceConfig::zeroed();
        config.state_epoch = current.state_epoch.wrapping_add(1);
        self.write_config(slot, &config)
    }

    fn write_config(&mut self, slot: u32, config: &InstanceConfig) -> Result<(), DataplaneError> {
        self.array_mut::<InstanceConfig>(CONFIG_MAP)?
            .set(slot, *config, 0)
            .map_err(map_error(CONFIG_MAP))
    }

    /// The configuration the program has for `slot`.
    pub fn config(&self, slot: u32) -> Result<InstanceConfig, DataplaneError> {
        Self::check_slot(slot)?;
        self.array::<InstanceConfig>(CONFIG_MAP)?
            .get(&slot, 0)
            .map_err(map_error(CONFIG_MAP))
    }

    /// Closes this process's descriptor of the timer map. The kernel then refuses to
    /// initialise its timer (`EPERM`: a map holding timers must be held by userspace or
    /// pinned), which is how the tests reach the program's timer-failure path and the
    /// daemon's userspace fallback. The daemon never calls it.
    #[doc(hidden)]
    pub fn close_timer_map(&mut self) {
        drop(self.ebpf.take_map(TIMER_MAP));
    }

    /// Tells the program the instance's new state.
    pub fn set_state(&mut self, slot: u32, state: KernelState) -> Result<(), DataplaneError> {
        let mut config = self.config(slot)?;
        config.state = state;
        // A new epoch: a preempt hold does not outlive the state it was started in.
        config.state_epoch = config.state_epoch.wrapping_add(1);
        self.write_config(slot, &config)
    }

    /// Changes `slot`'s priority (an address owner that met another steps down to 254).
    pub fn set_priority(&mut self, slot: u32, priority: u8) -> Result<(), DataplaneError> {
        let mut config = self.config(slot)?;
        config.priority = priority;
        self.write_config(slot, &config)
    }

    /// What the program learned about `slot` (master, predictions, ...).
    pub fn runtime(&self, slot: u32) -> Result<Runtime, DataplaneError> {
        Self::check_slot(slot)?;
        self.array::<Runtime>(RUNTIME_MAP)?
            .get(&slot, 0)
            .map_err(map_error(RUNTIME_MAP))
    }

    fn sequence_cell(&self, slot: u32) -> Result<&std::sync::atomic::AtomicU64, DataplaneError> {
        self.sequences
            .get(slot as usize)
            .ok_or(DataplaneError::Slot(slot))
    }

    /// The instance's AH sequence counter, shared with the program.
    pub fn sequence(&self, slot: u32) -> Result<u32, DataplaneError> {
        Ok(self.sequence_cell(slot)?.load(Ordering::SeqCst) as u32)
    }

    /// Sets the instance's AH sequence counter.
    pub fn set_sequence(&self, slot: u32, value: u32) -> Result<(), DataplaneError> {
        self.sequence_cell(slot)?
            .store(u64::from(value), Ordering::SeqCst);
        Ok(())
    }

    /// The sequence number for the next advert this director sends (keepalived increments
    /// its one counter before each AH advert), atomically with the program's updates.
    pub fn next_sequence(&self, slot: u32) -> Result<u32, DataplaneError> {
        let previous = self.sequence_cell(slot)?.fetch_add(1, Ordering::SeqCst);
        Ok(previous.wrapping_add(1) as u32)
    }

    /// Arms `slot`'s master-down timer to fire after `delay` (a BACKUP's first timer, before
    /// any advert arrived; afterwards the program re-arms it itself).
    pub fn arm_timer(&self, slot: u32, delay: Duration) -> Result<(), DataplaneError> {
        let nanos = u64::try_from(delay.as_nanos()).unwrap_or(u64::MAX);
        self.control(slot, control::ARM, nanos, "arming the master-down timer")
    }

    /// Makes sure the program's master-down timer (one `bpf_timer` for all slots) exists:
    /// the kernel allocates it here, once. Fails if the kernel refuses (the error names the
    /// helper and its errno in the program's log line; `timer_errors` counts it).
    pub fn init_timer(&self) -> Result<(), DataplaneError> {
        self.control(0, control::INIT, 0, "initialising the master-down timer")
    }

    /// `slot`'s master-down deadline as the program keeps it (whether or not its timer
    /// could be armed: adverts keep moving it).
    pub fn master_down(&self, slot: u32) -> Result<MasterDown, DataplaneError> {
        Ok(self.runtime(slot)?.master_down)
    }

    /// Cancels `slot`'s master-down timer (leaving BACKUP).
    pub fn cancel_timer(&self, slot: u32) -> Result<(), DataplaneError> {
        self.control(slot, control::CANCEL, 0, "cancelling the master-down timer")
    }

    fn control(
        &self,
        slot: u32,
        op: u32,
        delay_ns: u64,
        what: &'static str,
    ) -> Result<(), DataplaneError> {
        Self::check_slot(slot)?;
        let command = Control {
            magic: CONTROL_MAGIC,
            op,
            slot,
            _pad: 0,
            delay_ns,
        };
        // The frame the control program reads: the command, padded to a minimal frame.
        let mut frame = [0u8; 64];
        let bytes = control_bytes(&command);
        frame[..bytes.len()].copy_from_slice(&bytes);
        let result = self
            .xdp(CONTROL)?
            .test_run(TestRunOptions {
                data_in: Some(&frame),
                ..Default::default()
            })
            .map_err(DataplaneError::TestRun)?;
        if result.return_value == XDP_PASS {
            Ok(())
        } else if let Some((step, errno)) = control::decode(result.return_value) {
            let helper = if step == control::STEP_INIT {
                "bpf_timer_init"
            } else {
                "bpf_timer_start"
            };
            Err(DataplaneError::Timer {
                what,
                slot,
                helper,
                errno,
            })
        } else {
            Err(DataplaneError::Control { what, slot })
        }
    }

    /// Runs the program once on `frame` (`BPF_PROG_TEST_RUN`, as if received on the
    /// loopback interface of the calling thread's namespace); returns the XDP action.
    pub fn test_run(&self, frame: &[u8]) -> Result<u32, DataplaneError> {
        Ok(self.time_run(frame, 1)?.0)
    }

    /// Runs the program once on `frame` as if received on interface `ifindex` (queue 0)
    /// of the calling thread's namespace: `xdp_md.ingress_ifindex` is `ifindex`, as in a
    /// driver-mode program on it. The interface must exist.
    pub fn test_run_on(&self, frame: &[u8], ifindex: u32) -> Result<u32, DataplaneError> {
        // struct xdp_md: data, data_end, data_meta, ingress_ifindex, rx_queue_index,
        // egress_ifindex (the kernel wants data 0, data_end the frame's length, no meta).
        let len = u32::try_from(frame.len()).unwrap_or(u32::MAX);
        let context: Vec<u8> = [0, len, 0, ifindex, 0, 0]
            .iter()
            .flat_map(|w: &u32| w.to_ne_bytes())
            .collect();
        let result = self
            .xdp(PROGRAM)?
            .test_run(TestRunOptions {
                data_in: Some(frame),
                ctx_in: Some(&context),
                repeat: 1,
                ..Default::default()
            })
            .map_err(DataplaneError::TestRun)?;
        Ok(result.return_value)
    }

    /// Runs the program `repeat` times on `frame`; returns the action and the kernel's
    /// average time per run (for `cargo xtask bench`).
    pub fn time_run(&self, frame: &[u8], repeat: u32) -> Result<(u32, Duration), DataplaneError> {
        let result = self
            .xdp(PROGRAM)?
            .test_run(TestRunOptions {
                data_in: Some(frame),
                repeat,
                ..Default::default()
            })
            .map_err(DataplaneError::TestRun)?;
        Ok((result.return_value, result.duration))
    }

    /// Runs the bare `XDP_PASS` baseline program `repeat` times on `frame` (loading it on
    /// first use); returns the kernel's average time per run. Benchmarks only.
    pub fn time_baseline(&mut self, frame: &[u8], repeat: u32) -> Result<Duration, DataplaneError> {
        let program: &mut Xdp = self
            .ebpf
            .program_mut(BASELINE)
            .ok_or(DataplaneError::MissingProgram)?
            .try_into()
            .map_err(DataplaneError::Program)?;
        if program.fd().is_err() {
            program.load().map_err(DataplaneError::Program)?;
        }
        let result = self
            .xdp(BASELINE)?
            .test_run(TestRunOptions {
                data_in: Some(frame),
                repeat,
                ..Default::default()
            })
            .map_err(DataplaneError::TestRun)?;
        Ok(result.duration)
    }

    /// The next event from the ring buffer, if one is waiting.
    pub fn next_event(&mut self) -> Option<Event> {
        let item = self.events.next()?;
        Event::from_bytes(&item)
    }

    /// The ring buffer's descriptor, to wait for events with epoll / tokio's `AsyncFd`.
    pub fn events_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.events.as_fd()
    }

    /// The per-instance counters of `slot`, summed over CPUs.
    pub fn instance_counters(&self, slot: u32) -> Result<Counters, DataplaneError> {
        Self::check_slot(slot)?;
        let name = counters::INSTANCE_COUNTERS_MAP;
        let map = self
            .ebpf
            .map(name)
            .ok_or(DataplaneError::MissingMap(name))?;
        let array = PerCpuArray::<_, [u64; counters::COUNT as usize]>::try_from(map)
            .map_err(map_error(name))?;
        let per_cpu = array.get(&slot, 0).map_err(map_error(name))?;
        let mut sums = Counters::default();
        for row in per_cpu.iter() {
            for (sum, value) in sums.0.iter_mut().zip(row) {
                *sum += value;
            }
        }
        Ok(sums)
    }

    /// The prediction table (`vrrp_common::predict`), to write.
    fn predictions(
        &mut self,
    ) -> Result<HashMap<&mut MapData, PredictKey, Prediction>, DataplaneError> {
        let map = self
            .ebpf
            .map_mut(PREDICT_MAP)
            .ok_or(DataplaneError::MissingMap(PREDICT_MAP))?;
        HashMap::try_from(map).map_err(map_error(PREDICT_MAP))
    }

    /// Installs (or replaces, atomically for the program) the predicted ICVs of one sender
    /// of instance `key.slot`.
    pub fn set_prediction(
        &mut self,
        key: PredictKey,
        prediction: &Prediction,
    ) -> Result<(), DataplaneError> {
        Self::check_slot(key.slot)?;
        self.predictions()?
            .insert(key, prediction, 0)
            .map_err(map_error(PREDICT_MAP))
    }

    /// Removes the predicted ICVs of one sender (absent already: not an error).
    pub fn remove_prediction(&mut self, key: PredictKey) -> Result<(), DataplaneError> {
        match self.predictions()?.remove(&key) {
            Ok(()) | Err(aya::maps::MapError::KeyNotFound) => Ok(()),
            Err(e) => Err(map_error(PREDICT_MAP)(e)),
        }
    }

    fn program(&mut self) -> Result<&mut Xdp, DataplaneError> {
        self.ebpf
            .program_mut(PROGRAM)
            .ok_or(DataplaneError::MissingProgram)?
            .try_into()
            .map_err(DataplaneError::Program)
    }

    /// Attaches to `interface` (in the calling thread's network namespace) in `mode`.
    pub fn attach(&mut self, interface: &str, mode: AttachMode) -> Result<(), DataplaneError> {
        require_interface(interface)?;
        let xdp_mode = match mode {
            AttachMode::Driver => XdpMode::Driver,
            AttachMode::Generic => XdpMode::Skb,
        };
        let link = self
            .program()?
            .attach(interface, xdp_mode)
            .map_err(|source| attach_error(interface, source))?;
        self.attached.push(Attachment {
            interface: interface.to_owned(),
            mode,
            link,
        });
        Ok(())
    }

    /// Attaches in driver mode, falling back to generic mode with a warning naming the
    /// interface when the driver refuses driver mode. An interface that does not exist, or
    /// that already has an XDP program, is an error in either mode: no fallback. Returns the
    /// mode in use.
    pub fn attach_preferring_driver(
        &mut self,
        interface: &str,
    ) -> Result<AttachMode, DataplaneError> {
        match self.attach(interface, AttachMode::Driver) {
            Ok(()) => Ok(AttachMode::Driver),
            Err(DataplaneError::Attach { source, .. }) => {
                tracing::warn!(
                    interface,
                    error = %source,
                    "driver-mode XDP unavailable on {interface} ({source}); falling back to \
                     generic mode (slower under floods)"
                );
                self.attach(interface, AttachMode::Generic)?;
                Ok(AttachMode::Generic)
            }
            Err(other) => Err(other),
        }
    }

    /// Attaches the bare `XDP_DROP` baseline, instead of the real program, to `interface`
    /// in driver mode (in the calling thread's network namespace): the flood benchmark's
    /// absorption baseline. It stays attached until this dataplane is dropped.
    pub fn attach_drop_baseline(&mut self, interface: &str) -> Result<(), DataplaneError> {
        require_interface(interface)?;
        let program: &mut Xdp = self
            .ebpf
            .program_mut(BASELINE_DROP)
            .ok_or(DataplaneError::MissingProgram)?
            .try_into()
            .map_err(DataplaneError::Program)?;
        program.load().map_err(DataplaneError::Program)?;
        program
            .attach(interface, XdpMode::Driver)
            .map_err(|source| attach_error(interface, source))?;
        Ok(())
    }

    /// Detaches from `interface` (no longer used, or deleted: the kernel already dropped
    /// the program with the device, and the attachment is only forgotten). Not attached:
    /// nothing to do.
    pub fn detach(&mut self, interface: &str) -> Result<(), DataplaneError> {
        let Some(at) = self.attached.iter().position(|a| a.interface == interface) else {
            return Ok(());
        };
        let attachment = self.attached.remove(at);
        self.program()?
            .detach(attachment.link)
            .map_err(|source| DataplaneError::Attach {
                interface: attachment.interface,
                source,
            })
    }

    /// Detaches from every interface. Also done on drop.
    pub fn detach_all(&mut self) -> Result<(), DataplaneError> {
        let attached = std::mem::take(&mut self.attached);
        let program = self.program()?;
        for attachment in attached {
            if let Err(source) = program.detach(attachment.link) {
                return Err(DataplaneError::Attach {
                    interface: attachment.interface,
                    source,
                });
            }
        }
        Ok(())
    }

    /// Reads the global counters, summed over all CPUs.
    pub fn counters(&self) -> Result<Counters, DataplaneError> {
        let map = self
            .ebpf
            .map(counters::COUNTERS_MAP)
            .ok_or(DataplaneError::MissingMap(counters::COUNTERS_MAP))?;
        let array = PerCpuArray::<_, u64>::try_from(map).map_err(|source| DataplaneError::Map {
            map: counters::COUNTERS_MAP,
            source,
        })?;
        let mut sums = Counters::default();
        for (counter, sum) in Counter::ALL.iter().zip(sums.0.iter_mut()) {
            let per_cpu =
                array
                    .get(&(*counter as u32), 0)
                    .map_err(|source| DataplaneError::Map {
                        map: counters::COUNTERS_MAP,
                        source,
                    })?;
            *sum = per_cpu.iter().sum();
        }
        Ok(sums)
    }
}

/// `XDP_PASS`, the control program's "done".
const XDP_PASS: u32 = 2;

/// The bytes of a control command, in the layout the program reads.
fn control_bytes(command: &Control) -> Vec<u8> {
    let mut out = Vec::with_capacity(size_of::<Control>());
    out.extend_from_slice(&command.magic.to_ne_bytes());
    out.extend_from_slice(&command.op.to_ne_bytes());
    out.extend_from_slice(&command.slot.to_ne_bytes());
    out.extend_from_slice(&command._pad.to_ne_bytes());
    out.extend_from_slice(&command.delay_ns.to_ne_bytes());
    out
}

/// How an instance authenticates, for [`InstanceSpec`].
#[derive(Debug, Clone, Copy)]
pub enum Auth<'a> {
    None,
    Pass(&'a crate::auth::Password),
    Ah(&'a crate::auth::Password),
}

/// What the program needs to know about one instance; [`InstanceSpec::build`] turns it
/// into the map value (address family, PASS data, HMAC midstates, padded address list).
#[derive(Debug, Clone)]
pub struct InstanceSpec<'a> {
    pub ifindex: u32,
    pub vrid: u8,
    /// 2 or 3 (another number matches no advert: see [`VrrpVersion::from_raw`]).
    pub version: u8,
    pub priority: u8,
    pub preempt: bool,
    pub auth: Auth<'a>,
    pub interval_cs: u16,
    pub addresses: &'a [std::net::IpAddr],
    /// This director's address on the interface (tie-break of equal priorities).
    pub own_address: std::net::IpAddr,
    pub state: KernelState,
    /// Full HMACs allowed per advert interval for unpredicted adverts (AH only).
    pub hmac_budget: u32,
    /// keepalived's `preempt_delay` (the kernel holds a lower master's adverts this long).
    pub preempt_delay: Duration,
}

/// The default HMAC budget: far above what real peers need (one unpredicted advert when a
/// master changes), far below what a flood would cost.
pub const DEFAULT_HMAC_BUDGET: u32 = 32;

/// The key of the address digests (`vrrp_common::maps::address_term`): random, chosen once
/// per process, so nobody can predict which address lists collide.
fn address_seed() -> u64 {
    use std::hash::{BuildHasher as _, Hasher as _};
    static SEED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *SEED.get_or_init(|| {
        // `RandomState` is keyed from the operating system's random source.
        let mut hasher = std::hash::RandomState::new().build_hasher();
        hasher.write_u64(u64::from(std::process::id()));
        hasher.finish()
    })
}

fn address_bytes(address: &std::net::IpAddr) -> [u8; 16] {
    let mut out = [0u8; 16];
    match address {
        std::net::IpAddr::V4(a) => out[..4].copy_from_slice(&a.octets()),
        std::net::IpAddr::V6(a) => out = a.octets(),
    }
    out
}

impl InstanceSpec<'_> {
    /// The instance's key: the family follows its own address.
    pub fn key(&self) -> InstanceKey {
        let family = if self.own_address.is_ipv6() {
            vrrp_common::maps::family::IPV6
        } else {
            vrrp_common::maps::family::IPV4
        };
        InstanceKey {
            ifindex: self.ifindex,
            vrid: self.vrid,
            family,
            vlan: 0,
        }
    }

    /// The map value.
    pub fn build(&self) -> InstanceConfig {
        let mut config = InstanceConfig::zeroed();
        config.key = self.key();
        config.version = VrrpVersion::from_raw(self.version);
        config.priority = self.priority;
        config.preempt = u8::from(self.preempt);
        config.state = self.state;
        config.advert_interval_cs = self.interval_cs;
        config.own_address = address_bytes(&self.own_address);
        config.hmac_budget = self.hmac_budget;
        config.preempt_delay_ms = u32::try_from(self.preempt_delay.as_millis()).unwrap_or(u32::MAX);
        match self.auth {
            Auth::None => config.auth_type = AuthType::NONE,
            Auth::Pass(password) => {
                config.auth_type = AuthType::PASS;
                config.pass = password.pass_data();
            }
            Auth::Ah(password) => {
                config.auth_type = AuthType::AH;
                (config.hmac_inner, config.hmac_outer) = password.hmac_midstates();
            }
        }
        let addresses: Vec<[u8; 16]> = self.addresses.iter().map(address_bytes).collect();
        config.set_addresses(&addresses, address_seed());
        config
    }
}

pub mod links {
    //! Where the program sees an instance's adverts besides its own interface, from the
    //! interfaces' kinds (rtnetlink), so that VLAN and bond interfaces work in every mode:
    //!
    //! - a VLAN device `eth0.100`: its own program (generic mode: VLAN devices have no
    //!   driver XDP) sees its adverts untagged, under its own index; the program on the
    //!   parent `eth0` (if `eth0` has instances too) sees them first, tagged: alias
    //!   (parent, VLAN id). A VLAN on a bond also gets (slave, VLAN id) for each slave;
    //! - a bond `bond0`: in generic mode its program sees the bond's index; in driver mode
    //!   the bond installs the program in its slaves' drivers, which report the slave's
    //!   index: alias (slave, 0) for each slave.
    //!
    //! The aliases are read when an instance is installed or updated: a slave added to a
    //! bond later is seen after the next update (a reload).
    use std::collections::HashMap;

    use rtnetlink::{
        packet_core::{NLM_F_DUMP, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage, NetlinkPayload},
        packet_route::{
            RouteNetlinkMessage,
            link::{InfoData, InfoKind, InfoVlan, LinkAttribute, LinkInfo, LinkMessage},
        },
        sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE},
    };
    use vrrp_common::maps::InstanceKey;

    /// What the aliases depend on, for one interface.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
    pub struct LinkFacts {
        pub index: u32,
        /// A VLAN device: its parent's index and VLAN id.
        pub vlan: Option<(u32, u16)>,
        /// A bond master.
        pub bond: bool,
        /// The master this interface is enslaved to (`IFLA_MASTER`), if any.
        pub controller: Option<u32>,
    }

    /// The keys besides `key` under which the program sees `key`'s adverts, given the
    /// namespace's interfaces.
    pub fn aliases(key: InstanceKey, links: &[LinkFacts]) -> Vec<InstanceKey> {
        let by_index: HashMap<u32, &LinkFacts> = links.iter().map(|l| (l.index, l)).collect();
        let is_bond = |index: u32| by_index.get(&index).is_some_and(|l| l.bond);
        let slaves = |bond: u32| {
            let bond = Some(bond).filter(|b| is_bond(*b));
            links
                .iter()
                .filter(move |l| bond.is_some() && l.controller == bond)
                .map(|l| l.index)
        };
        let with = |ifindex: u32, vlan: u16| InstanceKey {
            ifindex,
            vlan,
            ..key
        };
        let mut out = Vec::new();
        match by_index.get(&key.ifindex) {
            Some(LinkFacts {
                vlan: Some((parent, id)),
                ..
            }) => {
                out.push(with(*parent, *id));
                out.extend(slaves(*parent).map(|s| with(s, *id)));
            }
            Some(LinkFacts { bond: true, .. }) => {
                out.extend(slaves(key.ifindex).map(|s| with(s, key.vlan)));
            }
            _ => {}
        }
        out
    }

    /// [`aliases`] for the interfaces of the calling thread's namespace; none when they
    /// cannot be read (the instance then works on its own interface, as before).
    pub fn aliases_of(key: InstanceKey) -> Vec<InstanceKey> {
        match dump() {
            Ok(links) => aliases(key, &links),
            Err(error) => {
                tracing::warn!(
                    ifindex = key.ifindex,
                    "reading the interfaces for VLAN and bond aliases failed: {error}"
                );
                Vec::new()
            }
        }
    }

    /// The interfaces of the calling thread's namespace (an `RTM_GETLINK` dump).
    pub fn dump() -> std::io::Result<Vec<LinkFacts>> {
        let mut socket = Socket::new(NETLINK_ROUTE)?;
        socket.bind_auto()?;
        socket.connect(&SocketAddr::new(0, 0))?;
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | NLM_F_DUMP;
        let mut request = NetlinkMessage::new(
            header,
            NetlinkPayload::from(RouteNetlinkMessage::GetLink(LinkMessage::default())),
        );
        request.finalize();
        let mut bytes = vec![0; request.buffer_len()];
        request.serialize(&mut bytes);
        socket.send(&bytes, 0)?;
        let mut links = Vec::new();
        loop {
            let (reply, _) = socket.recv_from_full()?;
            let mut at = 0;
            while at < reply.len() {
                let message = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&reply[at..])
                    .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
                let len = message.header.length as usize;
                match message.payload {
                    NetlinkPayload::Done(_) => return Ok(links),
                    NetlinkPayload::Error(e) => {
                        return Err(e.to_io());
                    }
                    NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(link)) => {
                        links.push(facts(&link));
                    }
                    _ => {}
                }
                if len == 0 {
                    break;
                }
                at += len;
            }
        }
    }

    fn facts(message: &LinkMessage) -> LinkFacts {
        let mut out = LinkFacts {
            index: message.header.index,
            ..LinkFacts::default()
        };
        let mut parent = None;
        let mut vlan_id = None;
        for attribute in &message.attributes {
            match attribute {
                LinkAttribute::Link(index) => parent = Some(*index),
                LinkAttribute::Controller(index) => out.controller = Some(*index),
                LinkAttribute::LinkInfo(infos) => {
                    for info in infos {
                        match info {
                            LinkInfo::Kind(InfoKind::Bond) => out.bond = true,
                            LinkInfo::Data(InfoData::Vlan(data)) => {
                                for d in data {
                                    if let InfoVlan::Id(id) = d {
                                        vlan_id = Some(*id);
                                    }
                                }
                            }
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        if let (Some(parent), Some(id)) = (parent, vlan_id) {
            out.vlan = Some((parent, id));
        }
        out
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn key(ifindex: u32) -> InstanceKey {
            InstanceKey {
                ifindex,
                vrid: 51,
                family: 4,
                vlan: 0,
            }
        }

        #[test]
        fn vlan_bond_and_plain_interfaces() {
            // 2 eth0, 3 eth0.100, 4 bond0 (slaves 5, 6), 7 bond0.200, 8 br0 (port 9).
            let links = [
                LinkFacts {
                    index: 2,
                    ..Default::default()
                },
                LinkFacts {
                    index: 3,
                    vlan: Some((2, 100)),
                    ..Default::default()
                },
                LinkFacts {
                    index: 4,
                    bond: true,
                    ..Default::default()
                },
                LinkFacts {
                    index: 5,
                    controller: Some(4),
                    ..Default::default()
                },
                LinkFacts {
                    index: 6,
                    controller: Some(4),
                    ..Default::default()
                },
                LinkFacts {
                    index: 7,
                    vlan: Some((4, 200)),
                    ..Default::default()
                },
                LinkFacts {
                    index: 8,
                    ..Default::default()
                },
                LinkFacts {
                    index: 9,
                    controller: Some(8),
                    ..Default::default()
                },
            ];
            let with = |ifindex, vlan| InstanceKey {
                vlan,
                ..key(ifindex)
            };
            assert_eq!(aliases(key(2), &links), vec![]);
            assert_eq!(aliases(key(3), &links), vec![with(2, 100)]);
            assert_eq!(aliases(key(4), &links), vec![with(5, 0), with(6, 0)]);
            assert_eq!(
                aliases(key(7), &links),
                vec![with(4, 200), with(5, 200), with(6, 200)]
            );
            // A bridge's ports are not a bond's slaves.
            assert_eq!(aliases(key(8), &links), vec![]);
            assert_eq!(aliases(key(99), &links), vec![]);
        }

        #[test]
        fn the_namespace_can_be_read() {
            let links = dump().expect("an RTM_GETLINK dump");
            assert!(links.iter().any(|l| l.index == 1), "{links:?}");
        }
    }
}

#[cfg(test)]
mod verifier_log_tests {
    use super::verifier_verdict;

    /// The end of Linux 6.12.117's log when it rejected the program (before the fix).
    const REJECTED_6_12: &str = "\
; intrinsics::volatile_load(src) @ mod.rs:2107
2511: (79) r1 = *(u64 *)(r10 -48)
REG INVARIANTS VIOLATION (ldx): const tnum out of sync with range bounds u64=[0x0, 0x1]
2512: R1_w=120 R10=fp0 fp-48_w=120
2512: (79) r2 = *(u64 *)(r10 -112)    ; R2_w=map_value(map=SCRATCH,ks=4,vs=4640)
2513: (0f) r2 += r1                   ; R1_w=120 R2_w=scalar()
2514: (b7) r1 = 0                     ; R1_w=0
; unsafe { crate::intrinsics::copy_nonoverlapping(src, dst, count) } @ mod.rs:551
2515: (73) *(u8 *)(r2 +7) = r1
R2 invalid mem access 'scalar'
verification time 109487 usec
stack depth 240+0+0+0+0+0+0+0+0+0+0+0+0+0
processed 4246 insns (limit 1000000) max_states_per_insn 4 total_states 197
";

    /// Linux 5.10's log when BTF describes a callback it does not know as a subprogram.
    const REJECTED_5_10: &str = "\
number of funcs in func_info doesn't match number of subprogs
verification time 1274 usec
stack depth 0+0+0+0+0+0+0+0+0+0+0+0
processed 0 insns (limit 1000000) max_states_per_insn 0 total_states 0
";

    #[test]
    fn the_failing_instruction_and_its_message() {
        assert_eq!(
            verifier_verdict(REJECTED_6_12),
            (
                "at instruction 2515".to_owned(),
                Some("R2 invalid mem access 'scalar'".to_owned())
            )
        );
    }

    #[test]
    fn a_rejection_before_any_instruction() {
        assert_eq!(
            verifier_verdict(REJECTED_5_10),
            (
                "before verification".to_owned(),
                Some("number of funcs in func_info doesn't match number of subprogs".to_owned())
            )
        );
    }
}
