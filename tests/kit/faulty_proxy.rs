//! A loopback proxy in front of a fake upstream that breaks chosen calls the way networks,
//! gateways and overloaded servers do: an error page from a gateway, a connection reset, no
//! answer at all, a 200 that is not JSON, an answer too large to hold, and an answer cut off
//! after the upstream acted on the call. Every other call passes through unchanged, one call
//! per connection.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How a call is broken.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Fault {
    /// A gateway's HTML error page with this status; the upstream never sees the call.
    Status(u16),
    /// The connection is reset once the request was read; the upstream never sees it.
    Reset,
    /// The request is read and never answered: the caller waits for its timeout.
    Stall,
    /// A 200 whose body is an HTML page (a captive portal, a proxy's notice); the upstream
    /// never sees the call.
    Garbled,
    /// A 200 whose JSON body runs on (up to [`OVERSIZE_BYTES`], its length not declared: it ends
    /// with the connection), sent for as long as the caller reads.
    Oversize,
    /// The upstream acts on the call; its answer is cut off halfway through its body by a reset.
    CutOff,
}

/// The most an oversize answer sends.
pub const OVERSIZE_BYTES: u64 = 1 << 30;

struct Rule {
    path: String,
    fault: Fault,
    times: u32,
}

#[derive(Default)]
struct State {
    /// The request line of every call, broken or not.
    calls: Vec<String>,
    rules: Vec<Rule>,
    broken: Vec<(String, Fault)>,
    oversize_sent: u64,
}

impl State {
    /// The fault for a call to `path`, if a rule still applies (and counts it).
    fn fault_for(&mut self, request_line: &str) -> Option<Fault> {
        self.calls.push(request_line.to_owned());
        let path = request_line.split(' ').nth(1).unwrap_or_default();
        let rule = self.rules.iter_mut().find(|rule| rule.times > 0 && path.contains(&rule.path))?;
        rule.times -= 1;
        self.broken.push((request_line.to_owned(), rule.fault));
        Some(rule.fault)
    }
}

pub struct FaultyProxy {
    pub base_url: String,
    state: Arc<Mutex<State>>,
}

impl FaultyProxy {
    /// A proxy to the upstream at `upstream` (`http://127.0.0.1:port`).
    pub async fn start(upstream: &str) -> Self {
        let upstream: SocketAddr = upstream.trim_start_matches("http://").parse().expect("a loopback address");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free loopback port");
        let base_url = format!("http://{}", listener.local_addr().expect("a bound address"));
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        tokio::spawn(async move {
            while let Ok((caller, _)) = listener.accept().await {
                tokio::spawn(serve(caller, upstream, shared.clone()));
            }
        });
        Self { base_url, state }
    }

    /// Breaks the next `times` calls whose path contains `path` with `fault`.
    pub fn break_next(&self, path: &str, fault: Fault, times: u32) {
        self.state.lock().unwrap().rules.push(Rule { path: path.to_owned(), fault, times });
    }

    /// The calls broken so far: their request lines (`POST /prompt HTTP/1.1`) and faults.
    pub fn broken(&self) -> Vec<(String, Fault)> {
        self.state.lock().unwrap().broken.clone()
    }

    /// How many calls were made to a path containing `path`, broken or not.
    pub fn calls_to(&self, path: &str) -> usize {
        let state = self.state.lock().unwrap();
        state.calls.iter().filter(|line| line.split(' ').nth(1).is_some_and(|p| p.contains(path))).count()
    }

    /// The bytes of oversize answers written before their callers hung up.
    pub fn oversize_sent(&self) -> u64 {
        self.state.lock().unwrap().oversize_sent
    }
}

async fn serve(mut caller: TcpStream, upstream: SocketAddr, state: Arc<Mutex<State>>) -> std::io::Result<()> {
    let Some(request) = read_request(&mut caller).await? else { return Ok(()) };
    let request_line =
        String::from_utf8_lossy(&request[..request.iter().position(|&b| b == b'\r').unwrap_or(0)]).into_owned();
    let fault = state.lock().unwrap().fault_for(&request_line);
    match fault {
        None => pass_through(caller, upstream, &request, false).await,
        Some(Fault::CutOff) => pass_through(caller, upstream, &request, true).await,
        Some(Fault::Status(code)) => {
            let page = format!("<html><body><h1>{code}</h1>The upstream server did not answer.</body></html>");
            answer(&mut caller, &format!("{code} Gateway Error"), "text/html", page.as_bytes()).await
        }
        Some(Fault::Garbled) => {
            answer(&mut caller, "200 OK", "text/html", b"<html><body>Please sign in to use this network</body></html>")
                .await
        }
        Some(Fault::Reset) => reset(caller),
        Some(Fault::Stall) => {
            tokio::time::sleep(Duration::from_secs(24 * 3600)).await;
            drop(caller);
            Ok(())
        }
        Some(Fault::Oversize) => {
            let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n[";
            caller.write_all(head.as_bytes()).await?;
            let chunk = "0,".repeat(32 * 1024);
            let mut sent = 1;
            while sent < OVERSIZE_BYTES && caller.write_all(chunk.as_bytes()).await.is_ok() {
                sent += chunk.len() as u64;
                state.lock().unwrap().oversize_sent = sent;
            }
            Ok(())
        }
    }
}

/// Reads one whole request: its head and, by `Content-Length` or chunks, its body. `None` if
/// the caller hung up first.
async fn read_request(caller: &mut TcpStream) -> std::io::Result<Option<Vec<u8>>> {
    let mut request = Vec::new();
    let mut buffer = [0u8; 16 * 1024];
    loop {
        if let Some(end) = complete_length(&request) {
            request.truncate(end);
            return Ok(Some(request));
        }
        let read = caller.read(&mut buffer).await?;
        if read == 0 {
            return Ok(None);
        }
        request.extend_from_slice(&buffer[..read]);
    }
}

/// The length of the whole request in `bytes`, once it is all there.
fn complete_length(bytes: &[u8]) -> Option<usize> {
    let head_end = bytes.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&bytes[..head_end]).to_ascii_lowercase();
    if head.contains("transfer-encoding: chunked") {
        return chunked_length(&bytes[head_end..]).map(|length| head_end + length);
    }
    let length = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|value| value.trim().parse::<usize>().ok())
        .unwrap_or(0);
    (bytes.len() >= head_end + length).then_some(head_end + length)
}

/// The length of a chunked body in `body`, its last chunk and trailers included, once it is
/// all there.
fn chunked_length(body: &[u8]) -> Option<usize> {
    let line_end = |from: usize| body.get(from..)?.windows(2).position(|w| w == b"\r\n").map(|at| from + at);
    let mut at = 0;
    loop {
        let end = line_end(at)?;
        let size = std::str::from_utf8(&body[at..end]).ok()?.split(';').next()?.trim();
        let size = usize::from_str_radix(size, 16).ok()?;
        at = end + 2;
        if size == 0 {
            // Trailer lines, if any, then an empty line.
            loop {
                let end = line_end(at)?;
                let empty = end == at;
                at = end + 2;
                if empty {
                    return Some(at);
                }
            }
        }
        at += size + 2;
        if at > body.len() {
            return None;
        }
    }
}

/// Sends the request on with `Connection: close` and the answer back; `cut_off` sends the
/// answer's head and half its body, then resets.
async fn pass_through(
    mut caller: TcpStream,
    upstream: SocketAddr,
    request: &[u8],
    cut_off: bool,
) -> std::io::Result<()> {
    let mut server = TcpStream::connect(upstream).await?;
    server.write_all(&closing(request)).await?;
    let mut response = Vec::new();
    server.read_to_end(&mut response).await?;
    if !cut_off {
        return caller.write_all(&response).await;
    }
    let body_start = response.windows(4).position(|w| w == b"\r\n\r\n").map_or(0, |end| end + 4);
    caller.write_all(&response[..body_start + (response.len() - body_start) / 2]).await?;
    reset(caller)
}

/// The request with its connection closed after the answer (so each call is seen here).
fn closing(request: &[u8]) -> Vec<u8> {
    let head_end = request.windows(4).position(|w| w == b"\r\n\r\n").map_or(request.len(), |end| end + 2);
    let head = String::from_utf8_lossy(&request[..head_end]);
    let mut closed: String =
        head.split_inclusive("\r\n").filter(|line| !line.to_ascii_lowercase().starts_with("connection:")).collect();
    closed.push_str("Connection: close\r\n");
    let mut bytes = closed.into_bytes();
    bytes.extend_from_slice(&request[head_end..]);
    bytes
}

async fn answer(caller: &mut TcpStream, status: &str, content_type: &str, body: &[u8]) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    caller.write_all(head.as_bytes()).await?;
    caller.write_all(body).await
}

/// Closes the connection with a reset (RST), as a crashed server or a middlebox does.
fn reset(caller: TcpStream) -> std::io::Result<()> {
    caller.set_zero_linger()?;
    drop(caller);
    Ok(())
}
