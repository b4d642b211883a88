//! Reading HAProxy's runtime API: `show stat` (CSV) and `show info`, over its Unix socket.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One line of `show stat`: a frontend, a backend or a server.
#[derive(Clone, Debug, PartialEq)]
pub struct StatRow {
    /// Proxy name.
    pub pxname: String,
    /// `FRONTEND`, `BACKEND` or the server's name.
    pub svname: String,
    /// Current sessions.
    pub scur: u64,
    /// Sessions per second over the last second.
    pub rate: f64,
    /// HTTP requests per second over the last second (HTTP frontends only).
    pub req_rate: Option<f64>,
    /// Sessions since the worker started.
    pub stot: u64,
    /// HTTP requests since the worker started (HTTP frontends only).
    pub req_tot: Option<u64>,
    /// `UP`, `DOWN`, `UP 1/2`, `no check`, `OPEN`...
    pub status: String,
}

impl StatRow {
    /// True for a server whose checks pass (or that has none).
    pub fn server_up(&self) -> bool {
        self.status.starts_with("UP") || self.status == "no check"
    }
}

/// Parses `show stat` output, by the column names of its header line.
pub fn parse_show_stat(csv: &str) -> Vec<StatRow> {
    let mut lines = csv.lines();
    let Some(header) = lines.next().and_then(|h| h.strip_prefix("# ")) else {
        return Vec::new();
    };
    let col: HashMap<&str, usize> = header.split(',').enumerate().map(|(i, c)| (c, i)).collect();
    let get = |f: &[&str], name: &str| -> String {
        col.get(name)
            .and_then(|&i| f.get(i))
            .map(|s| s.to_string())
            .unwrap_or_default()
    };
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            StatRow {
                pxname: get(&f, "pxname"),
                svname: get(&f, "svname"),
                scur: get(&f, "scur").parse().unwrap_or(0),
                rate: get(&f, "rate").parse().unwrap_or(0.0),
                req_rate: get(&f, "req_rate").parse().ok(),
                stot: get(&f, "stot").parse().unwrap_or(0),
                req_tot: get(&f, "req_tot").parse().ok(),
                status: get(&f, "status"),
            }
        })
        .collect()
}

/// Sends one command to a HAProxy CLI socket and returns its whole answer.
pub async fn command(socket: &Path, cmd: &str) -> Result<String, String> {
    let talk = async {
        let mut s = tokio::net::UnixStream::connect(socket)
            .await
            .map_err(|e| format!("{}: {e}", socket.display()))?;
        s.write_all(format!("{cmd}\n").as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        // The master CLI answers and closes only once the client closed its side.
        s.shutdown().await.map_err(|e| e.to_string())?;
        let mut out = String::new();
        s.read_to_string(&mut out)
            .await
            .map_err(|e| e.to_string())?;
        Ok(out)
    };
    tokio::time::timeout(Duration::from_secs(3), talk)
        .await
        .map_err(|_| format!("{}: no answer to {cmd:?} in 3 s", socket.display()))?
}

/// The worker's process id, from `show info`.
pub async fn worker_pid(socket: &Path) -> Result<u32, String> {
    let info = command(socket, "show info").await?;
    info.lines()
        .find_map(|l| l.strip_prefix("Pid: "))
        .and_then(|p| p.trim().parse().ok())
        .ok_or_else(|| format!("no Pid in show info: {info}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_read_by_column_name() {
        let csv = "# pxname,svname,qcur,qmax,scur,smax,status,rate,req_rate,\n\
                   fe.shop.80,FRONTEND,,,3,9,OPEN,12,40,\n\
                   be.shop.http,s0,0,0,1,2,UP,5,,\n\
                   be.shop.http,s1,0,0,0,0,DOWN 1/2,0,,\n";
        let rows = parse_show_stat(csv);
        assert_eq!(rows.len(), 3);
        assert_eq!((rows[0].scur, rows[0].req_rate), (3, Some(40.0)));
        assert!(rows[1].server_up() && !rows[2].server_up());
        assert_eq!(rows[1].req_rate, None);
    }
}
