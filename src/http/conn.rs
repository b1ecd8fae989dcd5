//! HTTP/1.1 on one connection, with hard limits: the request head is bounded in bytes,
//! header count and time; bodies are bounded; idle keep-alive connections are closed.

use std::borrow::Cow;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A parsed request, borrowed from the connection's buffer.
#[derive(Debug)]
pub struct Request<'a> {
    /// `GET`, `POST`, …
    pub method: &'a str,
    /// Path and query.
    pub target: &'a str,
    /// The headers.
    pub headers: &'a [httparse::Header<'a>],
    /// The body (at most [`Limits::max_body`] bytes).
    pub body: &'a [u8],
    /// The client.
    pub peer: SocketAddr,
}

impl Request<'_> {
    /// The first header called `name` (any case), if it is UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .and_then(|h| std::str::from_utf8(h.value).ok())
    }

    /// The path, without the query.
    pub fn path(&self) -> &str {
        self.target.split_once('?').map_or(self.target, |(p, _)| p)
    }

    /// The query string, without `?`.
    pub fn query(&self) -> &str {
        self.target.split_once('?').map_or("", |(_, q)| q)
    }
}

/// An answer.
#[derive(Debug)]
pub struct Response<'a> {
    /// HTTP status.
    pub status: u16,
    /// Headers besides Content-Length, Date, Server and Connection.
    pub headers: Vec<(&'static str, Cow<'a, str>)>,
    /// The body (not sent for HEAD).
    pub body: Cow<'a, [u8]>,
    /// A note for the access log (a good id), never a secret.
    pub note: Option<&'a str>,
    /// Close the connection without answering (fault injection in the sandbox).
    pub drop_connection: bool,
}

impl<'a> Response<'a> {
    /// A response with a content type and `X-Content-Type-Options: nosniff`.
    pub fn new(status: u16, content_type: &'a str, body: impl Into<Cow<'a, [u8]>>) -> Self {
        Response {
            status,
            headers: vec![
                ("Content-Type", Cow::Borrowed(content_type)),
                ("X-Content-Type-Options", Cow::Borrowed("nosniff")),
            ],
            body: body.into(),
            note: None,
            drop_connection: false,
        }
    }

    /// A JSON response.
    pub fn json(status: u16, value: &serde_json::Value) -> Self {
        Response::new(
            status,
            "application/json; charset=utf-8",
            serde_json::to_vec(value).expect("JSON"),
        )
    }

    /// A JSON error object shaped like the Digital Goods API's:
    /// `{"name", "message", "statusCode", "errorCode"}`.
    pub fn error(status: u16, name: &str, message: &str) -> Self {
        Response::json(
            status,
            &serde_json::json!({ "name": name, "message": message, "statusCode": status, "errorCode": status }),
        )
    }

    /// Adds a header.
    pub fn header(mut self, name: &'static str, value: impl Into<Cow<'a, str>>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// The value of header `name`, if set.
    pub fn get_header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_ref())
    }
}

/// What a request came to, for logs and metrics.
#[derive(Debug)]
pub struct Outcome<'a> {
    /// The client, when known.
    pub peer: Option<SocketAddr>,
    /// Method, `-` when the request could not be parsed.
    pub method: &'a str,
    /// Target (log only its path: the query may hold secrets).
    pub target: &'a str,
    /// Status sent.
    pub status: u16,
    /// Body bytes.
    pub bytes: usize,
    /// The response's note.
    pub note: Option<&'a str>,
    /// When the request began.
    pub started: Instant,
}

/// An application behind the HTTP layer.
pub trait Service: Send + Sync {
    /// Answers `req`, calling `reply` exactly once.
    fn serve(&self, req: &Request<'_>, reply: &mut dyn FnMut(&Response<'_>));

    /// Sees every answer, including those the HTTP layer gave itself (400, 408, 431, 503).
    fn observe(&self, _outcome: &Outcome<'_>) {}
}

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
/// stops.
pub(crate) fn serve_connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    service: &dyn Service,
    limits: Limits,
    stopping: &AtomicBool,
) {
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
                        return reject(&mut stream, peer, service, 431);
                    }
                    Ok(None) => {}
                    Err(status) => return reject(&mut stream, peer, service, status),
                }
            }
            if stopping.load(Ordering::Relaxed) && buf.is_empty() {
                return;
            }
            let remaining = match first_byte {
                Some(t) => limits.head_timeout.checked_sub(t.elapsed()),
                None => limits.idle_timeout.checked_sub(idle_since.elapsed()),
            };
            let Some(remaining) = remaining.filter(|d| !d.is_zero()) else {
                if first_byte.is_some() {
                    reject(&mut stream, peer, service, 408);
                }
                return;
            };
            let room = (limits.max_head - buf.len().min(limits.max_head)).clamp(1, chunk.len());
            match read_some(&mut stream, &mut chunk[..room], remaining) {
                Got::Data(n) => buf.extend_from_slice(&chunk[..n]),
                Got::Nothing => {}
                Got::Closed => return,
            }
        };
        let started = first_byte.unwrap_or_else(Instant::now);
        match handle(
            &mut stream,
            peer,
            service,
            limits,
            &mut buf,
            head_len,
            started,
            stopping,
        ) {
            Next::KeepAlive if !stopping.load(Ordering::Relaxed) => {}
            _ => return,
        }
    }
}

enum Got {
    Data(usize),
    Nothing,
    Closed,
}

/// One read, waiting at most `wait` (in slices, so a stop is noticed).
fn read_some(stream: &mut TcpStream, into: &mut [u8], wait: Duration) -> Got {
    let _ = stream.set_read_timeout(Some(wait.min(SLICE)));
    match stream.read(into) {
        Ok(0) => Got::Closed,
        Ok(n) => Got::Data(n),
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
            ) =>
        {
            Got::Nothing
        }
        Err(_) => Got::Closed,
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

/// Answers the request whose head is `buf[..head_len]`, then drops it and its body from
/// `buf`, keeping any pipelined bytes that follow.
#[allow(clippy::too_many_arguments)]
fn handle(
    stream: &mut TcpStream,
    peer: SocketAddr,
    service: &dyn Service,
    limits: Limits,
    buf: &mut Vec<u8>,
    head_len: usize,
    started: Instant,
    stopping: &AtomicBool,
) -> Next {
    // The body: bounded, and read whole before the service sees the request.
    let (body_len, keep_alive) = {
        let mut headers = vec![httparse::EMPTY_HEADER; limits.max_headers];
        let mut parsed = httparse::Request::new(&mut headers);
        if parsed.parse(&buf[..head_len]).is_err() {
            reject(stream, peer, service, 400);
            return Next::Close;
        }
        let header = |name: &str| {
            parsed
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case(name))
                .map(|h| h.value)
        };
        if header("Transfer-Encoding").is_some() {
            reject(stream, peer, service, 411);
            return Next::Close;
        }
        let body_len = match header("Content-Length").map(|v| {
            std::str::from_utf8(v)
                .ok()
                .and_then(|v| v.trim().parse::<usize>().ok())
        }) {
            None => 0,
            Some(Some(n)) if n <= limits.max_body => n,
            Some(Some(_)) => {
                reject(stream, peer, service, 413);
                return Next::Close;
            }
            Some(None) => {
                reject(stream, peer, service, 400);
                return Next::Close;
            }
        };
        let connection = header("Connection")
            .map(|v| String::from_utf8_lossy(v).to_ascii_lowercase())
            .unwrap_or_default();
        let keep_alive = if parsed.version == Some(0) {
            connection.contains("keep-alive")
        } else {
            !connection.contains("close")
        };
        (body_len, keep_alive)
    };
    let mut chunk = [0u8; 4096];
    while buf.len() < head_len + body_len {
        let Some(left) = limits
            .head_timeout
            .checked_sub(started.elapsed())
            .filter(|d| !d.is_zero())
        else {
            reject(stream, peer, service, 408);
            return Next::Close;
        };
        let want = (head_len + body_len - buf.len()).min(chunk.len());
        match read_some(stream, &mut chunk[..want], left) {
            Got::Data(n) => buf.extend_from_slice(&chunk[..n]),
            Got::Nothing => {}
            Got::Closed => return Next::Close,
        }
    }

    let mut headers = vec![httparse::EMPTY_HEADER; limits.max_headers];
    let mut parsed = httparse::Request::new(&mut headers);
    let _ = parsed.parse(&buf[..head_len]);
    let request = Request {
        method: parsed.method.unwrap_or(""),
        target: parsed.path.unwrap_or(""),
        headers: parsed.headers,
        body: &buf[head_len..head_len + body_len],
        peer,
    };
    let keep_alive = keep_alive && !stopping.load(Ordering::Relaxed);
    let mut written = false;
    let mut dropped = false;
    let mut reply = |response: &Response<'_>| {
        if response.drop_connection {
            dropped = true;
            return;
        }
        written = write_response(stream, response, request.method == "HEAD", keep_alive);
        service.observe(&Outcome {
            peer: Some(peer),
            method: request.method,
            target: request.target,
            status: response.status,
            bytes: response.body.len(),
            note: response.note,
            started,
        });
    };
    if request.target.len() > 2048 {
        reply(&Response::error(414, "uri_too_long", "URI Too Long"));
    } else {
        service.serve(&request, &mut reply);
    }
    if dropped {
        return Next::Close;
    }
    buf.drain(..head_len + body_len);
    if written && keep_alive {
        Next::KeepAlive
    } else {
        Next::Close
    }
}

/// Answers a request the HTTP layer refused; the caller closes the connection.
fn reject(stream: &mut TcpStream, peer: SocketAddr, service: &dyn Service, status: u16) {
    let reason = reason(status);
    let response = Response::error(
        status,
        &reason.to_ascii_lowercase().replace(' ', "_"),
        reason,
    );
    write_response(stream, &response, false, false);
    service.observe(&Outcome {
        peer: Some(peer),
        method: "-",
        target: "-",
        status,
        bytes: response.body.len(),
        note: None,
        started: Instant::now(),
    });
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
pub fn civil(secs: u64) -> (i64, u32, u32, u64, u64, u64, usize) {
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
