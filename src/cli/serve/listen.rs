//! Binding `--listen`. The IPv6 wildcard `[::]` is one socket for both address families, as
//! Go servers' `:8443` is, so one manifest serves IPv4, IPv6 and dual-stack clusters; on a
//! host without IPv6 it falls back to `0.0.0.0`.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use socket2::{Domain, Protocol, Socket, Type};

/// The backlog of the listening socket, as tokio's `TcpListener::bind` sets it (std's is 128).
const BACKLOG: i32 = 1024;

/// Linux's `EAFNOSUPPORT`: the kernel has no IPv6 at all (booted with `ipv6.disable=1`).
const NO_ADDRESS_FAMILY: i32 = 97;

/// Binds `address`. `[::]:<port>` also takes IPv4 connections whatever the host's
/// `net.ipv6.bindv6only` says, and becomes `0.0.0.0:<port>` where the host has no IPv6.
pub fn bind(address: SocketAddr) -> io::Result<tokio::net::TcpListener> {
    let listener = match address.ip() == Ipv6Addr::UNSPECIFIED {
        true => dual_stack(address.port())?,
        false => listening(address, false)?,
    };
    tokio::net::TcpListener::from_std(listener)
}

fn dual_stack(port: u16) -> io::Result<std::net::TcpListener> {
    match listening(SocketAddr::from((Ipv6Addr::UNSPECIFIED, port)), true) {
        Err(error) if no_ipv6(&error) => {
            tracing::warn!(%error, "no IPv6 on this host: listening on 0.0.0.0:{port} (IPv4) only");
            listening(SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)), false)
        }
        listened => listened,
    }
}

/// A non-blocking listening socket on `address` (reusing a port in `TIME_WAIT`, as tokio's
/// bind does), with IPv4 connections too when `dual_stack`.
fn listening(address: SocketAddr, dual_stack: bool) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(
        Domain::for_address(address),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    if dual_stack {
        socket.set_only_v6(false)?;
    }
    socket.set_reuse_address(true)?;
    socket.bind(&address.into())?;
    socket.listen(BACKLOG)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// Whether the IPv6 wildcard failed for want of IPv6: no such address family, or no IPv6
/// address to bind (IPv6 disabled by sysctl). Anything else (the port taken, no file
/// descriptors) is the error to report.
fn no_ipv6(error: &io::Error) -> bool {
    error.raw_os_error() == Some(NO_ADDRESS_FAMILY)
        || error.kind() == io::ErrorKind::AddrNotAvailable
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

    #[test]
    fn only_a_missing_ipv6_falls_back_to_ipv4() {
        let errno = io::Error::from_raw_os_error;
        assert!(no_ipv6(&errno(NO_ADDRESS_FAMILY)));
        assert!(no_ipv6(&io::Error::from(io::ErrorKind::AddrNotAvailable)));
        // EMFILE, EACCES, EADDRINUSE: reported, not hidden behind an IPv4-only listener.
        for other in [24, 13, 98] {
            assert!(!no_ipv6(&errno(other)), "{other}");
        }
    }
}
