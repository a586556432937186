use std::net::{IpAddr, Ipv4Addr};

use super::client::{
    NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REQUEST, Request, parse_attributes,
};
use super::wrapper::ClientWrapper;
use super::{NetworkError, Result};

const RTM_NEWADDR: u16 = 20;
const RTM_GETADDR: u16 = 22;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_BROADCAST: u16 = 4;
const IFA_MULTICAST: u16 = 7;
const AF_INET: u8 = libc::AF_INET as u8;
const AF_INET6: u8 = libc::AF_INET6 as u8;

/// RT_SCOPE_UNIVERSE
pub const SCOPE_UNIVERSE: u8 = 0;
/// IFA_F_PERMANENT
pub const IFA_F_PERMANENT: u8 = 0x80;

/// struct ifaddrmsg.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct AddressHeader {
    pub family: u8,
    pub prefix_len: u8,
    pub flags: u8,
    pub scope: u8,
    pub index: u32,
}

/// The part of an address (RTM_NEWADDR) message libcontainer reads: its
/// header and its first IFA_LOCAL and IFA_ADDRESS attributes.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct AddressMessage {
    pub header: AddressHeader,
    pub local: Option<IpAddr>,
    pub address: Option<IpAddr>,
}

impl AddressMessage {
    /// Parses the payload of an RTM_NEWADDR message (empty: an ACK, a default message).
    pub fn parse(payload: &[u8]) -> Result<Self> {
        if payload.is_empty() {
            return Ok(Self::default());
        }
        let decode_error = |what: &str| {
            NetworkError::IO(std::io::Error::other(format!(
                "Deserialization error: {what}"
            )))
        };
        if payload.len() < 8 {
            return Err(decode_error("truncated ifaddrmsg"));
        }
        let mut message = Self {
            header: AddressHeader {
                family: payload[0],
                prefix_len: payload[1],
                flags: payload[2],
                scope: payload[3],
                index: u32::from_ne_bytes(payload[4..8].try_into().unwrap()),
            },
            local: None,
            address: None,
        };
        for (kind, value) in parse_attributes(&payload[8..])? {
            let slot = match kind {
                IFA_LOCAL => &mut message.local,
                IFA_ADDRESS => &mut message.address,
                _ => continue,
            };
            let ip = match value.len() {
                4 => IpAddr::from(<[u8; 4]>::try_from(value).unwrap()),
                16 => IpAddr::from(<[u8; 16]>::try_from(value).unwrap()),
                _ => return Err(decode_error("invalid IFA_LOCAL or IFA_ADDRESS length")),
            };
            slot.get_or_insert(ip);
        }
        Ok(message)
    }
}

/// struct ifaddrmsg: family, prefix length, flags (0), scope (universe), index.
fn ifaddrmsg(family: u8, prefix_len: u8, index: u32) -> [u8; 8] {
    let mut header = [family, prefix_len, 0, SCOPE_UNIVERSE, 0, 0, 0, 0];
    header[4..8].copy_from_slice(&index.to_ne_bytes());
    header
}

fn ip_bytes(ip: &IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(ip) => ip.octets().to_vec(),
        IpAddr::V6(ip) => ip.octets().to_vec(),
    }
}

pub(crate) fn get_by_index_request(index: u32) -> Vec<u8> {
    Request::new(
        RTM_GETADDR,
        NLM_F_REQUEST | NLM_F_DUMP,
        &ifaddrmsg(0, 0, index),
    )
    .finish()
}

pub(crate) fn add_request(index: u32, address: IpAddr, prefix_len: u8) -> Vec<u8> {
    let family = match address {
        IpAddr::V4(_) => AF_INET,
        IpAddr::V6(_) => AF_INET6,
    };
    let mut req = Request::new(
        RTM_NEWADDR,
        NLM_F_REQUEST | NLM_F_ACK | NLM_F_EXCL | NLM_F_CREATE,
        &ifaddrmsg(family, prefix_len, index),
    );
    if address.is_multicast() {
        // As upstream: an IPv6 multicast address goes in IFA_MULTICAST, an
        // IPv4 one in no attribute at all.
        if let IpAddr::V6(a) = address {
            req = req.attr(IFA_MULTICAST, &a.octets());
        }
    } else {
        req = req
            .attr(IFA_ADDRESS, &ip_bytes(&address))
            .attr(IFA_LOCAL, &ip_bytes(&address));
        if let IpAddr::V4(a) = address {
            let brd = if prefix_len == 32 {
                a
            } else {
                Ipv4Addr::from((0xffff_ffff_u32 >> u32::from(prefix_len)) | u32::from(a))
            };
            req = req.attr(IFA_BROADCAST, &brd.octets());
        }
    }
    req.finish()
}

pub struct AddressClient {
    client: ClientWrapper,
}

impl AddressClient {
    pub fn new(client: ClientWrapper) -> Result<Self> {
        Ok(Self { client })
    }

    /// The addresses of the link with this index.
    pub fn get_by_index(&mut self, index: u32) -> Result<Vec<AddressMessage>> {
        self.client
            .client()?
            .dump(&get_by_index_request(index), RTM_NEWADDR, |payload| {
                let message = AddressMessage::parse(payload)?;
                // An ACK (empty payload) is kept as a default message, as upstream did.
                Ok((payload.is_empty() || message.header.index == index).then_some(message))
            })
    }

    pub fn add(&mut self, index: u32, address: IpAddr, prefix_len: u8) -> Result<()> {
        self.client
            .client()?
            .request(&add_request(index, address, prefix_len), RTM_NEWADDR)?;
        Ok(())
    }
}
