//! `acs-emulator healthcheck`: probe a running emulator's health (or readiness) endpoint.
//!
//! Container images run it as their `HEALTHCHECK`, so it must work without a shell, curl or
//! TLS: it speaks just enough HTTP/1.1 over a plain TCP connection to read the status line.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Where to probe: `http://host:port/path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeUrl {
    host: String,
    port: u16,
    path: String,
}

impl ProbeUrl {
    /// Parses an `http://` URL (HTTPS is not supported: probe the HTTP listener).
    pub fn parse(url: &str) -> Result<Self, String> {
        let rest = url.strip_prefix("http://").ok_or_else(|| {
            format!("'{url}' is not an http:// URL (probe the emulator's plain HTTP listener)")
        })?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) if !host.ends_with(']') || authority.starts_with('[') => {
                let port = port
                    .parse()
                    .map_err(|_| format!("'{url}' has an invalid port"))?;
                (host.trim_start_matches('[').trim_end_matches(']'), port)
            }
            _ => (authority, 80),
        };
        if host.is_empty() {
            return Err(format!("'{url}' has no host"));
        }
        Ok(Self {
            host: host.to_string(),
            port,
            path: path.to_string(),
        })
    }
}

impl ProbeUrl {
    /// The same URL with `path` in place of an empty one (`http://host:8080` or
    /// `http://host:8080/`, a base URL); a URL with a path keeps it.
    pub fn or_path(mut self, path: &str) -> Self {
        if self.path == "/" {
            self.path = path.to_string();
        }
        self
    }

    /// The path probed.
    pub fn path(&self) -> &str {
        &self.path
    }
}

/// Sends `GET path` and returns the HTTP status code.
pub fn probe(url: &ProbeUrl, timeout: Duration) -> Result<u16, String> {
    let addrs: Vec<SocketAddr> = (url.host.as_str(), url.port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {}: {e}", url.host))?
        .collect();
    let addr = addrs
        .first()
        .ok_or_else(|| format!("{} has no address", url.host))?;
    let mut stream = TcpStream::connect_timeout(addr, timeout)
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    stream
        .set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    stream
        .set_write_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}:{}\r\nUser-Agent: acs-emulator-healthcheck\r\nConnection: close\r\n\r\n",
        url.path, url.host, url.port
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("cannot send the request: {e}"))?;
    let mut head = [0u8; 64];
    let mut read = 0;
    while read < 12 {
        match stream.read(&mut head[read..]) {
            Ok(0) => break,
            Ok(n) => read += n,
            Err(e) => return Err(format!("no answer: {e}")),
        }
    }
    let line = String::from_utf8_lossy(&head[..read]);
    line.strip_prefix("HTTP/1.1 ")
        .or_else(|| line.strip_prefix("HTTP/1.0 "))
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("not an HTTP answer: {line:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_with_and_without_port_and_path() {
        assert_eq!(
            ProbeUrl::parse("http://127.0.0.1:8080/_emulator/health"),
            Ok(ProbeUrl {
                host: "127.0.0.1".into(),
                port: 8080,
                path: "/_emulator/health".into()
            })
        );
        assert_eq!(
            ProbeUrl::parse("http://emulator"),
            Ok(ProbeUrl {
                host: "emulator".into(),
                port: 80,
                path: "/".into()
            })
        );
        assert_eq!(
            ProbeUrl::parse("http://[::1]:9/x"),
            Ok(ProbeUrl {
                host: "::1".into(),
                port: 9,
                path: "/x".into()
            })
        );
        assert!(ProbeUrl::parse("https://127.0.0.1:8443/").is_err());
        assert!(ProbeUrl::parse("http://:80/").is_err());
        assert!(ProbeUrl::parse("http://h:port/").is_err());
    }

    #[test]
    fn a_base_url_gets_the_default_path_and_a_full_url_keeps_its_own() {
        for base in ["http://127.0.0.1:8080", "http://127.0.0.1:8080/"] {
            let url = ProbeUrl::parse(base)
                .expect("url")
                .or_path("/_emulator/ready");
            assert_eq!(url.path(), "/_emulator/ready", "{base}");
        }
        let url = ProbeUrl::parse("http://127.0.0.1:8080/_emulator/health")
            .expect("url")
            .or_path("/_emulator/ready");
        assert_eq!(url.path(), "/_emulator/health");
    }

    #[test]
    fn nothing_listening_is_an_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        drop(listener);
        let url = ProbeUrl::parse(&format!("http://127.0.0.1:{port}/")).expect("url");
        assert!(probe(&url, Duration::from_millis(500)).is_err());
    }
}
