//! What the controller needs from the world, as one small trait: the kernel's maps, the
//! addresses (netlink), the packet socket, the notify scripts and the log. The daemon
//! implements it with the real XDP program, rtnetlink and raw sockets
//! ([`crate::daemon::Live`]); the conformance tests with a fake kernel and a fake clock,
//! so they drive the real [`crate::controller::Controller`] (STYLE 16).
use std::{net::IpAddr, time::Duration};

use vrrp_common::maps::InstanceConfig;

use crate::{
    config::model::VirtualAddress,
    fsm::{SeenAdvert, State},
};

/// A slot's master-down deadline as the kernel keeps it, asked when a userspace fallback
/// timer ends (the kernel could not arm its own: [`Platform::arm_master_down`] failed).
/// Valid adverts keep moving the deadline even then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KernelDeadline {
    /// Cancelled, or already reported.
    NotArmed,
    /// Still this far away.
    Pending(Duration),
    /// Passed: the master is down; the last valid advert the kernel saw, if any.
    Passed(Option<SeenAdvert>),
}

/// The controller's window on the world. Errors are reported with context and never stop
/// the controller: one failed action must not block the others.
#[allow(
    async_fn_in_trait,
    reason = "used through generics by a single-threaded controller; no Send bound needed"
)]
pub trait Platform {
    /// Installs an instance in `slot` (start, or added by a reload): fresh learned state,
    /// AH counter 0. The defaults suit a platform whose kernel reads the controller's
    /// routers directly (the conformance tests' fake kernel).
    fn install(&mut self, slot: u32, config: &InstanceConfig) -> anyhow::Result<()> {
        let _ = (slot, config);
        Ok(())
    }
    /// Rewrites `slot`'s configuration in place (a reload, an interface back with a new
    /// index): its state, learned state, AH counter and master-down deadline are kept.
    fn update(&mut self, slot: u32, config: &InstanceConfig) -> anyhow::Result<()> {
        let _ = (slot, config);
        Ok(())
    }
    /// Forgets `slot` (an instance a reload removed).
    fn uninstall(&mut self, slot: u32) -> anyhow::Result<()> {
        let _ = slot;
        Ok(())
    }
    /// Tells the XDP program the state of the instance in `slot`.
    fn set_state(&mut self, slot: u32, state: State) -> anyhow::Result<()>;
    /// Tells the XDP program the priority `slot` now has (an address owner stepping down).
    fn set_priority(&mut self, slot: u32, priority: u8) -> anyhow::Result<()>;
    /// (Re)arms `slot`'s master-down timer in the kernel. On failure the controller keeps
    /// a userspace timer for it and asks [`Self::master_down_deadline`] when it ends.
    fn arm_master_down(&mut self, slot: u32, after: Duration) -> anyhow::Result<()>;
    fn cancel_master_down(&mut self, slot: u32) -> anyhow::Result<()>;
    /// Where `slot`'s master-down deadline stands in the kernel. The default suits a
    /// platform whose timers never fail: a fallback timer's end is the master down.
    fn master_down_deadline(&mut self, slot: u32) -> anyhow::Result<KernelDeadline> {
        let _ = slot;
        Ok(KernelDeadline::Passed(None))
    }
    /// Moves `slot`'s AH sequence counter `by` ahead.
    fn advance_sequence(&mut self, slot: u32, by: u32) -> anyhow::Result<()>;
    /// The AH sequence number for `slot`'s next advert (the counter, incremented).
    fn next_sequence(&mut self, slot: u32) -> anyhow::Result<u32>;
    /// Adds a virtual address to interface `ifindex` (present already: fine).
    async fn add_address(&mut self, ifindex: u32, vip: &VirtualAddress) -> anyhow::Result<()>;
    /// Removes a virtual address from interface `ifindex` (absent: fine).
    async fn del_address(&mut self, ifindex: u32, address: IpAddr) -> anyhow::Result<()>;
    /// Sends one Ethernet frame on `interface`.
    fn send(&mut self, interface: &str, frame: &[u8]) -> std::io::Result<()>;
    /// Runs a notify command (`/bin/sh -c COMMAND`) without waiting for it.
    fn run_script(&mut self, command: &str);
    /// Runs a notify command as `user` (keepalived's `script_user`; none: as vrrpd).
    fn run_script_as(&mut self, command: &str, user: Option<&str>) {
        let _ = user;
        self.run_script(command);
    }
    /// Writes one line to keepalived's `notify_fifo` (`INSTANCE "VI_1" MASTER 150`).
    fn notify_fifo(&mut self, line: &str) {
        let _ = line;
    }
    /// One line of the operator's log (`(VI_1) Entering MASTER STATE`).
    fn log(&mut self, line: &str);
}
