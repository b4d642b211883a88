//! Authoritative DNS for the virtual services: A records are the VIPs, served over UDP and TCP
//! by hickory-server. The controller rewrites the table whenever a VIP is bound, moved or
//! released, so answers follow the VIPs.

use hickory_proto::op::{Header, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use hickory_server::ServerFuture;
use hickory_server::authority::MessageResponseBuilder;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use std::collections::{BTreeMap, HashMap};
use std::net::{Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// The records the DNS server answers from.
#[derive(Debug, Default)]
pub struct DnsTable {
    inner: RwLock<Tables>,
}

#[derive(Debug, Default)]
struct Tables {
    /// Zone name (normalised) -> TTL.
    zones: BTreeMap<String, u32>,
    /// FQDN (normalised) -> address.
    records: HashMap<String, Ipv4Addr>,
}

fn norm(s: &str) -> String {
    crate::model::normalise_fqdn(s)
}

impl DnsTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or updates a zone.
    pub fn set_zone(&self, name: &str, ttl: u32) {
        self.inner
            .write()
            .expect("dns lock")
            .zones
            .insert(norm(name), ttl);
    }

    /// Removes a zone.
    pub fn remove_zone(&self, name: &str) {
        self.inner
            .write()
            .expect("dns lock")
            .zones
            .remove(&norm(name));
    }

    /// Points `fqdn` at `addr` (or removes it); true when the table changed.
    pub fn set(&self, fqdn: &str, addr: Option<Ipv4Addr>) -> bool {
        let key = norm(fqdn);
        {
            let r = self.inner.read().expect("dns lock");
            if r.records.get(&key).copied() == addr {
                return false;
            }
        }
        let mut w = self.inner.write().expect("dns lock");
        match addr {
            Some(a) => w.records.insert(key, a),
            None => w.records.remove(&key),
        };
        true
    }

    /// The address of `fqdn`, if any.
    pub fn get(&self, fqdn: &str) -> Option<Ipv4Addr> {
        self.inner
            .read()
            .expect("dns lock")
            .records
            .get(&norm(fqdn))
            .copied()
    }

    /// Looks a name up: `Err(())` when no zone of ours covers it.
    fn resolve(&self, name: &str) -> Result<(Option<Ipv4Addr>, u32), ()> {
        let name = norm(name);
        let t = self.inner.read().expect("dns lock");
        let ttl = t
            .zones
            .iter()
            .filter(|(z, _)| name == **z || name.ends_with(&format!(".{z}")))
            .max_by_key(|(z, _)| z.len())
            .map(|(_, ttl)| *ttl)
            .ok_or(())?;
        Ok((t.records.get(&name).copied(), ttl))
    }
}

/// The hickory request handler over a [`DnsTable`].
#[derive(Debug, Clone)]
pub struct DnsHandler {
    table: Arc<DnsTable>,
}

impl DnsHandler {
    /// A handler answering from `table`.
    pub fn new(table: Arc<DnsTable>) -> Self {
        Self { table }
    }
}

#[async_trait::async_trait]
impl RequestHandler for DnsHandler {
    async fn handle_request<R: ResponseHandler>(
        &self,
        request: &Request,
        mut response: R,
    ) -> ResponseInfo {
        let builder = MessageResponseBuilder::from_message_request(request);
        let mut header = Header::response_from_request(request.header());
        header.set_message_type(MessageType::Response);
        header.set_recursion_available(false);
        let query = match request.queries() {
            [q] if request.op_code() == OpCode::Query => q,
            _ => {
                header.set_response_code(ResponseCode::NotImp);
                return send(&mut response, builder.build_no_records(header), header).await;
            }
        };
        let qname = query.name().to_string();
        match self.table.resolve(&qname) {
            Err(()) => {
                header.set_response_code(ResponseCode::Refused);
                send(&mut response, builder.build_no_records(header), header).await
            }
            Ok((addr, ttl)) => {
                header.set_authoritative(true);
                let Some(addr) = addr else {
                    header.set_response_code(ResponseCode::NXDomain);
                    return send(&mut response, builder.build_no_records(header), header).await;
                };
                let records = match query.query_type() {
                    RecordType::A | RecordType::ANY => {
                        let name = Name::from(query.name().clone());
                        vec![Record::from_rdata(name, ttl, RData::A(A(addr)))]
                    }
                    _ => vec![],
                };
                let msg = builder.build(header, records.iter(), [], [], []);
                send(&mut response, msg, header).await
            }
        }
    }
}

async fn send<'a, R: ResponseHandler>(
    response: &mut R,
    msg: hickory_server::authority::MessageResponse<
        '_,
        'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
    >,
    header: Header,
) -> ResponseInfo {
    match response.send_response(msg).await {
        Ok(info) => info,
        Err(e) => {
            tracing::warn!(error = %e, "dns: sending the response failed");
            let mut h = header;
            h.set_response_code(ResponseCode::ServFail);
            h.into()
        }
    }
}

/// A running DNS server.
pub struct DnsServer {
    /// The UDP (and TCP) address it listens on.
    pub addr: SocketAddr,
    server: ServerFuture<DnsHandler>,
}

impl std::fmt::Debug for DnsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DnsServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl DnsServer {
    /// Binds UDP and TCP on `addr` (port 0 picks one; UDP and TCP then share the UDP port when
    /// it is free for TCP too) and serves `table`.
    pub async fn start(table: Arc<DnsTable>, addr: SocketAddr) -> std::io::Result<Self> {
        let udp = tokio::net::UdpSocket::bind(addr).await?;
        let bound = udp.local_addr()?;
        let mut server = ServerFuture::new(DnsHandler::new(table));
        server.register_socket(udp);
        if let Ok(tcp) = tokio::net::TcpListener::bind(bound).await {
            server.register_listener(tcp, Duration::from_secs(5));
        }
        Ok(Self {
            addr: bound,
            server,
        })
    }

    /// Stops serving.
    pub async fn shutdown(mut self) {
        let _ = self.server.shutdown_gracefully().await;
    }
}

/// Builds a DNS name, for tests and tools.
pub fn name(s: &str) -> Option<Name> {
    Name::from_str(s).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::{Message, Query};

    /// Sends one raw UDP query and decodes the answer.
    pub(crate) async fn query(server: SocketAddr, fqdn: &str) -> Message {
        let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let mut m = Message::new();
        m.set_id(4242)
            .set_message_type(MessageType::Query)
            .set_op_code(OpCode::Query);
        m.add_query(Query::query(Name::from_str(fqdn).unwrap(), RecordType::A));
        sock.send_to(&m.to_vec().unwrap(), server).await.unwrap();
        let mut buf = [0u8; 1500];
        let (n, _) = tokio::time::timeout(Duration::from_secs(5), sock.recv_from(&mut buf))
            .await
            .unwrap()
            .unwrap();
        Message::from_vec(&buf[..n]).unwrap()
    }

    #[tokio::test]
    async fn answers_a_records_nxdomain_and_refused_over_udp() {
        let table = Arc::new(DnsTable::new());
        table.set_zone("apps.example.com", 15);
        table.set("shop.apps.example.com", Some(Ipv4Addr::new(10, 0, 0, 7)));
        let srv = DnsServer::start(table.clone(), "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();

        let m = query(srv.addr, "Shop.Apps.Example.com.").await;
        assert_eq!(m.response_code(), ResponseCode::NoError);
        assert!(m.authoritative());
        let a: Vec<_> = m
            .answers()
            .iter()
            .map(|r| (r.data().clone(), r.ttl()))
            .collect();
        assert_eq!(a, vec![(RData::A(A(Ipv4Addr::new(10, 0, 0, 7))), 15)]);

        assert_eq!(
            query(srv.addr, "nope.apps.example.com.")
                .await
                .response_code(),
            ResponseCode::NXDomain
        );
        assert_eq!(
            query(srv.addr, "www.other.org.").await.response_code(),
            ResponseCode::Refused
        );

        // The record follows a change of address.
        table.set("shop.apps.example.com", Some(Ipv4Addr::new(10, 0, 0, 9)));
        let m = query(srv.addr, "shop.apps.example.com.").await;
        assert_eq!(
            m.answers()[0].data(),
            &RData::A(A(Ipv4Addr::new(10, 0, 0, 9)))
        );
        srv.shutdown().await;
    }
}
