//! The DNS server asked over real sockets: by our own raw UDP query, and by hickory-client, a
//! third-party DNS client (so that the answers are checked by a decoder that is not ours).

use super::*;
use hickory_client::client::{Client, ClientHandle};
use hickory_client::proto::rr::DNSClass;
use hickory_client::proto::runtime::TokioRuntimeProvider;
use hickory_client::proto::udp::UdpClientStream;
use hickory_proto::op::{Message, Query};

/// Sends one raw UDP query and decodes the answer.
async fn query(server: SocketAddr, fqdn: &str) -> Message {
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

/// One question asked by hickory-client over UDP: (rcode, AA, answers, authority).
async fn ask(
    client: &mut Client,
    name: &str,
    t: RecordType,
) -> (ResponseCode, bool, Vec<Record>, Vec<Record>) {
    let r = client
        .query(Name::from_str(name).unwrap(), DNSClass::IN, t)
        .await
        .unwrap_or_else(|e| panic!("{name} {t}: {e}"));
    (
        r.response_code(),
        r.authoritative(),
        r.answers().to_vec(),
        r.name_servers().to_vec(),
    )
}

fn soa_of(records: &[Record]) -> &SOA {
    match records {
        [r] => r
            .data()
            .as_soa()
            .unwrap_or_else(|| panic!("not an SOA: {r}")),
        other => panic!("one SOA expected, got {other:?}"),
    }
}

#[tokio::test]
async fn answers_as_an_authoritative_server_to_a_third_party_client() {
    let table = Arc::new(DnsTable::new());
    table.set_zone("apps.example.com", 30);
    table.set("shop.apps.example.com", Some(Ipv4Addr::new(10, 0, 0, 7)));
    table.set("api.eu.apps.example.com", Some(Ipv4Addr::new(10, 0, 0, 8)));
    let srv = DnsServer::start(table.clone(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let conn = UdpClientStream::builder(srv.addr, TokioRuntimeProvider::default()).build();
    let (mut client, bg) = Client::connect(conn).await.unwrap();
    let bg = tokio::spawn(bg);
    let apex = Name::from_str("apps.example.com.").unwrap();
    let ns = Name::from_str("ns.apps.example.com.").unwrap();

    // The apex: its SOA and its NS.
    let (rc, aa, ans, _) = ask(&mut client, "apps.example.com.", RecordType::SOA).await;
    assert_eq!((rc, aa), (ResponseCode::NoError, true));
    let soa = soa_of(&ans);
    assert_eq!(ans[0].name(), &apex);
    assert_eq!(soa.mname(), &ns);
    assert_eq!(
        soa.minimum(),
        30,
        "negative answers are cached for the zone's TTL"
    );
    assert!(soa.serial() > 0);
    let (rc, aa, ans, _) = ask(&mut client, "apps.example.com.", RecordType::NS).await;
    assert_eq!((rc, aa), (ResponseCode::NoError, true));
    assert_eq!(
        ans.iter().map(|r| r.data().clone()).collect::<Vec<_>>(),
        vec![RData::NS(NS(ns.clone()))]
    );

    // A name that exists, asked for its A record, then for a type it lacks: NODATA (NOERROR,
    // no answer, the SOA in authority), not NXDOMAIN.
    let (rc, aa, ans, auth) = ask(&mut client, "shop.apps.example.com.", RecordType::A).await;
    assert_eq!((rc, aa), (ResponseCode::NoError, true));
    assert_eq!(ans.len(), 1);
    assert_eq!(ans[0].data(), &RData::A(A(Ipv4Addr::new(10, 0, 0, 7))));
    assert!(auth.is_empty(), "{auth:?}");
    for t in [RecordType::AAAA, RecordType::MX, RecordType::TXT] {
        let (rc, aa, ans, auth) = ask(&mut client, "shop.apps.example.com.", t).await;
        assert_eq!((rc, aa), (ResponseCode::NoError, true), "{t}");
        assert!(ans.is_empty(), "{t}: {ans:?}");
        assert_eq!(auth[0].name(), &apex, "{t}");
        soa_of(&auth);
    }
    // The apex has no A record; a name with records below it exists too (RFC 8020).
    for name in ["apps.example.com.", "eu.apps.example.com."] {
        let (rc, aa, ans, auth) = ask(&mut client, name, RecordType::A).await;
        assert_eq!((rc, aa), (ResponseCode::NoError, true), "{name}");
        assert!(ans.is_empty(), "{name}");
        soa_of(&auth);
    }

    // A missing name: NXDOMAIN with the SOA.
    let (rc, aa, ans, auth) = ask(&mut client, "nope.apps.example.com.", RecordType::A).await;
    assert_eq!((rc, aa), (ResponseCode::NXDomain, true));
    assert!(ans.is_empty());
    let before = soa_of(&auth).serial();

    // Outside every zone: refused, and not authoritative.
    let (rc, aa, _, _) = ask(&mut client, "www.other.org.", RecordType::A).await;
    assert_eq!((rc, aa), (ResponseCode::Refused, false));

    // A change moves the serial forward.
    table.set("nope.apps.example.com", Some(Ipv4Addr::new(10, 0, 0, 9)));
    let (_, _, ans, _) = ask(&mut client, "apps.example.com.", RecordType::SOA).await;
    assert!(soa_of(&ans).serial() > before);
    let (rc, _, ans, _) = ask(&mut client, "nope.apps.example.com.", RecordType::A).await;
    assert_eq!((rc, ans.len()), (ResponseCode::NoError, 1));

    bg.abort();
    srv.shutdown().await;
}
