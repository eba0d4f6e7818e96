//! The XDP program: loading it, attaching it to interfaces, reading its counters.
//!
//! The object is built by `build.rs` from the `vrrp-ebpf` crate and embedded in the binary,
//! so `vrrpd` is one self-contained file.
use std::fmt;

use aya::{
    Ebpf, EbpfLoader,
    maps::PerCpuArray,
    programs::{ProgramError, Xdp, XdpMode, xdp::XdpLinkId},
};
use vrrp_common::counters;

/// The program's ELF object, built for `bpfel-unknown-none` with BTF.
static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/vrrp"));

/// Name of the XDP entry point in the object.
const PROGRAM: &str = "vrrp";

/// What can go wrong between the object and an attached program.
#[derive(Debug, thiserror::Error)]
pub enum DataplaneError {
    #[error("loading the XDP object failed: {0}")]
    Load(#[from] aya::EbpfError),
    #[error("the XDP object has no program named `{PROGRAM}`")]
    MissingProgram,
    #[error("the XDP object has no map named `{0}`")]
    MissingMap(&'static str),
    #[error("the kernel rejected the XDP program: {0}")]
    Program(#[source] ProgramError),
    #[error("attaching XDP to {interface} failed: {source}")]
    Attach {
        interface: String,
        #[source]
        source: ProgramError,
    },
    #[error("reading map {map} failed: {source}")]
    Map {
        map: &'static str,
        #[source]
        source: aya::maps::MapError,
    },
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

/// The global counters, summed over CPUs, indexed like `vrrp_common::counters`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counters(pub [u64; counters::COUNT as usize]);

impl Counters {
    /// The value of counter `index` (a `vrrp_common::counters` constant).
    pub fn get(&self, index: u32) -> u64 {
        self.0.get(index as usize).copied().unwrap_or(0)
    }

    /// `(name, value)` pairs in index order.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        counters::NAMES.iter().copied().zip(self.0.iter().copied())
    }
}

impl fmt::Display for Counters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (name, value) in self.iter() {
            if !first {
                f.write_str(" ")?;
            }
            first = false;
            write!(f, "{name}={value}")?;
        }
        Ok(())
    }
}

impl Dataplane {
    /// Loads the embedded object into the kernel (maps created, program verified).
    pub fn load() -> Result<Self, DataplaneError> {
        let mut ebpf = EbpfLoader::new().load(OBJECT)?;
        let program: &mut Xdp = ebpf
            .program_mut(PROGRAM)
            .ok_or(DataplaneError::MissingProgram)?
            .try_into()
            .map_err(DataplaneError::Program)?;
        program.load().map_err(DataplaneError::Program)?;
        Ok(Self {
            ebpf,
            attached: Vec::new(),
        })
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
        let xdp_mode = match mode {
            AttachMode::Driver => XdpMode::Driver,
            AttachMode::Generic => XdpMode::Skb,
        };
        let link = self
            .program()?
            .attach(interface, xdp_mode)
            .map_err(|source| DataplaneError::Attach {
                interface: interface.to_owned(),
                source,
            })?;
        self.attached.push(Attachment {
            interface: interface.to_owned(),
            mode,
            link,
        });
        Ok(())
    }

    /// Attaches in driver mode, falling back to generic mode with a warning naming the
    /// interface when the driver has no XDP support. Returns the mode in use.
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
                    "driver-mode XDP unavailable on {interface}; falling back to generic mode \
                     (slower under floods)"
                );
                self.attach(interface, AttachMode::Generic)?;
                Ok(AttachMode::Generic)
            }
            Err(other) => Err(other),
        }
    }

    /// The interfaces the program is attached to.
    pub fn attachments(&self) -> &[Attachment] {
        &self.attached
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
        for (index, sum) in (0..counters::COUNT).zip(sums.0.iter_mut()) {
            let per_cpu = array.get(&index, 0).map_err(|source| DataplaneError::Map {
                map: counters::COUNTERS_MAP,
                source,
            })?;
            *sum = per_cpu.iter().sum();
        }
        Ok(sums)
    }
}
