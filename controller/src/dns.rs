//! Authoritative DNS for the virtual services: A records are the VIPs, served over UDP and TCP
//! by hickory-server. The controller rewrites the table whenever a VIP is bound, moved or
//! released, so answers follow the VIPs.
//!
//! It answers as an authoritative server should (RFC 1034, 2308): every answer inside one of
//! its zones has AA set; the zone apex holds an SOA and an NS record; a name that exists but
//! lacks the type asked for is NOERROR with an empty answer (NODATA), a name that does not
//! exist is NXDOMAIN, and both carry the zone's SOA in the authority section, so resolvers
//! cache the negative answer for the SOA's minimum (the zone's TTL). A name outside every zone
//! is REFUSED: it is nobody's resolver.

use hickory_proto::op::{Header, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, NS, SOA};
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
    /// The SOA serial: the Unix time of the last change, or one more than the previous serial
    /// when several changes fall in one second, so that it only grows.
    serial: u32,
}

impl Tables {
    fn changed(&mut self) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as u32)
            .unwrap_or_default();
        self.serial = now.max(self.serial.wrapping_add(1));
    }
}

fn norm(s: &str) -> String {
    crate::model::normalise_fqdn(s)
}

/// What the table knows of a name inside one of its zones.
#[derive(Debug)]
struct Lookup {
    /// The zone's apex (normalised, no final dot), its TTL and the table's serial.
    zone: String,
    ttl: u32,
    serial: u32,
    /// The name is the apex.
    apex: bool,
    /// Its address.
    addr: Option<Ipv4Addr>,
    /// The name exists: the apex, a record, or a name with records below it (an empty
    /// non-terminal, RFC 8020: NOERROR, not NXDOMAIN).
    exists: bool,
}

impl DnsTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or updates a zone.
    pub fn set_zone(&self, name: &str, ttl: u32) {
        let mut w = self.inner.write().expect("dns lock");
        if w.zones.insert(norm(name), ttl) != Some(ttl) {
            w.changed();
        }
    }

    /// Removes a zone.
    pub fn remove_zone(&self, name: &str) {
        let mut w = self.inner.write().expect("dns lock");
        if w.zones.remove(&norm(name)).is_some() {
            w.changed();
        }
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
        w.changed();
        true
    }

    /// Replaces every zone and record at once (a standby's view, loaded again from the store).
    pub fn replace(&self, zones: BTreeMap<String, u32>, records: HashMap<String, Ipv4Addr>) {
        let zones: BTreeMap<String, u32> = zones.into_iter().map(|(z, t)| (norm(&z), t)).collect();
        let records: HashMap<String, Ipv4Addr> =
            records.into_iter().map(|(n, a)| (norm(&n), a)).collect();
        let mut w = self.inner.write().expect("dns lock");
        if w.zones != zones || w.records != records {
            w.zones = zones;
            w.records = records;
            w.changed();
        }
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

    /// Looks a name up: `None` when no zone of ours covers it.
    fn resolve(&self, name: &str) -> Option<Lookup> {
        let name = norm(name);
        let t = self.inner.read().expect("dns lock");
        let (zone, ttl) = t
            .zones
            .iter()
            .filter(|(z, _)| name == **z || name.ends_with(&format!(".{z}")))
            .max_by_key(|(z, _)| z.len())?;
        let addr = t.records.get(&name).copied();
        let apex = name == *zone;
        let below = format!(".{name}");
        let exists = apex || addr.is_some() || t.records.keys().any(|r| r.ends_with(&below));
        Some(Lookup {
            zone: zone.clone(),
            ttl: *ttl,
            serial: t.serial,
            apex,
            addr,
            exists,
        })
    }
}

/// The name server every zone names in its NS and SOA records: `ns.<zone>`. (The controller
/// does not know the address it is reached at from outside, so it serves no glue: delegate
/// to it with the parent's glue for this name.)
fn ns_name(zone: &Name) -> Name {
    Name::from_ascii("ns")
        .and_then(|n| n.append_domain(zone))
        .unwrap_or_else(|_| zone.clone())
}

fn soa_record(zone: &Name, l: &Lookup) -> Record {
    let rname = Name::from_ascii("hostmaster")
        .and_then(|n| n.append_domain(zone))
        .unwrap_or_else(|_| zone.clone());
    // Refresh, retry and expire matter only to secondaries (none are fed); the minimum is the
    // negative-caching TTL: the zone's, so a new service is not hidden longer than a change.
    let soa = SOA::new(ns_name(zone), rname, l.serial, 3600, 600, 86_400, l.ttl);
    Record::from_rdata(zone.clone(), l.ttl, RData::SOA(soa))
}

fn ns_record(zone: &Name, ttl: u32) -> Record {
    Record::from_rdata(zone.clone(), ttl, RData::NS(NS(ns_name(zone))))
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
        let Some(l) = self.table.resolve(&qname) else {
            header.set_response_code(ResponseCode::Refused);
            return send(&mut response, builder.build_no_records(header), header).await;
        };
        header.set_authoritative(true);
        let Ok(zone) = Name::from_str(&format!("{}.", l.zone)) else {
            header.set_response_code(ResponseCode::ServFail);
            return send(&mut response, builder.build_no_records(header), header).await;
        };
        let owner = Name::from(query.name().clone());
        let qtype = query.query_type();
        let mut answers = Vec::new();
        if l.apex && matches!(qtype, RecordType::SOA | RecordType::ANY) {
            answers.push(soa_record(&zone, &l));
        }
        if l.apex && matches!(qtype, RecordType::NS | RecordType::ANY) {
            answers.push(ns_record(&zone, l.ttl));
        }
        if let Some(addr) = l.addr
            && matches!(qtype, RecordType::A | RecordType::ANY)
        {
            answers.push(Record::from_rdata(owner, l.ttl, RData::A(A(addr))));
        }
        // No answer: NODATA for a name that exists, NXDOMAIN for one that does not; both with
        // the SOA, whose minimum tells resolvers how long to believe it.
        let soa = if answers.is_empty() {
            if !l.exists {
                header.set_response_code(ResponseCode::NXDomain);
            }
            vec![soa_record(&zone, &l)]
        } else {
            vec![]
        };
        let msg = builder.build(header, answers.iter(), [], soa.iter(), []);
        send(&mut response, msg, header).await
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
#[path = "dns_tests.rs"]
mod tests;
