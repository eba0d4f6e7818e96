//! vrrpd: a VRRP daemon with an XDP fast path, wire-compatible with keepalived.
//!
//! Layout:
//! - [`wire`]: the packet codec, one module per protocol layer (no I/O).
//! - [`auth`]: VRRP PASS and IPSEC-AH HMAC-MD5-96 as keepalived computes them (no I/O).
//! - [`config`]: the configuration model, its YAML and keepalived.conf readers, validation.
//! - [`inspect`]: decoding captures for `vrrpd inspect`.
//! - [`fsm`] and [`sync`]: the VRRP state machine and sync groups (no I/O).
//! - [`dataplane`]: loading and attaching the XDP program, reading its counters.
//! - [`sys`]: the few raw system calls the daemon makes (the only `unsafe` here).

pub mod auth;
pub mod config;
pub mod controller;
pub mod dataplane;
pub mod fsm;
pub mod inspect;
pub mod netlink;
pub mod sync;
pub mod sys;
pub mod wire;
