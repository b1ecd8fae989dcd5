//! HTTP/1.1 on a connection, with hard limits: the request head is bounded in bytes, header
//! count and time; bodies are bounded; idle keep-alive connections are closed. Parsing is
//! httparse's; everything the handler needs is borrowed from the read buffer.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::handler::{Request, Response, respond};
use super::run::Shared;

/// Bounds on what a client may send and how slowly.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Request line and headers together, in bytes.
    pub max_head: usize,
    /// Number of headers.
    pub max_headers: usize,
    /// Request body, in bytes (bodies are read and dropped: no route takes one).
    pub max_body: usize,
    /// Time from a request's first byte to the end of its head (and body).
    pub head_timeout: Duration,
    /// Time a keep-alive connection may sit idle between requests.
    pub idle_timeout: Duration,
    /// Time to write one response.
    pub write_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_head: 8 * 1024,
            max_headers: 32,
            max_body: 1024,
            head_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(15),
            write_timeout: Duration::from_secs(10),
        }
    }
}

/// How often a blocked read wakes to notice a shutdown.
const SLICE: Duration = Duration::from_millis(200);

enum Next {
    /// Another request may follow on this connection.
    KeepAlive,
    /// Close the connection.
    Close,
}

/// Serves requests on one connection until the client leaves, a limit is hit, or the server
/// shuts down.
pub(crate) fn serve_connection(mut stream: TcpStream, peer: SocketAddr, shared: &Shared) {
    let limits = shared.limits;
    let _ = stream.set_nodelay(true);
    let _ = stream.set_write_timeout(Some(limits.write_timeout));
    let mut buf: Vec<u8> = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        // Read until a whole head is in `buf`.
        let mut first_byte: Option<Instant> = None;
        let idle_since = Instant::now();
        let head_len = loop {
            if !buf.is_empty() {
                first_byte.get_or_insert_with(Instant::now);
                match parse_head_len(&buf, limits.max_headers) {
                    Ok(Some(n)) => break n,
                    Ok(None) if buf.len() >= limits.max_head => {
                        reject(
                            &mut stream,
                            peer,
                            shared,
                            431,
                            "Request Header Fields Too Large",
                        );
                        return;
                    }
                    Ok(None) => {}
                    Err(status) => {
                        let reason = if status == 431 {
                            "Request Header Fields Too Large"
                        } else {
                            "Bad Request"
                        };
                        reject(&mut stream, peer, shared, status, reason);
                        return;
                    }
                }
            }
            if shared.shutting_down.load(Ordering::Relaxed) && buf.is_empty() {
                return;
            }
            let remaining = match first_byte {
                Some(t) => limits.head_timeout.checked_sub(t.elapsed()),
                None => limits.idle_timeout.checked_sub(idle_since.elapsed()),
            };
            let Some(remaining) = remaining.filter(|d| !d.is_zero()) else {
                if first_byte.is_some() {
                    reject(&mut stream, peer, shared, 408, "Request Timeout");
                }
                return;
            };
            let _ = stream.set_read_timeout(Some(remaining.min(SLICE)));
            let room = (limits.max_head - buf.len().min(limits.max_head)).clamp(1, chunk.len());
            match stream.read(&mut chunk[..room]) {
                Ok(0) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                    ) => {}
                Err(_) => return,
            }
        };
        match handle(
            &mut stream,
            peer,
            shared,
            &mut buf,
            head_len,
            first_byte.unwrap_or_else(Instant::now),
        ) {
            Next::KeepAlive if !shared.shutting_down.load(Ordering::Relaxed) => {}
            _ => return,
        }
    }
}

/// The length of the head at the start of `buf`: `Ok(None)` if incomplete, `Err(status)` if
/// it can never be valid.
fn parse_head_len(buf: &[u8], max_headers: usize) -> Result<Option<usize>, u16> {
    let mut headers = vec![httparse::EMPTY_HEADER; max_headers];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => Ok(Some(n)),
        Ok(httparse::Status::Partial) => Ok(None),
        Err(httparse::Error::TooManyHeaders) => Err(431),
        Err(_) => Err(400),
    }
}

/// Answers the request whose head is `buf[..head_len]`, then drops it (and its body) from
/// `buf`, keeping any pipelined bytes that follow.
fn handle(
    stream: &mut TcpStream,
    peer: SocketAddr,
    shared: &Shared,
    buf: &mut Vec<u8>,
    head_len: usize,
    started: Instant,
) -> Next {
    let limits = shared.limits;
    let mut headers = vec![httparse::EMPTY_HEADER; limits.max_headers];
    let mut parsed = httparse::Request::new(&mut headers);
    if parsed.parse(&buf[..head_len]).is_err() {
        reject(stream, peer, shared, 400, "Bad Request");
        return Next::Close;
    }
    let method = parsed.method.unwrap_or("");
    let target = parsed.path.unwrap_or("");
    let version = parsed.version.unwrap_or(1);
    let header = |name: &str| {
        parsed
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .and_then(|h| std::str::from_utf8(h.value).ok())
    };
    if header("Transfer-Encoding").is_some() {
        reject(stream, peer, shared, 411, "Length Required");
        return Next::Close;
    }
    let body_len = match header("Content-Length").map(|v| v.trim().parse::<usize>()) {
        None => 0,
        Some(Ok(n)) if n <= limits.max_body => n,
        Some(Ok(_)) => {
            reject(stream, peer, shared, 413, "Content Too Large");
            return Next::Close;
        }
        Some(Err(_)) => {
            reject(stream, peer, shared, 400, "Bad Request");
            return Next::Close;
        }
    };
    let connection = header("Connection").unwrap_or("").to_ascii_lowercase();
    let keep_alive = if version == 0 {
        connection.contains("keep-alive")
    } else {
        !connection.contains("close")
    };
    let request = Request {
        method,
        target,
        certificate: header("X-Payment-Certificate"),
        origin: header("Origin"),
    };
    let store = shared.store();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let response = if target.len() > 2048 {
        Response::error(414, "uri_too_long", "URI Too Long")
    } else {
        respond(&request, &store, &shared.metrics, &shared.handler, now)
    };
    let keep_alive = keep_alive && !shared.shutting_down.load(Ordering::Relaxed);
    let written = write_response(stream, &response, method == "HEAD", keep_alive);
    shared.metrics.count(response.status);
    if shared.access_log {
        access_log(
            peer,
            method,
            target,
            response.status,
            response.body.len(),
            response.good,
            started,
        );
    }
    drop(response);
    drop(store);
    // Drop the request and read past its body.
    let mut consumed = head_len;
    let want = head_len + body_len;
    while buf.len() < want {
        let mut chunk = [0u8; 1024];
        let left = limits
            .head_timeout
            .checked_sub(started.elapsed())
            .filter(|d| !d.is_zero());
        let Some(left) = left else { return Next::Close };
        let _ = stream.set_read_timeout(Some(left.min(SLICE)));
        match stream.read(&mut chunk[..(want - buf.len()).min(1024)]) {
            Ok(0) => return Next::Close,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) => {}
            Err(_) => return Next::Close,
        }
    }
    consumed += body_len;
    buf.drain(..consumed);
    if written && keep_alive {
        Next::KeepAlive
    } else {
        Next::Close
    }
}

/// Answers a request the HTTP layer refused, then the caller closes the connection.
fn reject(stream: &mut TcpStream, peer: SocketAddr, shared: &Shared, status: u16, reason: &str) {
    let response = Response::error(
        status,
        &reason.to_ascii_lowercase().replace(' ', "_"),
        reason,
    );
    write_response(stream, &response, false, false);
    shared.metrics.count(status);
    if shared.access_log {
        access_log(
            peer,
            "-",
            "-",
            status,
            response.body.len(),
            None,
            Instant::now(),
        );
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        400 => "Bad Request",
        402 => "Payment Required",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Content Too Large",
        414 => "URI Too Long",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

/// Writes `response`; returns whether it was written whole.
fn write_response(
    stream: &mut TcpStream,
    response: &Response<'_>,
    head_only: bool,
    keep_alive: bool,
) -> bool {
    let mut out = Vec::with_capacity(256 + response.body.len());
    let _ = write!(
        out,
        "HTTP/1.1 {} {}\r\n",
        response.status,
        reason(response.status)
    );
    out.extend_from_slice(b"Date: ");
    http_date(&mut out);
    let _ = write!(
        out,
        "\r\nServer: satoshipress-content\r\nContent-Length: {}\r\nConnection: {}\r\n",
        response.body.len(),
        if keep_alive { "keep-alive" } else { "close" }
    );
    for (name, value) in &response.headers {
        let _ = write!(out, "{name}: {value}\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if !head_only {
        out.extend_from_slice(&response.body);
    }
    stream.write_all(&out).is_ok()
}

/// The current time as an HTTP date, formatted once per second per thread.
fn http_date(out: &mut Vec<u8>) {
    use std::cell::RefCell;
    thread_local! {
        static CACHE: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.0 != now {
            let (y, mo, d, h, mi, s, wd) = civil(now);
            const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
            const MONTHS: [&str; 12] = [
                "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
            ];
            *c = (
                now,
                format!(
                    "{}, {d:02} {} {y} {h:02}:{mi:02}:{s:02} GMT",
                    DAYS[wd],
                    MONTHS[mo as usize - 1]
                ),
            );
        }
        out.extend_from_slice(c.1.as_bytes());
    });
}

/// Unix seconds → (year, month, day, hour, minute, second, weekday with 0 = Thursday).
pub(crate) fn civil(secs: u64) -> (i64, u32, u32, u64, u64, u64, usize) {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's days-from-civil, inverted.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        y,
        m,
        d,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        (days.rem_euclid(7)) as usize,
    )
}

/// One access-log line on stderr. The query string is never logged: it holds certificates.
fn access_log(
    peer: SocketAddr,
    method: &str,
    target: &str,
    status: u16,
    bytes: usize,
    good: Option<&str>,
    started: Instant,
) {
    let path = target.split('?').next().unwrap_or("");
    let path: String = path
        .chars()
        .take(200)
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' {
                c
            } else {
                '?'
            }
        })
        .collect();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let (y, mo, d, h, mi, s, _) = civil(now.as_secs());
    let method: String = method
        .chars()
        .take(16)
        .map(|c| {
            if c.is_ascii_alphabetic() || c == '-' {
                c
            } else {
                '?'
            }
        })
        .collect();
    let line = format!(
        "ts={y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{:03}Z peer={} method={method} path=\"{path}\" status={status} bytes={bytes} dur_us={} good={}\n",
        now.subsec_millis(),
        peer.ip(),
        started.elapsed().as_micros(),
        good.unwrap_or("-")
    );
    let _ = std::io::stderr().write_all(line.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil(0), (1970, 1, 1, 0, 0, 0, 0));
        assert_eq!(civil(784_111_777), (1994, 11, 6, 8, 49, 37, 3)); // Sun, 06 Nov 1994 08:49:37
        assert_eq!(civil(951_782_400), (2000, 2, 29, 0, 0, 0, 5)); // a Tuesday
        assert_eq!(civil(1_796_083_200), (2026, 12, 1, 0, 0, 0, 5)); // a Tuesday
    }

    #[test]
    fn head_parsing() {
        assert_eq!(
            parse_head_len(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", 8),
            Ok(Some(27))
        );
        assert_eq!(
            parse_head_len(b"GET / HTTP/1.1\r\nHost: a\r\n", 8),
            Ok(None)
        );
        assert_eq!(
            parse_head_len(b"GET / HTTP/1.1\r\na: 1\r\nb: 2\r\nc: 3\r\n\r\n", 2),
            Err(431)
        );
        assert_eq!(parse_head_len(b"GET /\xff HTTP/1.1\r\n\r\n", 8), Err(400));
        assert_eq!(parse_head_len(b"\x00\x01garbage\r\n\r\n", 8), Err(400));
    }
}
