//! One DNS query over UDP, the way a client reaches the controller's DNS server.

use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RData, RecordType};
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

/// Asks `server` for the A records of `name`, waiting for the answer without a bound.
///
/// For tokio's paused clock: there a timeout around a socket read fires as soon as the
/// runtime idles, though no time passed. In real time use [`dns_query_within`].
pub async fn dns_query(server: SocketAddr, name: &str) -> Vec<IpAddr> {
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut m = Message::new();
    m.set_id(7)
        .set_message_type(MessageType::Query)
        .set_op_code(OpCode::Query);
    m.add_query(Query::query(Name::from_str(name).unwrap(), RecordType::A));
    sock.send_to(&m.to_vec().unwrap(), server).await.unwrap();
    let mut buf = [0u8; 1500];
    let (n, _) = sock.recv_from(&mut buf).await.unwrap();
    let m = Message::from_vec(&buf[..n]).unwrap();
    m.answers()
        .iter()
        .filter_map(|r| match r.data() {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            _ => None,
        })
        .collect()
}

/// [`dns_query`] that fails when no answer came within `limit` (real time only).
pub async fn dns_query_within(server: SocketAddr, name: &str, limit: Duration) -> Vec<IpAddr> {
    tokio::time::timeout(limit, dns_query(server, name))
        .await
        .unwrap_or_else(|_| panic!("the DNS server at {server} did not answer within {limit:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;
    use std::sync::Arc;
    use strato_controller::dns::{DnsServer, DnsTable};

    #[tokio::test]
    async fn answers_come_back_as_addresses() {
        let table = Arc::new(DnsTable::new());
        table.set_zone("apps.example.com", 20);
        table.set("shop.apps.example.com", Some(Ipv4Addr::new(10, 0, 0, 7)));
        let srv = DnsServer::start(table, "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let limit = Duration::from_secs(5);
        assert_eq!(
            dns_query_within(srv.addr, "shop.apps.example.com.", limit).await,
            vec![IpAddr::V4(Ipv4Addr::new(10, 0, 0, 7))]
        );
        assert!(
            dns_query_within(srv.addr, "nope.apps.example.com.", limit)
                .await
                .is_empty()
        );
        srv.shutdown().await;
    }

    #[tokio::test]
    #[should_panic(expected = "did not answer within")]
    async fn a_silent_server_fails_the_bounded_query() {
        // A bound socket nobody reads: the query goes out and no answer ever comes.
        let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = silent.local_addr().unwrap();
        dns_query_within(addr, "shop.apps.example.com.", Duration::from_millis(200)).await;
    }
}
