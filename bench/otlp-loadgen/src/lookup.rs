//! `lookup`: trace-by-ID latency, `GET /api/traces/<id>` over plain HTTP/1.1.
//!
//! A hand-written keep-alive client over `std::net::TcpStream` keeps the
//! dependency list short and the measurement transparent: the time is from
//! writing the request to having read the whole body, nothing else.

use crate::cli::LookupArgs;
use crate::stats::exact_percentile_ms;
use anyhow::{bail, ensure, Context, Result};
use opentelemetry_proto::tonic::trace::v1::TracesData;
use prost::Message;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::Path;
use std::time::{Duration, Instant};

#[derive(Default)]
struct Outcome {
    latencies_us: Vec<u64>,
    ok: u64,
    not_found: u64,
    /// Transport errors and unexpected statuses.
    errors: u64,
    first_error: Option<String>,
    /// Spans in 200 responses that decoded as OTLP `TracesData`.
    spans: u64,
    undecodable: u64,
}

impl Outcome {
    fn merge(&mut self, o: Outcome) {
        self.latencies_us.extend(o.latencies_us);
        self.ok += o.ok;
        self.not_found += o.not_found;
        self.errors += o.errors;
        self.spans += o.spans;
        self.undecodable += o.undecodable;
        if self.first_error.is_none() {
            self.first_error = o.first_error;
        }
    }

    fn error(&mut self, msg: String) {
        self.errors += 1;
        self.first_error.get_or_insert(msg);
    }
}

pub fn run(args: &LookupArgs) -> Result<bool> {
    ensure!(args.concurrency >= 1, "--concurrency must be at least 1");
    ensure!(args.timeout > 0.0, "--timeout must be positive");
    let (addr, host) = parse_url(&args.url)?;
    let ids = read_ids(&args.ids)?;
    ensure!(!ids.is_empty(), "{} holds no trace IDs", args.ids.display());
    let seed = args.seed.unwrap_or_else(|| rand::rng().random());
    let mut rng = SmallRng::seed_from_u64(seed);
    let count = args.count.min(ids.len());
    let sample: Vec<&str> = rand::seq::index::sample(&mut rng, ids.len(), count)
        .into_iter()
        .map(|i| ids[i].as_str())
        .collect();
    let headers = request_headers(&host, args);
    let timeout = Duration::from_secs_f64(args.timeout);
    let start = Instant::now();
    let mut total = Outcome::default();
    let chunk = sample.len().div_ceil(args.concurrency).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = sample
            .chunks(chunk)
            .map(|ids| {
                let headers = headers.as_str();
                scope.spawn(move || lookup_all(addr, headers, timeout, ids))
            })
            .collect();
        for h in handles {
            total.merge(h.join().expect("lookup thread panicked"));
        }
    });
    print_summary(args, seed, ids.len(), &mut total, start.elapsed());
    Ok(args.allow_errors || (total.errors == 0 && total.not_found == 0))
}

/// `http://host:port[/]` → socket address and `Host` header value.
fn parse_url(url: &str) -> Result<(SocketAddr, String)> {
    let Some(rest) = url.strip_prefix("http://") else {
        bail!("--url must start with http:// (TLS is not supported)");
    };
    let host = rest.trim_end_matches('/');
    ensure!(!host.contains('/'), "--url must not have a path: {url}");
    let addr = host
        .to_socket_addrs()
        .with_context(|| format!("resolving {host} (expected host:port)"))?
        .next()
        .with_context(|| format!("{host} resolves to nothing"))?;
    Ok((addr, host.to_string()))
}

fn read_ids(path: &Path) -> Result<Vec<String>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut ids = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let id = line.trim();
        if id.is_empty() {
            continue;
        }
        ensure!(
            id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()),
            "{}:{}: not a 32-digit hex trace ID: {id:?}",
            path.display(),
            n + 1
        );
        ids.push(id.to_string());
    }
    Ok(ids)
}

/// Everything after the request line; identical for every request.
fn request_headers(host: &str, args: &LookupArgs) -> String {
    let mut h = format!(
        "Host: {host}\r\nAccept: {}\r\nUser-Agent: otlp-loadgen\r\nConnection: keep-alive\r\n",
        args.accept
    );
    if let Some(t) = &args.tenant {
        h += &format!("X-Scope-OrgID: {t}\r\n");
    }
    h + "\r\n"
}

fn lookup_all(addr: SocketAddr, headers: &str, timeout: Duration, ids: &[&str]) -> Outcome {
    let mut conn = HttpConn::new(addr, timeout);
    let mut out = Outcome::default();
    for id in ids {
        let started = Instant::now();
        let result = conn.get(&format!("/api/traces/{id}"), headers);
        let elapsed = started.elapsed();
        match result {
            Ok((200, body)) => {
                out.latencies_us.push(elapsed.as_micros() as u64);
                out.ok += 1;
                // Decoding is outside the timed section: it is only a sanity check.
                match TracesData::decode(&body[..]) {
                    Ok(t) => out.spans += span_count(&t),
                    Err(_) => out.undecodable += 1,
                }
            }
            Ok((404, _)) => {
                out.latencies_us.push(elapsed.as_micros() as u64);
                out.not_found += 1;
            }
            Ok((status, body)) => {
                let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
                out.error(format!("{id}: HTTP {status}: {text}"));
            }
            Err(e) => out.error(format!("{id}: {e}")),
        }
    }
    out
}

fn span_count(t: &TracesData) -> u64 {
    t.resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .map(|ss| ss.spans.len() as u64)
        .sum()
}

fn print_summary(args: &LookupArgs, seed: u64, ids: usize, o: &mut Outcome, elapsed: Duration) {
    o.latencies_us.sort_unstable();
    let lat = &o.latencies_us;
    let (p50, p99) = (
        exact_percentile_ms(lat, 0.5),
        exact_percentile_ms(lat, 0.99),
    );
    let max = lat.last().map_or(0.0, |&v| v as f64 / 1000.0);
    let mean_spans = o.spans as f64 / o.ok.max(1) as f64;
    let n = lat.len() as u64 + o.errors;
    println!(
        "otlp-loadgen lookup: {} ({} of {ids} IDs, seed {seed}, concurrency {}, Accept: {})",
        args.url, n, args.concurrency, args.accept
    );
    println!("  elapsed          {:.2} s", elapsed.as_secs_f64());
    println!(
        "  found            {} (mean {mean_spans:.1} spans, {} undecodable)",
        o.ok, o.undecodable
    );
    println!("  not found        {}", o.not_found);
    println!("  errors           {}", o.errors);
    if let Some(e) = &o.first_error {
        println!("  first error      {e}");
    }
    println!(
        "  latency          p50 {p50:.2} ms  p99 {p99:.2} ms  max {max:.2} ms (200s and 404s)"
    );
    println!(
        "RESULT lookups={n} ok={} not_found={} errors={} undecodable={} mean_spans={mean_spans:.2} \
         p50_ms={p50:.3} p99_ms={p99:.3} max_ms={max:.3}",
        o.ok, o.not_found, o.errors, o.undecodable
    );
}

/// One keep-alive HTTP/1.1 connection, reopened when the server closes it.
struct HttpConn {
    addr: SocketAddr,
    timeout: Duration,
    stream: Option<BufReader<TcpStream>>,
}

impl HttpConn {
    fn new(addr: SocketAddr, timeout: Duration) -> HttpConn {
        HttpConn {
            addr,
            timeout,
            stream: None,
        }
    }

    fn get(&mut self, path: &str, headers: &str) -> io::Result<(u16, Vec<u8>)> {
        let reused = self.stream.is_some();
        match self.try_get(path, headers) {
            // A kept-alive connection may have been closed by the server
            // between requests; retry once on a fresh one.
            Err(_) if reused => {
                self.stream = None;
                self.try_get(path, headers)
            }
            r => r,
        }
    }

    fn try_get(&mut self, path: &str, headers: &str) -> io::Result<(u16, Vec<u8>)> {
        let reader = self.connected()?;
        let request = format!("GET {path} HTTP/1.1\r\n{headers}");
        reader.get_mut().write_all(request.as_bytes())?;
        let result = read_response(reader);
        match &result {
            Ok((_, _, keep_alive)) if *keep_alive => {}
            _ => self.stream = None,
        }
        result.map(|(status, body, _)| (status, body))
    }

    fn connected(&mut self) -> io::Result<&mut BufReader<TcpStream>> {
        if self.stream.is_none() {
            let s = TcpStream::connect_timeout(&self.addr, self.timeout)?;
            s.set_nodelay(true)?;
            s.set_read_timeout(Some(self.timeout))?;
            s.set_write_timeout(Some(self.timeout))?;
            self.stream = Some(BufReader::with_capacity(64 * 1024, s));
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
        // No length: the body runs until the server closes the connection.
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
            // Skip trailers up to the blank line.
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
        read_line(r, &mut line)?; // CRLF after the chunk
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;
    use std::net::TcpListener;

    #[test]
    fn parses_content_length_and_chunked() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc";
        let (s, b, ka) = read_response(&mut Cursor::new(&raw[..])).unwrap();
        assert_eq!((s, &b[..], ka), (200, &b"abc"[..], true));
        let raw = b"HTTP/1.1 404 Not Found\r\ntransfer-encoding: chunked\r\nConnection: close\r\n\r\n2\r\nab\r\n1;x=y\r\nc\r\n0\r\n\r\n";
        let (s, b, ka) = read_response(&mut Cursor::new(&raw[..])).unwrap();
        assert_eq!((s, &b[..], ka), (404, &b"abc"[..], false));
    }

    #[test]
    fn url_parsing() {
        assert_eq!(
            parse_url("http://127.0.0.1:3200/").unwrap().1,
            "127.0.0.1:3200"
        );
        assert!(parse_url("https://127.0.0.1:3200").is_err());
        assert!(parse_url("http://127.0.0.1:3200/api").is_err());
    }

    /// End to end against a tiny server that answers two keep-alive requests
    /// on one connection and then closes it, forcing a reconnect.
    #[test]
    fn keep_alive_and_reconnect() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            for _ in 0..2 {
                let (s, _) = listener.accept().unwrap();
                let mut r = BufReader::new(s);
                for _ in 0..2 {
                    let mut line = String::new();
                    while r.read_line(&mut line).unwrap() > 2 {
                        line.clear();
                    }
                    let body = TracesData::default().encode_to_vec();
                    let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
                    r.get_mut().write_all(head.as_bytes()).unwrap();
                }
            }
        });
        let out = lookup_all(
            addr,
            "Host: x\r\n\r\n",
            Duration::from_secs(5),
            &["a", "b", "c", "d"],
        );
        server.join().unwrap();
        assert_eq!((out.ok, out.errors), (4, 0), "{:?}", out.first_error);
    }
}
