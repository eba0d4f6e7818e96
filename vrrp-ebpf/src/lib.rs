//! Host-side stub so `vrrp-userspace` can name this crate as a build dependency (cargo then
//! rebuilds the daemon when the program changes). The program itself is `src/main.rs`.
#![no_std]
