//! Graceful shutdown of the real binary: on SIGTERM, in-flight requests finish, new connections
//! are refused, and the process exits 0 within `--shutdown-timeout` (plus a margin).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Starts the binary on free ports; returns it and its HTTP `host:port`.
fn start(extra: &[&str]) -> (Child, String) {
    let cert = std::env::temp_dir().join(format!("acs-emulator-test-{}.pem", uuid::Uuid::new_v4()));
    let mut child = Command::new(env!("CARGO_BIN_EXE_acs-emulator"))
        .args(["--port", "0", "--http-port", "0", "--log-level", "warn"])
        .arg("--tls-cert-out")
        .arg(&cert)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawns");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut http = None;
    let mut line = String::new();
    while http.is_none() {
        line.clear();
        assert!(stdout.read_line(&mut line).expect("read") > 0, "no banner");
        http = line.trim().strip_prefix("HTTP endpoint").map(|rest| {
            rest.trim()
                .trim_start_matches("http://")
                .trim_end_matches('/')
                .to_string()
        });
    }
    // Keep draining stdout so that the child never blocks on a full pipe.
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    let http = http.expect("http endpoint");
    wait_until_serving(&http);
    (child, http)
}

/// Waits until the emulator answers a request. The banner is printed before the workers start,
/// and actix-web installs its SIGTERM handler only once they run: on a loaded machine that can
/// take half a second, and a SIGTERM before it kills the process instead of stopping it.
fn wait_until_serving(http: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let answered = TcpStream::connect(http)
            .and_then(|mut s| {
                s.set_read_timeout(Some(Duration::from_secs(2)))?;
                s.write_all(
                    b"GET /_emulator/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                )?;
                let mut response = String::new();
                s.read_to_string(&mut response)?;
                Ok(response.starts_with("HTTP/1.1 200"))
            })
            .unwrap_or(false);
        if answered {
            return;
        }
        assert!(Instant::now() < deadline, "the emulator never answered");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn sigterm(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

/// Waits for the exit; panics after `bound`.
fn exit_within(child: &mut Child, bound: Duration) -> (std::process::ExitStatus, Duration) {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return (status, started.elapsed());
        }
        if started.elapsed() > bound {
            let _ = child.kill();
            panic!("did not exit within {bound:?} of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sends a request on its own thread; the thread returns the raw response.
fn in_flight(http: &str, target: &str) -> std::thread::JoinHandle<String> {
    let mut stream = TcpStream::connect(http).expect("connect");
    let request = format!("GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).expect("write");
    std::thread::spawn(move || {
        let mut response = String::new();
        let _ = stream.read_to_string(&mut response);
        response
    })
}

#[test]
fn sigterm_lets_an_in_flight_request_finish_and_exits_0() {
    // Arrange: a long poll that answers after 1.5 s.
    let (mut child, http) = start(&[]);
    let request = in_flight(&http, "/_emulator/sms?wait=1500ms&count=1");
    std::thread::sleep(Duration::from_millis(300));

    // Act
    sigterm(&child);
    std::thread::sleep(Duration::from_millis(200));
    let refused = TcpStream::connect(&http)
        .and_then(|mut s| {
            s.set_read_timeout(Some(Duration::from_secs(2)))?;
            s.write_all(b"GET /_emulator/health HTTP/1.1\r\nHost: x\r\n\r\n")?;
            let mut buf = [0u8; 64];
            s.read(&mut buf)
        })
        .map_or(true, |n| n == 0);
    let (status, after) = exit_within(&mut child, Duration::from_secs(8));

    // Assert: the poll got its full answer, new work was not taken, the exit was clean.
    let response = request.join().expect("thread");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains(r#""value":[]"#), "{response}");
    assert!(refused, "a new connection was served after SIGTERM");
    assert!(status.success(), "{status:?}");
    assert!(after < Duration::from_secs(4), "exit took {after:?}");
}

#[test]
fn a_request_longer_than_the_shutdown_timeout_does_not_hold_the_exit() {
    let (mut child, http) = start(&["--shutdown-timeout", "1s"]);
    let request = in_flight(&http, "/_emulator/sms?wait=30s&count=1");
    std::thread::sleep(Duration::from_millis(300));

    sigterm(&child);
    let (status, after) = exit_within(&mut child, Duration::from_secs(6));

    assert!(status.success(), "{status:?}");
    assert!(after < Duration::from_secs(4), "exit took {after:?}");
    // The cut request's connection is closed, not left hanging.
    let _ = request.join().expect("thread");
}
