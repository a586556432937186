//! A minimal rtnetlink (NETLINK_ROUTE) client: the few requests libcontainer
//! sends to move a network device into a container (ward: replaces the
//! netlink-packet-route, netlink-packet-core and netlink-sys crates, byte for
//! byte the same requests; see vendor/libcontainer/WARD-PATCH.md).

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use super::{NetworkError, Result};

pub const NLM_F_REQUEST: u16 = 0x1;
pub const NLM_F_ACK: u16 = 0x4;
pub const NLM_F_EXCL: u16 = 0x200;
pub const NLM_F_CREATE: u16 = 0x400;
/// NLM_F_ROOT | NLM_F_MATCH
pub const NLM_F_DUMP: u16 = 0x300;

const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLMSG_HDRLEN: usize = 16;

/// A request: netlink header, the family's fixed header, then attributes.
pub struct Request {
    buf: Vec<u8>,
}

impl Request {
    /// A request of `message_type` with `flags`, whose family header is `header`.
    pub fn new(message_type: u16, flags: u16, header: &[u8]) -> Self {
        let mut buf = vec![0u8; NLMSG_HDRLEN];
        buf[4..6].copy_from_slice(&message_type.to_ne_bytes());
        buf[6..8].copy_from_slice(&flags.to_ne_bytes());
        // Sequence number and port id stay 0.
        buf.extend_from_slice(header);
        Self { buf }
    }

    /// Appends a route attribute (padded to 4 bytes).
    pub fn attr(mut self, kind: u16, value: &[u8]) -> Self {
        let len = 4 + value.len();
        self.buf.extend_from_slice(&(len as u16).to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.buf.extend_from_slice(value);
        self.buf.resize(self.buf.len().next_multiple_of(4), 0);
        self
    }

    /// The request's bytes, its length set.
    pub fn finish(mut self) -> Vec<u8> {
        let len = self.buf.len() as u32;
        self.buf[0..4].copy_from_slice(&len.to_ne_bytes());
        self.buf
    }
}

/// One message of a reply.
#[derive(Debug, PartialEq)]
pub enum Reply<'a> {
    /// A message of another type: its type and its payload (after the netlink header).
    Message(u16, &'a [u8]),
    /// NLMSG_ERROR with code 0.
    Ack,
    /// NLMSG_ERROR with a non-zero code (a negative errno).
    Error(i32),
    /// NLMSG_DONE, the end of a dump.
    Done,
}

fn decode_error(what: &str) -> NetworkError {
    NetworkError::IO(std::io::Error::other(format!(
        "Deserialization error: {what}"
    )))
}

/// The first message in `bytes` and its length.
pub fn parse_message(bytes: &[u8]) -> Result<(Reply<'_>, usize)> {
    if bytes.len() < NLMSG_HDRLEN {
        return Err(decode_error("truncated netlink header"));
    }
    let len = u32::from_ne_bytes(bytes[0..4].try_into().unwrap()) as usize;
    if len < NLMSG_HDRLEN || len > bytes.len() {
        return Err(decode_error("invalid netlink message length"));
    }
    let message_type = u16::from_ne_bytes(bytes[4..6].try_into().unwrap());
    let payload = &bytes[NLMSG_HDRLEN..len];
    let reply = match message_type {
        NLMSG_ERROR => {
            let code = payload
                .get(0..4)
                .ok_or_else(|| decode_error("truncated error message"))?;
            match i32::from_ne_bytes(code.try_into().unwrap()) {
                0 => Reply::Ack,
                code => Reply::Error(code),
            }
        }
        NLMSG_DONE => Reply::Done,
        other => Reply::Message(other, payload),
    };
    Ok((reply, len))
}

/// The route attributes of a message body (after its fixed header), as
/// (type, value) pairs.
pub fn parse_attributes(mut bytes: &[u8]) -> Result<Vec<(u16, &[u8])>> {
    let mut attrs = Vec::new();
    while bytes.len() >= 4 {
        let len = u16::from_ne_bytes([bytes[0], bytes[1]]) as usize;
        let kind = u16::from_ne_bytes([bytes[2], bytes[3]]);
        if len < 4 || len > bytes.len() {
            return Err(decode_error("invalid route attribute length"));
        }
        attrs.push((kind, &bytes[4..len]));
        bytes = &bytes[len.next_multiple_of(4).min(bytes.len())..];
    }
    Ok(attrs)
}

/// A bound NETLINK_ROUTE socket.
pub struct NetlinkClient {
    fd: OwnedFd,
}

impl NetlinkClient {
    pub fn new() -> Result<Self> {
        // SAFETY: plain syscalls; the fd is owned right away.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        };
        if fd < 0 {
            return Err(std::io::Error::last_os_error().into());
        }
        // SAFETY: fd is a new, open socket nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: an all-zero sockaddr_nl is valid; pid 0 lets the kernel pick.
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        // SAFETY: addr is a sockaddr_nl of the given size.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&addr as *const libc::sockaddr_nl).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(std::io::Error::last_os_error().into());
        }
        Ok(Self { fd })
    }

    fn send(&mut self, req: &[u8]) -> Result<()> {
        // SAFETY: req is a valid buffer of req.len() bytes.
        let rc = unsafe { libc::send(self.fd.as_raw_fd(), req.as_ptr().cast(), req.len(), 0) };
        if rc < 0 {
            return Err(std::io::Error::last_os_error().into());
        }
        Ok(())
    }

    fn recv(&mut self, buf: &mut [u8]) -> Result<usize> {
        // SAFETY: buf is a valid, writable buffer of buf.len() bytes.
        let rc = unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if rc < 0 {
            return Err(std::io::Error::last_os_error().into());
        }
        Ok(rc as usize)
    }

    /// Sends `req` and returns the payload of the reply's first message if it
    /// has type `expect`, an empty payload for an ACK, or an error.
    pub fn request(&mut self, req: &[u8], expect: u16) -> Result<Vec<u8>> {
        self.send(req)?;
        let mut buf = vec![0u8; 4096];
        let n = self.recv(&mut buf)?;
        match parse_message(&buf[..n])?.0 {
            Reply::Message(t, payload) if t == expect => Ok(payload.to_vec()),
            Reply::Ack => Ok(Vec::new()),
            Reply::Error(code) => Err(NetworkError::IO(std::io::Error::other(format!(
                "Netlink error: {}",
                code
            )))),
            Reply::Done => Err(NetworkError::IO(std::io::Error::other(
                "Unexpected done message",
            ))),
            Reply::Message(t, _) => Err(unexpected(t)),
        }
    }

    /// Sends a dump request and returns the payloads of the messages of type
    /// `expect` (an empty payload for an ACK) up to NLMSG_DONE, each passed
    /// through `keep` (None: skip it).
    pub fn dump<T>(
        &mut self,
        req: &[u8],
        expect: u16,
        keep: impl Fn(&[u8]) -> Result<Option<T>>,
    ) -> Result<Vec<T>> {
        self.send(req)?;
        let mut buf = vec![0u8; 4096];
        let mut out = Vec::new();
        loop {
            let n = self.recv(&mut buf)?;
            let mut offset = 0;
            loop {
                let (reply, len) = parse_message(&buf[offset..n])?;
                let payload = match reply {
                    Reply::Message(t, payload) if t == expect => payload,
                    Reply::Ack => &[][..],
                    Reply::Error(code) => {
                        return Err(NetworkError::IO(std::io::Error::other(format!(
                            "Netlink error: code={}",
                            code
                        ))));
                    }
                    Reply::Done => return Ok(out),
                    Reply::Message(t, _) => return Err(unexpected(t)),
                };
                if let Some(item) = keep(payload)? {
                    out.push(item);
                }
                offset += len;
                if offset >= n {
                    break;
                }
            }
        }
    }
}

fn unexpected(message_type: u16) -> NetworkError {
    NetworkError::IO(std::io::Error::other(format!(
        "Unexpected message type: {}",
        message_type
    )))
}
