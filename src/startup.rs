//! Building and running the server: TLS material, both listeners, the app and its state.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::auth::entra::EntraAuthority;
use crate::clock::Clock;
use crate::config::{ConfigError, Settings, default_ca_bundle_path, default_cert_path};
use crate::events::{BusOptions, DeliveryPolicy, EventBus, Subscription, resource_topic};
use crate::fixtures;
use crate::persist::{Persistence, StateDir};
use crate::resource::{Resource, Resources};
use crate::scenario::{Engine, Journal};
use crate::state::AppState;
use crate::store::Changes;
use crate::{api, http, smtp};

/// A built, bound, not yet running emulator.
pub struct Application {
    https_addr: SocketAddr,
    http_addr: SocketAddr,
    cert_path: Option<PathBuf>,
    bundle_path: PathBuf,
    state: web::Data<AppState>,
    server: Server,
    /// The SMTP relay's listener and TLS configuration (`--smtp-port`), served alongside.
    smtp: Option<(TcpListener, Arc<rustls::ServerConfig>)>,
    /// The state database's writer (`--state-dir`), flushed when the server has stopped.
    persistence: Option<Arc<Persistence>>,
    /// Dropped when the server has stopped (`run` consumes the application).
    _files: RemoveOnDrop,
}

/// Files the emulator named itself (in the temp directory), removed when it stops.
#[derive(Default)]
struct RemoveOnDrop(Vec<PathBuf>);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        for path in &self.0 {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Binds one listener; the error names the flag that changes the port.
fn bind(
    host: std::net::IpAddr,
    port: u16,
    what: &str,
    flag: &str,
    variable: &str,
) -> anyhow::Result<TcpListener> {
    TcpListener::bind((host, port)).map_err(|e| {
        let reason = match e.kind() {
            std::io::ErrorKind::AddrInUse => {
                "the port is in use (another acs-emulator still running?)".to_string()
            }
            std::io::ErrorKind::PermissionDenied => {
                "permission denied (ports below 1024 need privileges)".to_string()
            }
            std::io::ErrorKind::AddrNotAvailable => {
                return anyhow::anyhow!(
                    "cannot bind the {what} port {host}:{port}: {host} is not an address of this machine; change it with --host (ACS_EMULATOR_HOST)"
                );
            }
            _ => e.to_string(),
        };
        anyhow::anyhow!(
            "cannot bind the {what} port {host}:{port}: {reason}; choose another with {flag} (or {variable}), 0 picks a free one"
        )
    })
}

/// Writes `content` to `path`, creating its directory.
fn write_file(path: &std::path::Path, content: &str, what: &str) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the directory {}", dir.display()))?;
    }
    std::fs::write(path, content.as_bytes())
        .with_context(|| format!("cannot write {what} to {}", path.display()))
}

impl Application {
    /// Prepares TLS, binds both listeners and builds the server.
    pub fn build(settings: Settings, clock: Arc<Clock>) -> anyhow::Result<Self> {
        let config = &settings.config;
        // The state directory first: locked, checked, its keys read (a refusal stops the start
        // before anything else happens).
        let state_dir = match &config.state.state_dir {
            Some(dir) => Some(StateDir::open(dir)?),
            None => None,
        };
        // Fixtures next: a broken one stops the start before any listener binds.
        let token_secret = match &state_dir {
            Some(dir) => dir.token_secret()?,
            None => {
                let mut secret = [0u8; 32];
                getrandom::fill(&mut secret)
                    .map_err(|e| anyhow::anyhow!("the OS random number generator failed: {e}"))?;
                secret
            }
        };
        let resources = Resources::new(
            Resource::from_settings(&settings, &token_secret, config.scenarios.seed),
            config.resource.max_resources,
            crate::resource::default_hosts(config.listeners.host),
        );
        let engine = Engine::new(config.scenarios.seed);
        let events = EventBus::new(bus_options(&settings), Arc::clone(&clock));
        let changes = Changes::default();
        events.listen_to(&changes);
        // Real-time chat notifications: the trouter listens to the same sink.
        let trouter = Arc::new(api::realtime::Hub::new(api::realtime::Limits::default()));
        changes.listen(Arc::new(api::realtime::Listener(trouter.clone())));
        subscribe_webhooks(&events, &settings)?;
        let mut loaded = Vec::new();
        for path in &config.scenarios.fixtures {
            let fixture = load_fixture_file(path, &resources, &engine, &events)?;
            fixtures::apply(
                &fixture,
                &resources,
                &engine,
                &events,
                &token_secret,
                config.scenarios.seed,
                clock.now(),
            )
            .map_err(|reason| anyhow::anyhow!("{}: {reason}", path.display()))?;
            tracing::info!(fixture = %path.display(), summary = %fixture.summary(), "fixture loaded");
            loaded.push(fixture);
        }
        // Then what the control API added at run time and the kept state, over the fixtures'
        // (a thread or identity kept replaces the fixture's), before any request can be served:
        // first the fixtures loaded at run time (they may add resources), then the event
        // subscriptions, then the stores' rows.
        if let Some(dir) = &state_dir {
            // One that no longer applies (it clashes with a `--fixtures` file added since) is
            // skipped with a warning, and so are the kept rows of what it made.
            for (n, (text, yaml)) in dir.runtime_fixtures()?.into_iter().enumerate() {
                let source = format!("the fixture loaded at run time #{}", n + 1);
                let applied = fixtures::parse(&source, &text, !yaml, &api::rule_operations())
                    .and_then(|f| fixtures::check(&source, &text, f, &resources, &engine, &events))
                    .map_err(|e| e.to_string())
                    .and_then(|fixture| {
                        fixtures::apply(
                            &fixture,
                            &resources,
                            &engine,
                            &events,
                            &token_secret,
                            config.scenarios.seed,
                            clock.now(),
                        )
                        .map(|()| fixture)
                    });
                match applied {
                    Ok(fixture) => loaded.push(fixture),
                    Err(error) => tracing::warn!(%error, "{source} is kept but no longer applies"),
                }
            }
            for spec in dir.subscriptions()? {
                let added = serde_json::from_str::<crate::events::SubscriptionSpec>(&spec)
                    .map_err(|e| e.to_string())
                    .and_then(|spec| Subscription::from_spec(spec).map_err(|e| e.to_string()))
                    .and_then(|s| events.subscribe_until_reset(s).map_err(|e| e.to_string()));
                if let Err(error) = added {
                    tracing::warn!(%error, spec, "a kept event subscription no longer applies");
                }
            }
        }
        if let Some(dir) = &state_dir {
            let started = std::time::Instant::now();
            let kept = dir.load(&resources, config.limits.max_sms_outbox)?;
            dir.load_clock(&clock)?;
            let (events_kept, reports_kept) = restore_undelivered(dir, &resources, &events)?;
            tracing::info!(
                dir = %dir.dir().display(),
                identities = kept.identities,
                threads = kept.threads,
                messages = kept.messages,
                sms = kept.sms,
                opt_outs = kept.opt_outs,
                assignments = kept.assignments,
                rooms = kept.rooms,
                numbers = kept.numbers,
                emails = kept.emails,
                pending_events = events_kept,
                due_reports = reports_kept,
                skipped = kept.skipped,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "state loaded"
            );
        }
        // Host names the fixtures' resources declare go into the generated certificate too.
        let mut settings = settings;
        for resource in resources.all().iter() {
            for host in &resource.hosts {
                if !settings.config.listeners.tls_hostnames.contains(host) {
                    settings.config.listeners.tls_hostnames.push(host.clone());
                }
            }
        }
        let config = &settings.config;
        if config.control.control_token.is_none() && !config.listeners.host.is_loopback() {
            tracing::warn!(
                host = %config.listeners.host,
                "the control API (/_emulator/*) answers anyone who reaches the listeners: it shows \
                 every resource's keys and can reset state or add webhooks; set --control-token"
            );
        }
        let (tls_config, cert_pem, chain) = tls_material(&settings, state_dir.as_ref())?;
        let https_listener = bind(
            config.listeners.host,
            config.listeners.port,
            "HTTPS",
            "--port",
            "ACS_EMULATOR_PORT",
        )?;
        let http_listener = bind(
            config.listeners.host,
            config.listeners.http_port,
            "HTTP",
            "--http-port",
            "ACS_EMULATOR_HTTP_PORT",
        )?;
        let smtp_listener = match config.smtp.smtp_port {
            Some(port) => Some(bind(
                config.listeners.host,
                port,
                "SMTP",
                "--smtp-port",
                "ACS_EMULATOR_SMTP_PORT",
            )?),
            None => None,
        };
        let https_addr = https_listener.local_addr()?;
        let http_addr = http_listener.local_addr()?;
        let smtp_addr = smtp_listener
            .as_ref()
            .map(TcpListener::local_addr)
            .transpose()?;
        // STARTTLS serves the same certificate, without the HTTP listener's ALPN.
        let smtp = smtp_listener.map(|listener| {
            let mut tls = tls_config.clone();
            tls.alpn_protocols.clear();
            (listener, Arc::new(tls))
        });

        // A user-supplied certificate is already a file the user has; a generated one is written
        // where the user asked, or to a per-port file in the temp directory. Files the emulator
        // named itself are removed when it stops, so `--port 0` leaves none behind.
        let mut files = RemoveOnDrop::default();
        let cert_path = match (&config.listeners.tls_cert_out, &config.listeners.tls_cert) {
            (Some(path), _) => Some(path.clone()),
            (None, Some(path)) => Some(path.clone()),
            (None, None) => Some(default_cert_path(https_addr.port())),
        };
        if let (Some(path), true) = (
            &cert_path,
            config.listeners.tls_cert.is_none() || config.listeners.tls_cert_out.is_some(),
        ) {
            write_file(path, &cert_pem, "the certificate")?;
            if config.listeners.tls_cert_out.is_none() {
                files.0.push(path.clone());
            }
        }
        let roots = crate::trust::system_roots();
        let bundle_pem = crate::trust::bundle_pem(&chain, roots);
        let bundle_path = match &config.listeners.tls_ca_bundle_out {
            Some(path) => path.clone(),
            None => {
                let path = default_ca_bundle_path(https_addr.port());
                files.0.push(path.clone());
                path
            }
        };
        write_file(&bundle_path, &bundle_pem, "the CA bundle")?;
        tracing::debug!(path = %bundle_path.display(), roots = %roots.describe(), "CA bundle written");

        let signing_key = match (&config.tokens.entra_signing_key, &state_dir) {
            (Some(path), _) => {
                Some(std::fs::read_to_string(path).with_context(|| {
                    format!("cannot read --entra-signing-key {}", path.display())
                })?)
            }
            // Kept, so Entra ID tokens issued before a restart stay valid.
            (None, Some(dir)) => Some(dir.secret("entra_signing_key", || {
                Ok(rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?.serialize_pem())
            })?),
            (None, None) => None,
        };
        let entra = EntraAuthority::new(
            settings.entra_tenant,
            &settings.entra_clients,
            &config.tokens.managed_identity_client_id,
            config.tokens.entra_trust_any,
            signing_key.as_deref(),
        )
        .context("cannot set up the Entra ID token authority")?;
        let state = web::Data::new(AppState {
            entra: Arc::new(entra),
            https_addr,
            smtp_addr,
            health_body: std::sync::OnceLock::new(),
            resources,
            engine,
            journal: Journal::new(config.scenarios.journal_size),
            fixtures: Mutex::new(loaded),
            token_secret,
            settings: Arc::new(settings.clone()),
            clock,
            changes,
            events,
            tls_cert_pem: Arc::new(cert_pem),
            tls_ca_bundle_pem: Arc::new(bundle_pem),
            ready: std::sync::atomic::AtomicBool::new(false),
        });
        trouter
            .faults
            .attach(Arc::downgrade(&state.clone().into_inner()));
        let trouter = web::Data::from(trouter);
        // From here on every committed write is kept (the state is loaded).
        let persistence = match state_dir {
            Some(dir) => {
                let persistence =
                    Persistence::start(dir, config.limits.max_sms_outbox, config.limits.max_emails)
                        .context("cannot start the state writer")?;
                state.changes.listen(persistence.clone());
                // And what the event bus has not delivered yet (the kept part is restored).
                state.events.keep_with(persistence.clone());
                Some(persistence)
            }
            None => None,
        };
        let max_body = config.limits.max_body_bytes;
        let app_state = state.clone();
        let operations = web::Data::new(http::operation::OperationIndex::new(api::SERVICES));
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(app_state.clone())
                .app_data(operations.clone())
                .app_data(trouter.clone())
                .app_data(web::PayloadConfig::new(max_body))
                .configure(api::configure)
                .default_service(web::to(http::not_found))
                .wrap(actix_web::middleware::from_fn(http::edge))
        })
        // Explicit limits (README "Limits"); set before the listeners so they apply to both.
        .max_connections(config.limits.max_connections)
        .client_request_timeout(config.limits.client_request_timeout)
        .keep_alive(keep_alive(config.limits.keep_alive))
        .tls_handshake_timeout(config.limits.tls_handshake_timeout)
        .shutdown_timeout(config.limits.shutdown_timeout.as_secs().max(1))
        // Small responses go out at once: without TCP_NODELAY, HTTP/2 clients that wait for an
        // ACK before sending more stall on Nagle's algorithm (about 40 ms per request).
        .tcp_nodelay(true)
        // Signals are ours (see `stop_on_signals`): registered before the ready banner, so a
        // SIGTERM right after start-up is never lost while the workers are still starting.
        .disable_signals()
        // Scripted transport faults reach the socket through this (see `http::faults`); each
        // connection's requests and body bytes in flight are counted (see `http::body`).
        .on_connect(|conn, data| {
            http::faults::on_connect(conn, data);
            http::body::on_connect(data);
        })
        .listen_rustls_0_23(https_listener, tls_config)?
        .listen(http_listener)?;
        if let Some(workers) = config.limits.workers {
            server = server.workers(workers);
        }
        Ok(Self {
            https_addr,
            http_addr,
            cert_path,
            bundle_path,
            state,
            server: server.run(),
            smtp,
            persistence,
            _files: files,
        })
    }

    /// The bound HTTPS address.
    pub fn https_addr(&self) -> SocketAddr {
        self.https_addr
    }

    /// The bound HTTP address.
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// The bound SMTP relay address, when `--smtp-port` is given.
    pub fn smtp_addr(&self) -> Option<SocketAddr> {
        self.state.smtp_addr
    }

    /// Starts the SMTP relay (when it is on) on the current runtime; the handle stops it.
    fn start_smtp(&mut self) -> Option<tokio::task::JoinHandle<()>> {
        let (listener, tls) = self.smtp.take()?;
        let limits = &self.state.settings.config;
        let options = smtp::Options {
            idle_timeout: limits.smtp.smtp_idle_timeout,
            max_connections: limits.smtp.smtp_max_connections,
            max_message_bytes: limits.limits.max_email_request_bytes,
        };
        Some(tokio::spawn(smtp::serve(
            listener,
            self.state.clone(),
            tls,
            options,
        )))
    }

    /// Where the certificate PEM is.
    pub fn cert_path(&self) -> Option<&PathBuf> {
        self.cert_path.as_ref()
    }

    /// Where the CA bundle (the certificate plus the machine's roots) is.
    pub fn ca_bundle_path(&self) -> &PathBuf {
        &self.bundle_path
    }

    /// Shared state (tests use it to reach the clock and store).
    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    /// The block printed once the emulator is ready.
    pub fn ready_banner(&self) -> String {
        let config = &self.state.settings.config;
        let https = endpoint("https", self.https_addr);
        let http = endpoint("http", self.http_addr);
        let cert = self
            .cert_path
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let bundle = self.bundle_path.display();
        let lifetime = match config.tokens.token_lifetime {
            Some(d) => humantime::format_duration(d).to_string(),
            None => "as requested (60..1440 minutes, default 1440)".into(),
        };
        let smtp = match self.state.smtp_addr {
            Some(addr) => format!(
                "\x20 SMTP relay         {addr} (STARTTLS, then AUTH as {name}.<client id>.<tenant id> with the client's secret)\n",
                addr = smtp::dial_address(addr),
                name = config.resource.resource_name,
            ),
            None => String::new(),
        };
        format!(
            "acs-emulator {version} is ready\n\
             \x20 HTTPS endpoint     {https}\n\
             \x20 HTTP endpoint      {http}\n\
             \x20 Connection string  endpoint={https};accesskey={key}\n\
             \x20 TLS certificate    {cert}\n\
             \x20 CA bundle          {bundle}\n\
             \x20                    (the certificate plus this machine's trusted roots; also at\n\
             \x20                    {http}_emulator/tls-ca-bundle)\n\
             \x20 Trust it with      Python (sync):  REQUESTS_CA_BUNDLE={bundle}\n\
             \x20                    Python (aio):   SSL_CERT_FILE={bundle}\n\
             \x20                    Node.js:        NODE_EXTRA_CA_CERTS={bundle}\n\
             \x20 Resource id        {resource}\n\
             \x20 Token lifetime     {lifetime}\n\
             \x20 SMS senders        {senders}\n\
             \x20 SMS outbox         {http}_emulator/sms\n\
             \x20 Email sender       {email_sender}\n\
             \x20 Email domains      {email_domains}\n\
             \x20 Email inbox        {http}_emulator/emails\n\
             {smtp}\
             \x20 Event webhooks     {webhooks}\n\
             \x20 Web inspector      {inspector}\n\
             \x20 Control API        {control}\n\
             \x20 Stop with Ctrl+C.",
            version = env!("CARGO_PKG_VERSION"),
            webhooks = webhooks(&self.state.events),
            inspector = if config.control.no_ui {
                "off (--no-ui)".to_owned()
            } else {
                format!("{http}_emulator/ui/")
            },
            control = if config.control.control_token.is_some() {
                "needs Authorization: Bearer <--control-token> (health, ready, tls-cert, tls-ca-bundle open)"
            } else {
                "open to anyone who reaches a listener (--control-token closes it)"
            },
            key = config.resource.access_key,
            resource = self.state.settings.resource_id,
            email_sender = crate::domain::default_sender(self.state.settings.resource_id),
            email_domains = self
                .state
                .resources
                .default_resource()
                .email_domains()
                .join(", "),
            senders = self
                .state
                .settings
                .phone_numbers
                .iter()
                .map(|n| n.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        )
    }

    /// Makes SIGINT and SIGTERM stop the server gracefully (in-flight requests finish within
    /// `--shutdown-timeout`). The handlers are registered when this returns. Must be called from
    /// within the server's runtime.
    pub fn stop_on_signals(&self) -> std::io::Result<()> {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let handle = self.server.handle();
        actix_web::rt::spawn(async move {
            let name = tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            };
            tracing::info!("{name} received; finishing in-flight requests and stopping");
            handle.stop(true).await;
        });
        Ok(())
    }

    /// Serves like [`Application::run`], but marks the emulator ready and prints the ready
    /// banner (to stdout) only once the HTTP listener answers `/_emulator/health`: the workers
    /// are up and requests are served, not just accepted into the backlog (worker start-up
    /// builds the routing tables and can take a while on a busy machine or a debug build).
    pub async fn run_and_announce(mut self) -> anyhow::Result<()> {
        let relay = self.start_smtp();
        let banner = self.ready_banner();
        let persistence = self.persistence.clone();
        let addr = loopback(self.http_addr);
        let state = self.state.clone();
        let events = state.events.start();
        let server = actix_web::rt::spawn(self.server);
        wait_until_serving(addr, std::time::Duration::from_secs(30)).await?;
        state
            .ready
            .store(true, std::sync::atomic::Ordering::Release);
        println!("{banner}");
        let result = server.await;
        if let Some(relay) = relay {
            relay.abort();
        }
        events.shutdown(std::time::Duration::from_secs(2)).await;
        if let Some(persistence) = persistence {
            persistence.close();
        }
        result??;
        Ok(())
    }

    /// Serves until the server is stopped (see [`Application::stop_on_signals`]); event
    /// delivery runs alongside and stops with the server.
    pub async fn run(mut self) -> std::io::Result<()> {
        let relay = self.start_smtp();
        let events = self.state.events.start();
        // The listeners were bound in `build`, and everything loaded at start-up is in place.
        self.state
            .ready
            .store(true, std::sync::atomic::Ordering::Release);
        let persistence = self.persistence.clone();
        let result = self.server.await;
        if let Some(relay) = relay {
            relay.abort();
        }
        events.shutdown(std::time::Duration::from_secs(2)).await;
        if let Some(persistence) = persistence {
            persistence.close();
        }
        result
    }

    /// A handle to stop the server.
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }
}

/// The ready banner's list of event subscriptions.
fn webhooks(events: &EventBus) -> String {
    let subs = events.subscriptions();
    if subs.is_empty() {
        return "none (--event-webhook, or POST /_emulator/events/subscriptions)".into();
    }
    subs.iter()
        .map(|s| s.subscription.to_string())
        .collect::<Vec<_>>()
        .join("\n                     ")
}

/// `--keep-alive 0s` turns keep-alive off; anything else is an idle timeout.
fn keep_alive(idle: std::time::Duration) -> actix_web::http::KeepAlive {
    if idle.is_zero() {
        actix_web::http::KeepAlive::Disabled
    } else {
        actix_web::http::KeepAlive::Timeout(idle)
    }
}

/// `scheme://host:port/`, with the wildcard address shown as 127.0.0.1 (what a client dials).
fn endpoint(scheme: &str, addr: SocketAddr) -> String {
    let host = match addr.ip() {
        ip if ip.is_unspecified() && ip.is_ipv4() => "127.0.0.1".to_string(),
        ip if ip.is_unspecified() => "[::1]".to_string(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        ip => ip.to_string(),
    };
    format!("{scheme}://{host}:{}/", addr.port())
}

/// The rustls configuration, the certificate PEM and its chain: generated, or read from the
/// user's files.
fn tls_material(
    settings: &Settings,
    state_dir: Option<&StateDir>,
) -> anyhow::Result<(rustls::ServerConfig, String, Vec<CertificateDer<'static>>)> {
    let config = &settings.config;
    let (chain, key, pem) = match (&config.listeners.tls_cert, &config.listeners.tls_key) {
        (Some(cert_path), Some(key_path)) => {
            let pem = std::fs::read_to_string(cert_path)
                .with_context(|| format!("cannot read --tls-cert {}", cert_path.display()))?;
            let chain = CertificateDer::pem_slice_iter(pem.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .with_context(|| {
                    format!(
                        "--tls-cert {} is not a PEM certificate",
                        cert_path.display()
                    )
                })?;
            if chain.is_empty() {
                anyhow::bail!("--tls-cert {} contains no certificate", cert_path.display());
            }
            let key = PrivateKeyDer::from_pem_file(key_path).with_context(|| {
                format!("--tls-key {} is not a PEM private key", key_path.display())
            })?;
            (chain, key, pem)
        }
        _ => {
            let mut names = vec![
                "localhost".to_string(),
                "127.0.0.1".to_string(),
                "::1".to_string(),
            ];
            if !config.listeners.host.is_unspecified() && !config.listeners.host.is_loopback() {
                names.push(config.listeners.host.to_string());
            }
            for name in &config.listeners.tls_hostnames {
                if !names.contains(name) {
                    names.push(name.clone());
                }
            }
            match state_dir {
                // Kept in the state directory (made again only when the names change), so
                // clients that trust it keep trusting it across restarts.
                Some(dir) => {
                    let wanted = names.join(",");
                    let kept = match (
                        dir.kept("tls_names")?,
                        dir.kept("tls_cert")?,
                        dir.kept("tls_key")?,
                    ) {
                        (Some(kept), Some(cert), Some(key)) if kept == wanted => (cert, key),
                        _ => {
                            let made = crate::trust::generate(names)
                                .context("cannot generate the TLS certificate")?;
                            let made = (made.cert.pem(), made.signing_key.serialize_pem());
                            dir.replace_secret("tls_names", &wanted)?;
                            dir.replace_secret("tls_cert", &made.0)?;
                            dir.replace_secret("tls_key", &made.1)?;
                            made
                        }
                    };
                    let (cert_pem, key_pem) = kept;
                    let chain = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
                        .collect::<Result<Vec<_>, _>>()
                        .context("the TLS certificate kept in the state directory is not PEM")?;
                    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
                        .context("the TLS key kept in the state directory is not PEM")?;
                    (chain, key, cert_pem)
                }
                None => {
                    let certified = crate::trust::generate(names)
                        .context("cannot generate the TLS certificate")?;
                    let key = PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
                    (
                        vec![certified.cert.der().clone()],
                        key,
                        certified.cert.pem(),
                    )
                }
            }
        }
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server_config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(chain.clone(), key)
        .context("the TLS certificate and key do not match or are not supported")?;
    Ok((server_config, pem, chain))
}

/// Reads and checks one fixture file against what is loaded so far.
fn load_fixture_file(
    path: &std::path::Path,
    resources: &Resources,
    engine: &Engine,
    events: &EventBus,
) -> anyhow::Result<fixtures::Loaded> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the fixture file {name}"))?;
    let json = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    let fixture = fixtures::parse(&name, &text, json, &api::rule_operations())
        .map_err(|e| anyhow::anyhow!("fixture error: {e}"))?;
    fixtures::check(&name, &text, fixture, resources, engine, events)
        .map_err(|e| anyhow::anyhow!("fixture error: {e}"))
}

/// `addr` with an unspecified IP (0.0.0.0, ::) replaced by loopback, to connect to it.
fn loopback(mut addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        addr.set_ip(if addr.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        });
    }
    addr
}

/// Polls `GET /_emulator/health` on `addr` until it answers 200, for at most `timeout`.
async fn wait_until_serving(addr: SocketAddr, timeout: std::time::Duration) -> anyhow::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let probe = async {
        loop {
            if let Ok(mut stream) = tokio::net::TcpStream::connect(addr).await {
                let request =
                    b"GET /_emulator/health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
                let mut head = [0u8; 12];
                if stream.write_all(request).await.is_ok()
                    && stream.read_exact(&mut head).await.is_ok()
                    && head.starts_with(b"HTTP/1.1 200")
                {
                    return;
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(timeout, probe)
        .await
        .map_err(|_| anyhow::anyhow!("the server did not start serving within {timeout:?}"))
}

/// The event bus's options, from the flags (`events` takes plain data and never reads the
/// configuration). The default resource's topic is its ARM id.
pub fn bus_options(settings: &Settings) -> BusOptions {
    let c = &settings.config;
    BusOptions {
        topic: resource_topic(
            &settings.azure_subscription_id.to_string(),
            &c.resource.resource_group,
            &c.resource.resource_name,
        ),
        arm_prefix: format!(
            "/subscriptions/{}/resourceGroups/{}",
            c.resource.azure_subscription_id.to_ascii_lowercase(),
            c.resource.resource_group
        ),
        default_resource: crate::resource::DEFAULT_RESOURCE.to_string(),
        policy: DeliveryPolicy {
            max_attempts: c.events.event_max_attempts,
            retry_initial: c.events.event_retry_initial,
            retry_max: c.events.event_retry_max,
            timeout: c.events.event_delivery_timeout,
        },
        queue_capacity: c.events.event_queue_capacity,
        history_capacity: c.events.event_history,
        report_capacity: c.limits.max_sms_outbox,
        seed: c.scenarios.seed,
        extra_roots: settings.event_webhook_roots.clone(),
    }
}

/// Subscribes the `--event-webhook`s (kept across resets), once all of them are checked. A value
/// `events` refuses is a configuration error (exit status 2), as the flags `Config::validate`
/// checks are.
/// Puts back what the event bus had not delivered when the emulator stopped: each waiting event
/// into its subscription's queue (an event of a subscription that is gone is forgotten), each
/// delivery report into its schedule (one whose message is gone is forgotten). Returns how many
/// events and reports came back.
fn restore_undelivered(
    dir: &StateDir,
    resources: &Resources,
    events: &EventBus,
) -> anyhow::Result<(usize, usize)> {
    let mut gone_subscriptions: Vec<String> = Vec::new();
    let mut restored_events = 0;
    for (subscription, seq, event) in dir.pending_events()? {
        if events.restore_pending(&subscription, seq, event) {
            restored_events += 1;
        } else if !gone_subscriptions.contains(&subscription) {
            gone_subscriptions.push(subscription);
        }
    }
    for name in &gone_subscriptions {
        tracing::warn!(subscription = %name, "events kept for an event subscription that no longer exists are dropped");
    }
    let by_topic: std::collections::HashMap<String, Arc<Resource>> = resources
        .all()
        .iter()
        .map(|r| (events.topic_for(&r.name).to_string(), Arc::clone(r)))
        .collect();
    let mut gone_reports = Vec::new();
    let mut restored_reports = 0;
    for key in dir.due_reports()? {
        let restored = by_topic.get(&key.topic).is_some_and(|res| match key.kind {
            crate::events::ReportKind::Sms => crate::domain::SmsMessageId::parse(&key.id)
                .and_then(|id| {
                    res.store
                        .sms
                        .delivery_report(&id, chrono::DateTime::<chrono::Utc>::MAX_UTC)
                })
                .map(|report| events.restore_sms_report(key.topic.clone(), report))
                .is_some(),
            crate::events::ReportKind::Email => {
                let index = usize::try_from(key.index).unwrap_or(usize::MAX);
                res.store
                    .email
                    .message(&key.id)
                    .ok()
                    .filter(|email| index < email.deliveries.len())
                    .map(|email| events.restore_email_report(&key.topic, &email, index))
                    .is_some()
            }
        });
        if restored {
            restored_reports += 1;
        } else {
            gone_reports.push(key);
        }
    }
    if !gone_reports.is_empty() {
        tracing::info!(
            reports = gone_reports.len(),
            "delivery reports kept for messages no longer kept are dropped"
        );
    }
    dir.forget_undeliverable(&gone_subscriptions, &gone_reports)?;
    Ok((restored_events, restored_reports))
}

fn subscribe_webhooks(events: &EventBus, settings: &Settings) -> anyhow::Result<()> {
    let subscriptions = settings
        .event_webhooks
        .iter()
        .map(|raw| {
            Subscription::parse_cli(raw)
                .map_err(|e| ConfigError::new(format!("--event-webhook '{raw}': {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    for subscription in subscriptions {
        events
            .subscribe(subscription)
            .map_err(|e| anyhow::anyhow!("--event-webhook: {e}"))?;
    }
    Ok(())
}
