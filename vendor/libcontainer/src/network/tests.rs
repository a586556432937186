//! The hand-written requests and parsers against the netlink-packet-route
//! crate they replace (a dev-dependency only).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use netlink_packet_core::{
    NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REQUEST, NetlinkMessage, NetlinkPayload,
};
use netlink_packet_route::address::{AddressAttribute, AddressHeaderFlags, AddressScope};
use netlink_packet_route::link::{LinkAttribute, LinkFlags};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use super::address::{AddressMessage, add_request, get_by_index_request};
use super::client::{Reply, parse_message};
use super::link::{LinkMessage, get_by_name_request, set_ns_fd_request, set_up_request};

fn bytes(message: RouteNetlinkMessage, flags: u16) -> Vec<u8> {
    let mut req = NetlinkMessage::from(message);
    req.header.flags = flags;
    req.finalize();
    let mut buf = vec![0; req.header.length as usize];
    req.serialize(&mut buf);
    buf
}

#[test]
fn link_requests_match_netlink_packet_route() {
    let mut msg = netlink_packet_route::link::LinkMessage::default();
    msg.attributes.push(LinkAttribute::IfName("eth0".into()));
    assert_eq!(
        get_by_name_request("eth0"),
        bytes(RouteNetlinkMessage::GetLink(msg), NLM_F_REQUEST)
    );

    for up in [true, false] {
        let mut msg = netlink_packet_route::link::LinkMessage::default();
        msg.header.index = 7;
        msg.header.change_mask |= LinkFlags::Up;
        if up {
            msg.header.flags |= LinkFlags::Up;
        }
        assert_eq!(
            set_up_request(7, up),
            bytes(RouteNetlinkMessage::SetLink(msg), NLM_F_REQUEST | NLM_F_ACK)
        );
    }

    for name in ["eth1", "a", "abc", "longername0123"] {
        let mut msg = netlink_packet_route::link::LinkMessage::default();
        msg.header.index = 9;
        msg.attributes.push(LinkAttribute::IfName(name.into()));
        msg.attributes.push(LinkAttribute::NetNsFd(12));
        assert_eq!(
            set_ns_fd_request(9, name, 12),
            bytes(
                RouteNetlinkMessage::SetLink(msg),
                NLM_F_REQUEST | NLM_F_ACK | NLM_F_EXCL | NLM_F_CREATE
            )
        );
    }
}

/// Upstream's AddressClient::create_address_request.
fn upstream_add(index: u32, address: IpAddr, prefix_len: u8) -> Vec<u8> {
    let mut message = netlink_packet_route::address::AddressMessage::default();
    message.header.prefix_len = prefix_len;
    message.header.index = index;
    message.header.family = match address {
        IpAddr::V4(_) => AddressFamily::Inet,
        IpAddr::V6(_) => AddressFamily::Inet6,
    };
    if address.is_multicast() {
        if let IpAddr::V6(a) = address {
            message.attributes.push(AddressAttribute::Multicast(a));
        }
    } else {
        message.attributes.push(AddressAttribute::Address(address));
        message.attributes.push(AddressAttribute::Local(address));
        if let IpAddr::V4(a) = address {
            if prefix_len == 32 {
                message.attributes.push(AddressAttribute::Broadcast(a));
            } else {
                let brd = Ipv4Addr::from((0xffff_ffff_u32 >> u32::from(prefix_len)) | u32::from(a));
                message.attributes.push(AddressAttribute::Broadcast(brd));
            }
        }
    }
    bytes(
        RouteNetlinkMessage::NewAddress(message),
        NLM_F_REQUEST | NLM_F_ACK | NLM_F_EXCL | NLM_F_CREATE,
    )
}

#[test]
fn address_requests_match_netlink_packet_route() {
    let mut msg = netlink_packet_route::address::AddressMessage::default();
    msg.header.index = 5;
    assert_eq!(
        get_by_index_request(5),
        bytes(
            RouteNetlinkMessage::GetAddress(msg),
            NLM_F_REQUEST | NLM_F_DUMP
        )
    );

    let addresses: [(IpAddr, u8); 7] = [
        (Ipv4Addr::new(192, 168, 1, 1).into(), 24),
        (Ipv4Addr::new(10, 0, 0, 1).into(), 32),
        (Ipv4Addr::new(10, 1, 2, 3).into(), 0),
        (Ipv4Addr::new(224, 0, 0, 1).into(), 4),
        (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1).into(), 64),
        (Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1).into(), 128),
        (Ipv6Addr::LOCALHOST.into(), 128),
    ];
    for (address, prefix_len) in addresses {
        assert_eq!(
            add_request(3, address, prefix_len),
            upstream_add(3, address, prefix_len),
            "{address}/{prefix_len}"
        );
    }
}

fn payload(buf: &[u8]) -> &[u8] {
    match parse_message(buf).unwrap() {
        (Reply::Message(_, payload), len) => {
            assert_eq!(len, buf.len());
            payload
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn replies_parse_as_netlink_packet_route_writes_them() {
    let mut link = netlink_packet_route::link::LinkMessage::default();
    link.header.index = 42;
    link.attributes.push(LinkAttribute::IfName("eth0".into()));
    link.attributes.push(LinkAttribute::Mtu(1500));
    let buf = bytes(RouteNetlinkMessage::NewLink(link), 0);
    assert_eq!(
        parse_message(&buf).unwrap().0,
        Reply::Message(16, &buf[16..])
    );
    assert_eq!(LinkMessage::parse(payload(&buf)).unwrap().header.index, 42);

    let v4 = IpAddr::V4(Ipv4Addr::new(192, 168, 1, 1));
    let peer = IpAddr::V4(Ipv4Addr::new(192, 168, 1, 2));
    let v6 = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));
    let mut addr = netlink_packet_route::address::AddressMessage::default();
    addr.header.family = AddressFamily::Inet;
    addr.header.prefix_len = 24;
    addr.header.flags = AddressHeaderFlags::Permanent;
    addr.header.scope = AddressScope::Link;
    addr.header.index = 6;
    addr.attributes.push(AddressAttribute::Label("eth0".into()));
    addr.attributes.push(AddressAttribute::Address(peer));
    addr.attributes.push(AddressAttribute::Local(v4));
    addr.attributes.push(AddressAttribute::Address(v6));
    let buf = bytes(RouteNetlinkMessage::NewAddress(addr), 0);
    let parsed = AddressMessage::parse(payload(&buf)).unwrap();
    assert_eq!(parsed.header.family, libc::AF_INET as u8);
    assert_eq!(parsed.header.prefix_len, 24);
    assert_eq!(parsed.header.flags, 0x80);
    assert_eq!(parsed.header.scope, 253);
    assert_eq!(parsed.header.index, 6);
    assert_eq!(parsed.local, Some(v4));
    assert_eq!(parsed.address, Some(peer));
    assert_eq!(super::cidr::CidrAddress::from(&parsed).address, v4);

    let mut addr = netlink_packet_route::address::AddressMessage::default();
    addr.header.family = AddressFamily::Inet6;
    addr.attributes.push(AddressAttribute::Address(v6));
    let buf = bytes(RouteNetlinkMessage::NewAddress(addr), 0);
    let parsed = AddressMessage::parse(payload(&buf)).unwrap();
    assert_eq!((parsed.local, parsed.address), (None, Some(v6)));
    assert_eq!(super::cidr::CidrAddress::from(&parsed).address, v6);

    let mut error = netlink_packet_core::ErrorMessage::default();
    error.code = std::num::NonZeroI32::new(-17);
    let mut msg = NetlinkMessage::<RouteNetlinkMessage>::new(
        netlink_packet_core::NetlinkHeader::default(),
        NetlinkPayload::Error(error),
    );
    msg.finalize();
    let mut buf = vec![0; msg.header.length as usize];
    msg.serialize(&mut buf);
    assert_eq!(parse_message(&buf).unwrap().0, Reply::Error(-17));

    let mut msg = NetlinkMessage::<RouteNetlinkMessage>::new(
        netlink_packet_core::NetlinkHeader::default(),
        NetlinkPayload::Error(netlink_packet_core::ErrorMessage::default()),
    );
    msg.finalize();
    let mut buf = vec![0; msg.header.length as usize];
    msg.serialize(&mut buf);
    assert_eq!(parse_message(&buf).unwrap().0, Reply::Ack);

    let mut msg = NetlinkMessage::<RouteNetlinkMessage>::new(
        netlink_packet_core::NetlinkHeader::default(),
        NetlinkPayload::Done(netlink_packet_core::DoneMessage::default()),
    );
    msg.finalize();
    let mut buf = vec![0; msg.header.length as usize];
    msg.serialize(&mut buf);
    assert_eq!(parse_message(&buf).unwrap().0, Reply::Done);

    assert!(parse_message(&buf[..8]).is_err());
}
