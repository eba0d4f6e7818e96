//! Interfaces and addresses through rtnetlink: interface lookup (index, MAC, up), the
//! virtual addresses (add / remove / list), and link and address notifications.
use std::net::IpAddr;

use futures::{StreamExt as _, TryStreamExt as _};
use rtnetlink::{
    Handle, MulticastGroup,
    packet_core::NetlinkPayload,
    packet_route::{
        RouteNetlinkMessage,
        address::{AddressAttribute, AddressHeaderFlags, AddressMessage},
        link::{LinkAttribute, LinkFlags, LinkMessage},
    },
};
use tokio::sync::mpsc;

#[derive(Debug, thiserror::Error)]
pub enum NetlinkError {
    #[error("opening a netlink socket failed: {0}")]
    Socket(#[source] std::io::Error),
    #[error("netlink request failed: {0}")]
    Request(#[from] rtnetlink::Error),
    #[error("no interface named {0}")]
    NoInterface(String),
}

/// What the daemon needs to know about an interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    pub mac: [u8; 6],
    /// Administratively up with carrier.
    pub up: bool,
}

/// What happened to a link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkChange {
    /// Created, or changed (up, down, renamed, ...).
    Changed(Link),
    /// Deleted: its index is gone with it (the same name may come back with another).
    Deleted(Link),
    /// An address was added to or removed from the interface with this index.
    Addresses(u32),
}

/// An address of an interface, as the kernel lists them (per family, primaries before
/// secondaries).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InterfaceAddress {
    pub address: IpAddr,
    pub prefix: u8,
    /// Another address of the same subnet came first (`IFA_F_SECONDARY`).
    pub secondary: bool,
}

fn link_of(message: &LinkMessage) -> Link {
    let mut link = Link {
        index: message.header.index,
        name: String::new(),
        mac: [0; 6],
        up: false,
    };
    for attribute in &message.attributes {
        match attribute {
            LinkAttribute::IfName(name) => link.name = name.clone(),
            LinkAttribute::Address(bytes) if bytes.len() == 6 => link.mac.copy_from_slice(bytes),
            _ => {}
        }
    }
    let flags = message.header.flags;
    link.up = flags.contains(LinkFlags::Up) && flags.contains(LinkFlags::LowerUp);
    link
}

/// A connection to rtnetlink (its driver task runs on the tokio runtime).
#[derive(Debug, Clone)]
pub struct Netlink {
    handle: Handle,
}

impl Netlink {
    /// Connects in the calling thread's network namespace.
    pub fn connect() -> Result<Self, NetlinkError> {
        let (connection, handle, _) = rtnetlink::new_connection().map_err(NetlinkError::Socket)?;
        tokio::spawn(connection);
        Ok(Self { handle })
    }

    pub async fn link(&self, name: &str) -> Result<Link, NetlinkError> {
        let mut links = self
            .handle
            .link()
            .get()
            .match_name(name.to_owned())
            .execute();
        match links.try_next().await {
            Ok(Some(message)) => Ok(link_of(&message)),
            Ok(None) | Err(_) => Err(NetlinkError::NoInterface(name.to_owned())),
        }
    }

    /// The addresses on interface `index`, with their prefix lengths.
    pub async fn addresses(&self, index: u32) -> Result<Vec<(IpAddr, u8)>, NetlinkError> {
        Ok(self
            .interface_addresses(index)
            .await?
            .into_iter()
            .map(|a| (a.address, a.prefix))
            .collect())
    }

    /// The addresses of interface `index` in the kernel's order, with their flags.
    pub async fn interface_addresses(
        &self,
        index: u32,
    ) -> Result<Vec<InterfaceAddress>, NetlinkError> {
        let messages: Vec<AddressMessage> = self
            .handle
            .address()
            .get()
            .set_link_index_filter(index)
            .execute()
            .try_collect()
            .await?;
        Ok(messages
            .iter()
            .filter_map(|m| {
                let address = m.attributes.iter().find_map(|a| match a {
                    AddressAttribute::Address(ip) => Some(*ip),
                    _ => None,
                })?;
                Some(InterfaceAddress {
                    address,
                    prefix: m.header.prefix_len,
                    secondary: m.header.flags.contains(AddressHeaderFlags::Secondary),
                })
            })
            .collect())
    }

    /// Adds `address/prefix` to interface `index` (already present: fine).
    pub async fn add_address(
        &self,
        index: u32,
        address: IpAddr,
        prefix: u8,
        label: Option<&str>,
    ) -> Result<(), NetlinkError> {
        let mut request = self.handle.address().add(index, address, prefix).replace();
        if let Some(label) = label {
            request
                .message_mut()
                .attributes
                .push(AddressAttribute::Label(label.to_owned()));
        }
        request.execute().await?;
        Ok(())
    }

    /// Removes `address` from interface `index` (absent: fine).
    pub async fn del_address(&self, index: u32, address: IpAddr) -> Result<(), NetlinkError> {
        let messages: Vec<AddressMessage> = self
            .handle
            .address()
            .get()
            .set_link_index_filter(index)
            .set_address_filter(address)
            .execute()
            .try_collect()
            .await?;
        for message in messages {
            self.handle.address().del(message).execute().await?;
        }
        Ok(())
    }

    /// Link changes (`RTNLGRP_LINK`) as they happen, in this thread's namespace: new and
    /// changed links, and deleted ones; and the interfaces whose addresses changed
    /// (`RTNLGRP_IPV4_IFADDR`, `RTNLGRP_IPV6_IFADDR`).
    pub fn watch_links() -> Result<mpsc::UnboundedReceiver<LinkChange>, NetlinkError> {
        let (connection, _, mut messages) = rtnetlink::new_multicast_connection(&[
            MulticastGroup::Link,
            MulticastGroup::Ipv4Ifaddr,
            MulticastGroup::Ipv6Ifaddr,
        ])
        .map_err(NetlinkError::Socket)?;
        tokio::spawn(connection);
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Some((message, _)) = messages.next().await {
                let change = match message.payload {
                    NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(link)) => {
                        LinkChange::Changed(link_of(&link))
                    }
                    NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelLink(link)) => {
                        LinkChange::Deleted(link_of(&link))
                    }
                    NetlinkPayload::InnerMessage(
                        RouteNetlinkMessage::NewAddress(a) | RouteNetlinkMessage::DelAddress(a),
                    ) => LinkChange::Addresses(a.header.index),
                    _ => continue,
                };
                if tx.send(change).is_err() {
                    break;
                }
            }
        });
        Ok(rx)
    }
}
