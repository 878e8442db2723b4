//! A minimal keep-alive HTTP/1.1 client over `std::net::TcpStream`: the timed
//! section is exactly "request written → whole response read", with no HTTP
//! library in between.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};

/// `http://host:port/path?query` → (address, `Host` value, path with query).
pub fn parse_url(url: &str) -> Result<(SocketAddr, String, String)> {
    let Some(rest) = url.strip_prefix("http://") else {
        bail!("URL must start with http:// (TLS is not supported): {url}");
    };
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    ensure!(!host.is_empty(), "no host in {url}");
    let addr = host
        .to_socket_addrs()
        .with_context(|| format!("resolving {host} (expected host:port)"))?
        .next()
        .with_context(|| format!("{host} resolves to nothing"))?;
    Ok((addr, host.to_string(), path.to_string()))
}

pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

/// One keep-alive connection, reopened when the server closes it.
pub struct Conn {
    addr: SocketAddr,
    timeout: Duration,
    stream: Option<BufReader<TcpStream>>,
}

impl Conn {
    pub fn new(addr: SocketAddr, timeout: Duration) -> Conn {
        Conn {
            addr,
            timeout,
            stream: None,
        }
    }

    /// Sends `head` (request line and headers, ending with the blank line) and
    /// `body`; retries once on a fresh connection if a reused one fails.
    pub fn request(&mut self, head: &[u8], body: &[u8]) -> io::Result<Response> {
        let reused = self.stream.is_some();
        match self.try_request(head, body) {
            Err(_) if reused => {
                self.stream = None;
                self.try_request(head, body)
            }
            r => r,
        }
    }

    fn try_request(&mut self, head: &[u8], body: &[u8]) -> io::Result<Response> {
        let reader = self.connected()?;
        let s = reader.get_mut();
        s.write_all(head)?;
        if !body.is_empty() {
            s.write_all(body)?;
        }
        let result = read_response(reader);
        match &result {
            Ok((_, _, true)) => {}
            _ => self.stream = None,
        }
        result.map(|(status, body, _)| Response { status, body })
    }

    fn connected(&mut self) -> io::Result<&mut BufReader<TcpStream>> {
        if self.stream.is_none() {
            let s = TcpStream::connect_timeout(&self.addr, self.timeout)?;
            s.set_nodelay(true)?;
            s.set_read_timeout(Some(self.timeout))?;
            s.set_write_timeout(Some(self.timeout))?;
            self.stream = Some(BufReader::with_capacity(256 * 1024, s));
        }
        Ok(self.stream.as_mut().expect("just connected"))
    }
}

fn bad(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

/// Reads status, headers and body; returns whether the connection stays open.
fn read_response(r: &mut impl BufRead) -> io::Result<(u16, Vec<u8>, bool)> {
    let mut line = String::new();
    read_line(r, &mut line)?;
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad(format!("bad status line {line:?}")))?;
    let (mut length, mut chunked, mut keep_alive) = (None, false, !line.starts_with("HTTP/1.0"));
    loop {
        read_line(r, &mut line)?;
        let trimmed = line.trim_end();
        if trimmed.is_empty() {
            break;
        }
        let Some((name, value)) = trimmed.split_once(':') else {
            return Err(bad(format!("bad header {trimmed:?}")));
        };
        let (name, value) = (name.trim(), value.trim());
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(
                value
                    .parse::<usize>()
                    .map_err(|_| bad("bad Content-Length"))?,
            );
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().contains("chunked");
        } else if name.eq_ignore_ascii_case("connection") {
            keep_alive = !value.eq_ignore_ascii_case("close");
        }
    }
    let body = if status == 204 || status == 304 {
        Vec::new()
    } else if chunked {
        read_chunked(r)?
    } else if let Some(n) = length {
        let mut body = vec![0; n];
        r.read_exact(&mut body)?;
        body
    } else {
        keep_alive = false;
        let mut body = Vec::new();
        r.read_to_end(&mut body)?;
        body
    };
    Ok((status, body, keep_alive))
}

fn read_line(r: &mut impl BufRead, line: &mut String) -> io::Result<()> {
    line.clear();
    if r.read_line(line)? == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed",
        ));
    }
    Ok(())
}

fn read_chunked(r: &mut impl BufRead) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    let mut line = String::new();
    loop {
        read_line(r, &mut line)?;
        let size_hex = line.trim().split(';').next().unwrap_or("");
        let size = usize::from_str_radix(size_hex, 16).map_err(|_| bad("bad chunk size"))?;
        if size == 0 {
            loop {
                read_line(r, &mut line)?;
                if line.trim().is_empty() {
                    return Ok(body);
                }
            }
        }
        let start = body.len();
        body.resize(start + size, 0);
        r.read_exact(&mut body[start..])?;
        read_line(r, &mut line)?;
    }
}

/// Percent-encodes a query-string value.
pub fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Exact percentile (nearest rank) of sorted microseconds, in ms.
pub fn percentile_ms(sorted_us: &[u64], q: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted_us.len() as f64).ceil() as usize).clamp(1, sorted_us.len());
    sorted_us[rank - 1] as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn parses_content_length_and_chunked() {
        let raw = b"HTTP/1.1 204 No Content\r\nDate: x\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc";
        let mut c = Cursor::new(&raw[..]);
        assert_eq!(read_response(&mut c).unwrap(), (204, vec![], true));
        assert_eq!(read_response(&mut c).unwrap(), (200, b"abc".to_vec(), true));
        let raw = b"HTTP/1.1 400 Bad\r\ntransfer-encoding: chunked\r\nConnection: close\r\n\r\n2\r\nab\r\n1;x=y\r\nc\r\n0\r\n\r\n";
        let (s, b, ka) = read_response(&mut Cursor::new(&raw[..])).unwrap();
        assert_eq!((s, &b[..], ka), (400, &b"abc"[..], false));
    }

    #[test]
    fn urls_and_percentiles() {
        let (_, host, path) = parse_url("http://127.0.0.1:9090/api/v1/write").unwrap();
        assert_eq!(
            (host.as_str(), path.as_str()),
            ("127.0.0.1:9090", "/api/v1/write")
        );
        assert_eq!(
            urlencode("sum by (a)(x{b=\"c\"})"),
            "sum%20by%20%28a%29%28x%7Bb%3D%22c%22%7D%29"
        );
        assert_eq!(percentile_ms(&[1000, 2000, 3000, 4000], 0.5), 2.0);
        assert_eq!(percentile_ms(&[1000, 2000, 3000, 4000], 0.9), 4.0);
    }
}
