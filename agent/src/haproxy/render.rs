//! Renders an SE's configuration as a `haproxy.cfg`: one frontend per virtual-service port,
//! bound on the VIP (`mode http` for HTTP, `mode tcp` otherwise), one backend per service and
//! mode with its servers, weights, health checks and `balance`. A standby serves nothing.

use crate::protocol::{Algorithm, InterfaceRef, Protocol, Role, SeConfig, Server};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::net::IpAddr;
use std::path::Path;

/// A rendered configuration and what the stats of its proxies stand for.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rendered {
    /// The `haproxy.cfg` text.
    pub text: String,
    /// Frontend name to its virtual service, and whether it counts HTTP requests.
    pub frontends: BTreeMap<String, (String, bool)>,
    /// (backend, server name) to the virtual service and server it stands for.
    pub servers: BTreeMap<(String, String), (String, Server)>,
    /// VIPs this SE must add to an interface of its own (`configure_vip` and primary).
    pub vips: Vec<(IpAddr, Option<InterfaceRef>)>,
    /// What was left out, and why (UDP, which HAProxy does not proxy).
    pub skipped: Vec<String>,
}

/// HAProxy proxy names allow letters, digits and `-_.:`; anything else becomes `_`.
fn ident(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.:".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// `ADDR:PORT` as HAProxy reads it (IPv6 in brackets).
fn addr(ip: IpAddr, port: u16) -> String {
    match ip {
        IpAddr::V4(v4) => format!("{v4}:{port}"),
        IpAddr::V6(v6) => format!("[{v6}]:{port}"),
    }
}

fn balance(a: Algorithm) -> &'static str {
    match a {
        Algorithm::RoundRobin => "roundrobin",
        Algorithm::LeastConnections => "leastconn",
        Algorithm::SourceHash => "source",
    }
}

/// The runtime API socket under `run_dir` (also how a reload hands the listeners over).
pub fn stats_socket(run_dir: &Path) -> std::path::PathBuf {
    run_dir.join("stats.sock")
}

/// Renders `config` (or nothing to serve, for `None`). Secondaries, which do not hold the VIP,
/// bind on `listen` (the SE's own address; every address when `None`).
pub fn render(config: Option<&SeConfig>, run_dir: &Path, listen: Option<IpAddr>) -> Rendered {
    let mut r = Rendered::default();
    let mut t = String::new();
    let _ = write!(
        t,
        "# Written by strato-agent{}; every change is validated with haproxy -c first.\n\
         global\n    \
             master-worker\n    \
             # The runtime API: stats for the reports; expose-fd hands the listening sockets\n    \
             # to the new worker on reload, so no connection is refused meanwhile.\n    \
             stats socket {} mode 600 level admin expose-fd listeners\n    \
             hard-stop-after 30s\n\n\
         defaults\n    \
             timeout connect 5s\n    \
             timeout client 60s\n    \
             timeout server 60s\n    \
             default-server inter 1s fall 2 rise 2\n",
        config
            .map(|c| format!(" for SE {} (version {})", c.se, c.version))
            .unwrap_or_default(),
        stats_socket(run_dir).display()
    );
    for vs in config.map(|c| c.virtual_services.as_slice()).unwrap_or(&[]) {
        let bind_ip = match vs.role {
            Role::Standby => continue,
            Role::Primary => match vs.vip {
                Some(v) => Some(v),
                None => continue, // no VIP allocated yet: nothing to bind
            },
            Role::Secondary => listen,
        };
        if let (Role::Primary, true, Some(v)) = (vs.role, vs.configure_vip, vs.vip) {
            r.vips.push((v, vs.interface.clone()));
        }
        let mut backends: BTreeMap<&str, String> = BTreeMap::new();
        for p in &vs.ports {
            let mode = match p.protocol {
                Protocol::Http => "http",
                Protocol::Tcp | Protocol::Https => "tcp", // HTTPS passes through: no certificate here
                Protocol::Udp => {
                    r.skipped.push(format!(
                        "{} port {}/udp: HAProxy proxies no UDP",
                        vs.name, p.port
                    ));
                    continue;
                }
            };
            let be = format!("be.{}.{mode}", ident(&vs.name));
            let fe = format!("fe.{}.{}", ident(&vs.name), p.port);
            let bind = match bind_ip {
                Some(ip) => addr(ip, p.port),
                None => format!(":{}", p.port),
            };
            let _ = write!(
                t,
                "\nfrontend {fe}\n    mode {mode}\n    bind {bind}\n    default_backend {be}\n"
            );
            if mode == "http" {
                // On reload the old worker answers a request on an idle keep-alive connection
                // (with `Connection: close`) instead of closing it under the client.
                t.push_str("    option idle-close-on-response\n");
            }
            r.frontends.insert(fe, (vs.name.clone(), mode == "http"));
            backends.insert(mode, be);
        }
        for (mode, be) in backends {
            let _ = write!(
                t,
                "\nbackend {be}\n    mode {mode}\n    balance {}\n",
                balance(vs.algorithm)
            );
            if mode == "http" {
                // A server answering 5xx (or not at all) fails its check; 2xx to 4xx pass, as
                // `/` may well be a 404 on a healthy API server.
                t.push_str("    option httpchk GET /\n    http-check expect rstatus ^[234]\n");
            }
            for (i, s) in vs.servers.iter().enumerate() {
                let name = format!("s{i}");
                let _ = writeln!(
                    t,
                    "    server {name} {} weight {} check",
                    addr(s.address, s.port),
                    s.weight.min(256)
                );
                r.servers
                    .insert((be.clone(), name), (vs.name.clone(), s.clone()));
            }
        }
    }
    r.text = t;
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{SeVsConfig, ServicePort};

    pub(crate) fn vs(name: &str, role: Role, vip: &str, ports: &[(u16, Protocol)]) -> SeVsConfig {
        SeVsConfig {
            name: name.into(),
            fqdn: format!("{name}.example.com"),
            vip: Some(vip.parse().unwrap()),
            configure_vip: false,
            role,
            serving: 1,
            ports: ports
                .iter()
                .map(|&(port, protocol)| ServicePort { port, protocol })
                .collect(),
            servers: vec![
                Server {
                    address: "10.1.1.1".parse().unwrap(),
                    port: 8080,
                    weight: 3,
                },
                Server {
                    address: "10.1.1.2".parse().unwrap(),
                    port: 8080,
                    weight: 1,
                },
            ],
            algorithm: Algorithm::LeastConnections,
            interface: None,
        }
    }

    #[test]
    fn each_port_is_a_frontend_on_the_vip_and_a_standby_serves_nothing() {
        let cfg = SeConfig {
            se: "web-1".into(),
            group: "web".into(),
            version: 7,
            report_interval_secs: 1,
            virtual_services: vec![
                vs(
                    "shop",
                    Role::Primary,
                    "10.0.0.9",
                    &[(80, Protocol::Http), (5432, Protocol::Tcp)],
                ),
                vs("spare", Role::Standby, "10.0.0.10", &[(80, Protocol::Http)]),
            ],
        };
        let r = render(Some(&cfg), Path::new("/run/x"), None);
        let t = &r.text;
        assert!(
            t.contains("bind 10.0.0.9:80\n") && t.contains("bind 10.0.0.9:5432\n"),
            "{t}"
        );
        assert!(t.contains("frontend fe.shop.80\n    mode http\n"), "{t}");
        assert!(t.contains("frontend fe.shop.5432\n    mode tcp\n"), "{t}");
        assert!(t.contains("balance leastconn"), "{t}");
        assert!(t.contains("server s0 10.1.1.1:8080 weight 3 check"), "{t}");
        assert!(t.contains("stats socket /run/x/stats.sock"), "{t}");
        assert!(!t.contains("spare"), "a standby serves nothing: {t}");
        assert_eq!(r.frontends.len(), 2);
        assert_eq!(r.servers.len(), 4, "one backend per mode");
    }
}
