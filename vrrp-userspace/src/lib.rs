//! vrrpd: a VRRP daemon with an XDP fast path, wire-compatible with keepalived.
//!
//! Layout:
//! - [`wire`]: the packet codec, one module per protocol layer (no I/O).
//! - [`auth`]: VRRP PASS and IPSEC-AH HMAC-MD5-96 as keepalived computes them (no I/O).
//! - [`config`]: the configuration model, its YAML and keepalived.conf readers, validation.
//! - [`inspect`]: decoding captures for `vrrpd inspect`.
//! - [`fsm`] and [`sync`]: the VRRP state machine and sync groups (no I/O).
//! - [`router`]: one object per virtual router (parameters, handles, runtime state, its
//!   state machine) and the bytes it sends (no I/O).
//! - [`controller`]: runs the routers and sync groups, executes their actions through a
//!   [`platform::Platform`] (the kernel, netlink, sockets, scripts behind one trait).
//! - [`daemon`]: the I/O shell of `vrrpd run`: the live platform, the tokio event loop.
//! - [`dataplane`]: loading and attaching the XDP program, reading its counters.
//! - [`metrics`]: the Prometheus endpoint (`--metrics-listen`).
//! - [`netlink`]: links and addresses through rtnetlink.
//! - [`service`]: telling systemd the daemon's state (`Type=notify`, watchdog).
//! - [`sys`]: the few raw system calls the daemon makes (the only `unsafe` here).

pub mod auth;
pub mod config;
pub mod controller;
pub mod daemon;
pub mod dataplane;
pub mod fsm;
pub mod inspect;
pub mod metrics;
pub mod netlink;
pub mod platform;
pub mod predict;
pub mod router;
pub mod scripts;
pub mod service;
pub mod sync;
pub mod sys;
pub mod tracking;
pub mod wire;
