//! Binding `--listen`. The IPv6 wildcard `[::]` is one socket for both address families, as
//! Go servers' `:8443` is, so one manifest serves IPv4, IPv6 and dual-stack clusters; on a
//! host without IPv6 it falls back to `0.0.0.0`.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use socket2::{Domain, Protocol, Socket, Type};

/// The backlog of the listening socket (tokio's `TcpListener::bind` uses the same).
const BACKLOG: i32 = 1024;

/// Binds `address`. `[::]:<port>` also takes IPv4 connections whatever the host's
/// `net.ipv6.bindv6only` says, and becomes `0.0.0.0:<port>` where the host has no IPv6.
pub fn bind(address: SocketAddr) -> io::Result<tokio::net::TcpListener> {
    let listener = match address.ip() == Ipv6Addr::UNSPECIFIED {
        true => dual_stack(address.port())?,
        false => std::net::TcpListener::bind(address)?,
    };
    listener.set_nonblocking(true)?;
    tokio::net::TcpListener::from_std(listener)
}

fn dual_stack(port: u16) -> io::Result<std::net::TcpListener> {
    let wildcard = SocketAddr::from((Ipv6Addr::UNSPECIFIED, port));
    let socket = match Socket::new(Domain::IPV6, Type::STREAM, Some(Protocol::TCP)) {
        Ok(socket) => socket,
        // The kernel has no IPv6 at all (booted with `ipv6.disable=1`).
        Err(error) => return ipv4_only(port, &error),
    };
    socket.set_only_v6(false)?;
    socket.set_reuse_address(true)?;
    match socket.bind(&wildcard.into()) {
        Ok(()) => {}
        Err(error) if error.kind() == io::ErrorKind::AddrNotAvailable => {
            return ipv4_only(port, &error)
        }
        Err(error) => return Err(error),
    }
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

fn ipv4_only(port: u16, error: &io::Error) -> io::Result<std::net::TcpListener> {
    tracing::warn!(%error, "no IPv6 on this host: listening on 0.0.0.0:{port} (IPv4) only");
    std::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_ipv6_wildcard_takes_ipv4_connections_too() {
        let listener = bind("[::]:0".parse().unwrap()).unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepting = tokio::spawn(async move {
            let (_, peer) = listener.accept().await.unwrap();
            peer
        });
        let connected = tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port)).await;
        assert!(connected.is_ok(), "{connected:?}");
        let peer = accepting.await.unwrap();
        assert_eq!(peer.ip().to_canonical(), Ipv4Addr::LOCALHOST, "{peer}");
    }

    #[tokio::test]
    async fn other_addresses_are_bound_as_given() {
        let listener = bind("127.0.0.1:0".parse().unwrap()).unwrap();
        assert_eq!(listener.local_addr().unwrap().ip(), Ipv4Addr::LOCALHOST);
    }
}
