//! Builds the XDP program (`vrrp-ebpf`) for `bpfel-unknown-none` with the nightly toolchain
//! and BTF, into `OUT_DIR/vrrp`, which `dataplane` embeds with `include_bytes_aligned!`.
//! Needs nightly's `rust-src` and `bpf-linker`: `cargo xtask setup` installs both.
use anyhow::Context as _;
use aya_build::{Package, Toolchain};

fn main() -> anyhow::Result<()> {
    let root_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../vrrp-ebpf");
    aya_build::build_ebpf(
        [Package {
            name: "vrrp-ebpf",
            root_dir,
            ..Default::default()
        }],
        Toolchain::default(),
    )
    .context(
        "building the XDP program failed; `cargo xtask setup` installs what it needs \
         (nightly rust-src and bpf-linker)",
    )
}
