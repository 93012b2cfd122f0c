//! Logging: a tracing subscriber writing to stderr, pretty or JSON, through a background writer.
//!
//! Every request gets one access-log line once its response is built ([`access`], called by
//! [`crate::http::edge()`]): method, path, status, duration and the operation. Pretty logs show it
//! as one short human line, JSON logs as fields. Health and readiness probes are logged at DEBUG,
//! everything else at INFO, under the target `acs_emulator::access` (so
//! `--log-level info,acs_emulator::access=warn` silences them).
//!
//! Lines are appended to a shared buffer that a background thread writes to stderr every 50 ms,
//! or as soon as it holds 64 KiB ([`BatchWriter`]): a request never waits for the terminal or a
//! pipe, and neither wakes a thread nor makes a system call per line. (A channel to a writer
//! thread, as `tracing-appender` has, wakes that thread for almost every line under load, which
//! measured 4 µs of CPU per request.) No line is dropped: past 8 MiB waiting, a logging thread
//! waits for the writer, and the guard [`init`] returns writes what is left when `main` returns.
//!
//! When the pretty log goes to a file or a pipe (no colours), the access line is formatted
//! straight into that buffer, byte for byte as the subscriber would write it: the subscriber's
//! per-event work (dispatch, field visitor, its own line buffer) was most of the line's cost. The
//! level filter still decides whether the line is written.
//!
//! Keys never appear in logs; signatures and expected strings-to-sign only at debug level.

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::config::{Config, LogFormat};

/// The target of access-log events.
pub const ACCESS_TARGET: &str = "acs_emulator::access";

/// Keeps the log writer running; dropping it writes the lines still buffered (hold it in `main`).
#[must_use = "dropping the guard stops the log writer"]
pub struct LogGuard {
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        self.shared.lock().closing = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Installs the global subscriber (call once, from `main`).
pub fn init(config: &Config) -> LogGuard {
    // A TLS client speaking to the HTTP port makes actix log a parse error at ERROR level for
    // every attempt; that is the client's mistake, not the emulator's, so keep it at debug.
    let mut directives = config.logging.log_level.clone();
    if !directives.contains("actix_http") {
        directives.push_str(",actix_http::h1::dispatcher=off");
    }
    let filter = EnvFilter::try_new(&directives).unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let (writer, guard) = BatchWriter::start(std::io::stderr());
    if config.logging.log_format == LogFormat::Pretty && !ansi {
        let _ = DIRECT.set(writer.clone());
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_target(false)
        .with_ansi(ansi);
    match config.logging.log_format {
        LogFormat::Pretty => builder.compact().init(),
        LogFormat::Json => builder.json().with_target(true).init(),
    }
    guard
}

/// Start flushing once this much is buffered, without waiting for the interval.
const FLUSH_AT: usize = 64 * 1024;
/// Make logging threads wait for the writer once this much is buffered.
const BLOCK_AT: usize = 8 * 1024 * 1024;
/// How long a line may wait in the buffer.
const FLUSH_INTERVAL: Duration = Duration::from_millis(50);

/// The log sink every thread writes to: see the module docs.
#[derive(Clone)]
pub struct BatchWriter(Arc<Shared>);

struct Shared {
    buffer: Mutex<Buffer>,
    /// Where batches go (stderr, or a test's sink).
    out: Mutex<Box<dyn Write + Send>>,
    /// The writer thread waits on it (a full buffer or closing).
    wake: Condvar,
    /// Logging threads wait on it while the buffer is over [`BLOCK_AT`].
    drained: Condvar,
}

#[derive(Default)]
struct Buffer {
    bytes: Vec<u8>,
    /// The guard was dropped: the writer thread has written (or is writing) the last batch,
    /// later lines go straight to the output.
    closing: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Buffer> {
        // A thread that panicked while appending left whole lines or a partial one; keep going.
        self.buffer.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn write_out(&self, bytes: &[u8]) {
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        let _ = out.write_all(bytes);
        let _ = out.flush();
    }

    fn append(&self, bytes: &[u8]) {
        self.append_with(|buffer| buffer.extend_from_slice(bytes));
    }

    /// Appends what `write` writes into the buffer (under its lock: no copy of its own).
    fn append_with(&self, write: impl FnOnce(&mut Vec<u8>)) {
        let mut buffer = self.lock();
        while buffer.bytes.len() >= BLOCK_AT && !buffer.closing {
            buffer = self.drained.wait(buffer).unwrap_or_else(|p| p.into_inner());
        }
        if buffer.closing {
            drop(buffer);
            let mut line = Vec::new();
            write(&mut line);
            self.write_out(&line);
            return;
        }
        let was_below = buffer.bytes.len() < FLUSH_AT;
        write(&mut buffer.bytes);
        if was_below && buffer.bytes.len() >= FLUSH_AT {
            self.wake.notify_one();
        }
    }
}

impl BatchWriter {
    /// Starts the writer thread, which writes batches to `out` until the guard is dropped.
    pub fn start(out: impl Write + Send + 'static) -> (Self, LogGuard) {
        let shared = Arc::new(Shared {
            buffer: Mutex::new(Buffer::default()),
            out: Mutex::new(Box::new(out)),
            wake: Condvar::new(),
            drained: Condvar::new(),
        });
        let worker = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("acs-emulator-log".into())
            .spawn(move || {
                let mut batch = Vec::with_capacity(FLUSH_AT);
                loop {
                    let closing = {
                        let mut buffer = worker.lock();
                        if buffer.bytes.len() < FLUSH_AT && !buffer.closing {
                            buffer = worker
                                .wake
                                .wait_timeout(buffer, FLUSH_INTERVAL)
                                .map(|(b, _)| b)
                                .unwrap_or_else(|p| p.into_inner().0);
                        }
                        std::mem::swap(&mut buffer.bytes, &mut batch);
                        buffer.closing
                    };
                    worker.drained.notify_all();
                    if !batch.is_empty() {
                        worker.write_out(&batch);
                        batch.clear();
                    }
                    if closing {
                        break;
                    }
                }
            })
            .ok();
        let guard = LogGuard {
            shared: Arc::clone(&shared),
            thread,
        };
        if guard.thread.is_none() {
            // No thread: write every line at once.
            shared.lock().closing = true;
        }
        (Self(shared), guard)
    }
}

/// One event's writer (the formatter writes each line with one `write_all`).
pub struct LineWriter<'a>(&'a Shared);

impl Write for LineWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.append(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for BatchWriter {
    type Writer = LineWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter(&self.0)
    }
}

/// The pretty log's writer when it has no colours (see the module docs): access lines go
/// straight into it.
static DIRECT: OnceLock<BatchWriter> = OnceLock::new();

/// Writes the pretty access line (without colours) as the subscriber's compact format does:
/// `<RFC 3339 time, µs>  INFO <message>`, the message written by `message`.
fn pretty_line(out: &mut Vec<u8>, message: impl FnOnce(&mut Vec<u8>)) {
    write_time(out);
    out.extend_from_slice(b"  INFO ");
    message(out);
    out.push(b'\n');
}

/// The access line's message, `METHOD path status duration[ operation]`, written piece by
/// piece: the same text as `format!("{method} {path} {status} {ms} {name}")` at a fraction of
/// the cost.
fn access_message(
    out: &mut Vec<u8>,
    method: &str,
    path: &str,
    status: u16,
    ms: &Millis,
    name: Option<&str>,
) {
    out.extend_from_slice(method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(path.as_bytes());
    out.push(b' ');
    out.extend_from_slice(itoa::Buffer::new().format(status).as_bytes());
    out.push(b' ');
    let (whole, hundredths, unit) = ms.parts();
    out.extend_from_slice(itoa::Buffer::new().format(whole).as_bytes());
    if let Some(h) = hundredths {
        out.extend_from_slice(&[b'.', b'0' + h / 10, b'0' + h % 10]);
    }
    out.extend_from_slice(unit.as_bytes());
    if let Some(name) = name {
        out.push(b' ');
        out.extend_from_slice(name.as_bytes());
    }
}

/// The time as the subscriber writes it (`SystemTime`: RFC 3339 in UTC with microseconds,
/// `2026-12-03T17:39:59.259611Z`). The date and time of day are formatted once per second per
/// thread (half of a line's cost when formatted for every line); the microseconds every time.
fn write_time(out: &mut Vec<u8>) {
    use std::cell::Cell;
    thread_local! {
        static SECOND: Cell<(u64, [u8; 19])> = const { Cell::new((u64::MAX, [0; 19])) };
    }
    let Ok(since) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) else {
        out.extend_from_slice(b"<unknown time>");
        return;
    };
    let secs = since.as_secs();
    let prefix = SECOND.with(|cell| {
        let (cached, prefix) = cell.get();
        if cached == secs {
            return Some(prefix);
        }
        let at = chrono::DateTime::from_timestamp(i64::try_from(secs).ok()?, 0)?;
        let mut text = [0u8; 19];
        let mut cursor = std::io::Cursor::new(&mut text[..]);
        std::io::Write::write_fmt(
            &mut cursor,
            format_args!("{}", at.format("%Y-%m-%dT%H:%M:%S")),
        )
        .ok()?;
        (cursor.position() == 19).then(|| {
            cell.set((secs, text));
            text
        })
    });
    let Some(prefix) = prefix else {
        out.extend_from_slice(b"<unknown time>");
        return;
    };
    out.extend_from_slice(&prefix);
    let mut micros = since.subsec_micros();
    let mut digits = [b'0'; 6];
    for digit in digits.iter_mut().rev() {
        *digit = b'0' + (micros % 10) as u8;
        micros /= 10;
    }
    out.push(b'.');
    out.extend_from_slice(&digits);
    out.push(b'Z');
}

/// Whether `text` has a control character (that the subscriber would escape).
fn has_controls(text: &str) -> bool {
    text.bytes().any(|b| b < 0x20 || b == 0x7f)
}

/// Whether `path` is a liveness or readiness probe (logged at DEBUG: they come every second or
/// two from container runtimes and would bury everything else).
fn is_probe(path: &str) -> bool {
    matches!(path, "/_emulator/health" | "/_emulator/ready")
}

/// Logs one finished request (see the module docs). `operation` gives the data-plane operation
/// it matched (asked only when the line is written); `request_id` is the response's `MS-CV`.
pub fn access(
    format: LogFormat,
    method: &str,
    path: &str,
    operation: impl FnOnce() -> Option<&'static str>,
    status: u16,
    elapsed: Duration,
    request_id: &str,
) {
    let probe = is_probe(path);
    let enabled = if probe {
        tracing::enabled!(target: ACCESS_TARGET, tracing::Level::DEBUG)
    } else {
        tracing::enabled!(target: ACCESS_TARGET, tracing::Level::INFO)
    };
    if !enabled {
        return;
    }
    let operation = operation();
    let ms = Millis(elapsed);
    let (space, name) = match operation {
        Some(name) => (" ", name),
        None => ("", ""),
    };
    match (format, probe) {
        // The subscriber escapes control characters in the line (HTTP parsers refuse them in a
        // method or path, so the direct line never has to).
        (LogFormat::Pretty, false) => match DIRECT.get().filter(|_| !has_controls(path)) {
            Some(writer) => writer.0.append_with(|out| {
                pretty_line(out, |out| {
                    access_message(out, method, path, status, &ms, operation)
                })
            }),
            None => tracing::info!(
                target: ACCESS_TARGET,
                "{method} {path} {status} {ms}{space}{name}"
            ),
        },
        (LogFormat::Pretty, true) => tracing::debug!(
            target: ACCESS_TARGET,
            "{method} {path} {status} {ms}"
        ),
        (LogFormat::Json, false) => tracing::info!(
            target: ACCESS_TARGET,
            method,
            path,
            status,
            duration_ms = elapsed.as_secs_f64() * 1000.0,
            operation,
            request_id,
            "request"
        ),
        (LogFormat::Json, true) => tracing::debug!(
            target: ACCESS_TARGET,
            method,
            path,
            status,
            duration_ms = elapsed.as_secs_f64() * 1000.0,
            request_id,
            "request"
        ),
    }
}

/// A duration in milliseconds, with as many decimals as are worth reading: `0.43ms`, `13ms`,
/// `2.35s` (rounded half up; whole numbers, so that no float is formatted per request).
struct Millis(Duration);

impl Millis {
    /// The whole part, the hundredths if shown, and the unit.
    fn parts(&self) -> (u128, Option<u8>, &'static str) {
        let micros = self.0.as_micros();
        if micros < 9_995 {
            let hundredths = (micros + 5) / 10;
            (hundredths / 100, Some((hundredths % 100) as u8), "ms")
        } else if micros < 999_500 {
            ((micros + 500) / 1000, None, "ms")
        } else {
            let hundredths = (micros + 5_000) / 10_000;
            (hundredths / 100, Some((hundredths % 100) as u8), "s")
        }
    }
}

impl std::fmt::Display for Millis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.parts() {
            (whole, Some(hundredths), unit) => write!(f, "{whole}.{hundredths:02}{unit}"),
            (whole, None, unit) => write!(f, "{whole}{unit}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `Write` whose bytes the test can read.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("sink").extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn every_line_is_written_in_order_by_the_time_the_guard_is_dropped() {
        let sink = Sink::default();
        let (writer, guard) = BatchWriter::start(sink.clone());
        // Enough to pass FLUSH_AT many times over, from several threads at once.
        let threads = (0..4)
            .map(|t| {
                let writer = writer.clone();
                std::thread::spawn(move || {
                    for i in 0..20_000 {
                        let line = format!("thread {t} line {i}\n");
                        writer
                            .make_writer()
                            .write_all(line.as_bytes())
                            .expect("write");
                    }
                })
            })
            .collect::<Vec<_>>();
        for thread in threads {
            thread.join().expect("joined");
        }
        drop(guard);
        // After the guard: straight through, still not lost.
        writer.make_writer().write_all(b"late\n").expect("write");
        let text = String::from_utf8(sink.0.lock().expect("sink").clone()).expect("utf8");
        let lines = text.lines().collect::<Vec<_>>();
        assert_eq!(lines.len(), 80_001);
        assert_eq!(lines.last(), Some(&"late"));
        for t in 0..4 {
            let prefix = format!("thread {t} line ");
            let order = lines
                .iter()
                .filter_map(|l| l.strip_prefix(&prefix))
                .map(|i| i.parse::<usize>().expect("number"))
                .collect::<Vec<_>>();
            assert_eq!(order, (0..20_000).collect::<Vec<_>>());
        }
    }

    #[test]
    fn a_quiet_log_is_written_within_the_interval() {
        let sink = Sink::default();
        let (writer, _guard) = BatchWriter::start(sink.clone());
        writer
            .make_writer()
            .write_all(b"one line\n")
            .expect("write");
        let deadline = std::time::Instant::now() + FLUSH_INTERVAL * 20;
        while sink.0.lock().expect("sink").is_empty() {
            assert!(std::time::Instant::now() < deadline, "not written");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(sink.0.lock().expect("sink").as_slice(), b"one line\n");
    }

    #[test]
    fn the_direct_access_line_is_the_line_the_subscriber_writes() {
        let sink = Sink::default();
        let writer = sink.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_target(false)
            .with_ansi(false)
            .compact()
            .finish();
        let (method, path, status, space, name) =
            ("POST", "/identities", 201, " ", "Identity.CreateUser");
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(
                target: ACCESS_TARGET,
                "{method} {path} {status} {}{space}{name}",
                Millis(Duration::from_micros(432))
            );
        });
        let mut direct = Vec::new();
        pretty_line(&mut direct, |out| {
            access_message(
                out,
                method,
                path,
                status,
                &Millis(Duration::from_micros(432)),
                Some(name),
            )
        });
        let subscriber = String::from_utf8(sink.0.lock().expect("sink").clone()).expect("utf8");
        let direct = String::from_utf8(direct).expect("utf8");
        // The times differ; both are RFC 3339 with microseconds, in UTC.
        let time = "2026-12-03T17:39:59.259611Z".len();
        for line in [&subscriber, &direct] {
            assert!(
                chrono::DateTime::parse_from_rfc3339(&line[..time]).is_ok(),
                "{line}"
            );
            assert!(line[..time].ends_with('Z'), "{line}");
        }
        assert_eq!(&subscriber[time..], &direct[time..]);
        assert_eq!(
            &direct[time..],
            "  INFO POST /identities 201 0.43ms Identity.CreateUser\n"
        );
    }

    #[test]
    fn durations_read_well() {
        let read = |micros: u64| Millis(Duration::from_micros(micros)).to_string();
        assert_eq!(read(432), "0.43ms");
        assert_eq!(read(0), "0.00ms");
        assert_eq!(read(4), "0.00ms");
        assert_eq!(read(5), "0.01ms");
        assert_eq!(read(1_005), "1.01ms");
        assert_eq!(read(9_994), "9.99ms");
        assert_eq!(read(9_995), "10ms");
        assert_eq!(read(12_600), "13ms");
        assert_eq!(read(999_499), "999ms");
        assert_eq!(read(999_500), "1.00s");
        assert_eq!(read(2_345_000), "2.35s");
        assert_eq!(read(61_000_000), "61.00s");
    }
}
