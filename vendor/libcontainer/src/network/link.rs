use std::os::fd::RawFd;

use super::client::{NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REQUEST, Request};
use super::wrapper::ClientWrapper;
use super::{NetworkError, Result};

const RTM_NEWLINK: u16 = 16;
const RTM_GETLINK: u16 = 18;
const RTM_SETLINK: u16 = 19;
const IFLA_IFNAME: u16 = 3;
const IFLA_NET_NS_FD: u16 = 28;
const IFF_UP: u32 = 1;

/// The part of a link (RTM_NEWLINK) message libcontainer reads.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct LinkMessage {
    pub header: LinkHeader,
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct LinkHeader {
    pub index: u32,
}

impl LinkMessage {
    /// Parses the payload of an RTM_NEWLINK message (empty: an ACK, index 0).
    pub fn parse(payload: &[u8]) -> Result<Self> {
        if payload.is_empty() {
            return Ok(Self::default());
        }
        let index = payload.get(4..8).ok_or_else(|| {
            NetworkError::IO(std::io::Error::other(
                "Deserialization error: truncated ifinfomsg",
            ))
        })?;
        Ok(Self {
            header: LinkHeader {
                index: u32::from_ne_bytes(index.try_into().unwrap()),
            },
        })
    }
}

/// struct ifinfomsg: family (AF_UNSPEC), pad, type (0), index, flags, change.
fn ifinfomsg(index: u32, flags: u32, change: u32) -> [u8; 16] {
    let mut header = [0u8; 16];
    header[4..8].copy_from_slice(&index.to_ne_bytes());
    header[8..12].copy_from_slice(&flags.to_ne_bytes());
    header[12..16].copy_from_slice(&change.to_ne_bytes());
    header
}

/// A NUL-terminated interface name attribute value.
fn ifname(name: &str) -> Vec<u8> {
    let mut value = name.as_bytes().to_vec();
    value.push(0);
    value
}

pub(crate) fn get_by_name_request(name: &str) -> Vec<u8> {
    Request::new(RTM_GETLINK, NLM_F_REQUEST, &ifinfomsg(0, 0, 0))
        .attr(IFLA_IFNAME, &ifname(name))
        .finish()
}

pub(crate) fn set_up_request(index: u32, up: bool) -> Vec<u8> {
    let flags = if up { IFF_UP } else { 0 };
    Request::new(
        RTM_SETLINK,
        NLM_F_REQUEST | NLM_F_ACK,
        &ifinfomsg(index, flags, IFF_UP),
    )
    .finish()
}

pub(crate) fn set_ns_fd_request(index: u32, new_name: &str, ns_fd: RawFd) -> Vec<u8> {
    Request::new(
        RTM_SETLINK,
        NLM_F_REQUEST | NLM_F_ACK | NLM_F_EXCL | NLM_F_CREATE,
        &ifinfomsg(index, 0, 0),
    )
    .attr(IFLA_IFNAME, &ifname(new_name))
    .attr(IFLA_NET_NS_FD, &ns_fd.to_ne_bytes())
    .finish()
}

pub struct LinkClient {
    client: ClientWrapper,
}

impl LinkClient {
    pub fn new(client: ClientWrapper) -> Result<Self> {
        Ok(Self { client })
    }

    pub fn get_by_name(&mut self, name: &str) -> Result<LinkMessage> {
        let reply = self
            .client
            .client()?
            .request(&get_by_name_request(name), RTM_NEWLINK)?;
        LinkMessage::parse(&reply)
    }

    pub fn set_up(&mut self, index: u32) -> Result<()> {
        self.client
            .client()?
            .request(&set_up_request(index, true), RTM_NEWLINK)?;
        Ok(())
    }

    pub fn set_down(&mut self, index: u32) -> Result<()> {
        self.client
            .client()?
            .request(&set_up_request(index, false), RTM_NEWLINK)?;
        Ok(())
    }

    pub fn set_ns_fd(&mut self, index: u32, new_name: &str, ns_path: RawFd) -> Result<()> {
        self.client
            .client()?
            .request(&set_ns_fd_request(index, new_name, ns_path), RTM_NEWLINK)?;
        Ok(())
    }
}
