//! A webhook receiver for event tests: a small actix-web server on 127.0.0.1:0 that records
//! every request and answers as it is told (handshakes passed or failed, deliveries failed a
//! number of times, always, or with a given status).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};

/// How the receiver answers.
#[derive(Debug, Clone)]
pub struct Behaviour {
    /// Pass the handshakes (echo the validation code; allow the OPTIONS origin).
    pub validate: bool,
    /// Fail this many deliveries (`Notification` requests) before accepting.
    pub fail_first: usize,
    /// The status of a failed delivery.
    pub fail_status: u16,
}

impl Default for Behaviour {
    fn default() -> Self {
        Self {
            validate: true,
            fail_first: 0,
            fail_status: 500,
        }
    }
}

/// The certificate an HTTPS receiver presents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertKind {
    /// Self-signed, an end-entity certificate (trust: the certificate itself).
    SelfSigned,
    /// Self-signed and marked as a CA, as `openssl req -x509` makes them (trust: itself).
    SelfSignedCa,
    /// Issued by a private CA, as mkcert does (trust: the CA).
    IssuedByCa,
}

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    /// `POST`, `OPTIONS`, …
    pub method: String,
    /// Path and query.
    pub target: String,
    /// Headers, names lower-cased.
    pub headers: BTreeMap<String, String>,
    /// The body as JSON (`Null` when empty or not JSON).
    pub body: Value,
    /// The status the receiver answered.
    pub status: u16,
}

impl Received {
    /// A header's value, or "".
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map(String::as_str).unwrap_or("")
    }

    /// Whether this is an event delivery (not a handshake).
    pub fn is_notification(&self) -> bool {
        self.method == "POST" && self.header("aeg-event-type") == "Notification"
    }
}

struct Shared {
    behaviour: Behaviour,
    received: Mutex<Vec<Received>>,
    notifications: AtomicUsize,
}

/// A running receiver.
pub struct Webhook {
    /// `http://127.0.0.1:<port>/api/events`
    pub url: String,
    shared: Arc<Shared>,
    handle: actix_web::dev::ServerHandle,
}

impl Drop for Webhook {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

impl Webhook {
    /// Starts a receiver that passes handshakes and accepts every delivery.
    pub async fn start() -> Webhook {
        Self::with(Behaviour::default()).await
    }

    /// Starts a receiver with `behaviour`.
    pub async fn with(behaviour: Behaviour) -> Webhook {
        Self::serve(behaviour, None).await
    }

    /// Starts an HTTPS receiver (`https://localhost:<port>/api/events`) whose certificate for
    /// `localhost` is of the given kind; returns it with the PEM a client should trust.
    pub async fn start_tls(kind: CertKind) -> (Webhook, String) {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
        let leaf_params = CertificateParams::new(vec!["localhost".to_string()]).expect("params");
        let leaf_key = KeyPair::generate().expect("key");
        let (leaf, trust) = match kind {
            CertKind::SelfSigned | CertKind::SelfSignedCa => {
                let mut params = leaf_params;
                if kind == CertKind::SelfSignedCa {
                    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
                }
                let cert = params.self_signed(&leaf_key).expect("self-signed");
                let pem = cert.pem();
                (cert, pem)
            }
            CertKind::IssuedByCa => {
                let mut ca_params = CertificateParams::new(Vec::new()).expect("params");
                ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
                let ca_key = KeyPair::generate().expect("key");
                let ca = ca_params.self_signed(&ca_key).expect("CA");
                let issuer = Issuer::new(ca_params, ca_key);
                let cert = leaf_params.signed_by(&leaf_key, &issuer).expect("issued");
                (cert, ca.pem())
            }
        };
        let key = rustls_pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into());
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_no_client_auth()
            .with_single_cert(vec![leaf.der().clone()], key)
            .expect("certificate and key");
        (Self::serve(Behaviour::default(), Some(config)).await, trust)
    }

    async fn serve(behaviour: Behaviour, tls: Option<rustls::ServerConfig>) -> Webhook {
        let shared = Arc::new(Shared {
            behaviour,
            received: Mutex::new(Vec::new()),
            notifications: AtomicUsize::new(0),
        });
        let data = web::Data::from(Arc::clone(&shared));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .default_service(web::to(receive))
        })
        .workers(1)
        .disable_signals();
        let (server, url) = match tls {
            None => (
                server.bind(("127.0.0.1", 0)).expect("bind the webhook"),
                "http://127.0.0.1",
            ),
            Some(config) => (
                server
                    .bind_rustls_0_23(("127.0.0.1", 0), config)
                    .expect("bind the webhook"),
                "https://localhost",
            ),
        };
        let port = server.addrs()[0].port();
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        Webhook {
            url: format!("{url}:{port}/api/events"),
            shared,
            handle,
        }
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Received> {
        self.shared.received.lock().expect("lock").clone()
    }

    /// The delivery requests (not the handshakes), in arrival order.
    pub fn notifications(&self) -> Vec<Received> {
        self.requests()
            .into_iter()
            .filter(Received::is_notification)
            .collect()
    }

    /// The events of the accepted deliveries, flattened, in arrival order.
    pub fn events(&self) -> Vec<Value> {
        self.notifications()
            .into_iter()
            .filter(|r| (200..300).contains(&r.status))
            .flat_map(|r| r.body.as_array().cloned().unwrap_or_default())
            .collect()
    }
}

async fn receive(req: HttpRequest, body: web::Bytes, shared: web::Data<Shared>) -> HttpResponse {
    let headers: BTreeMap<String, String> = req
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_ascii_lowercase(),
                v.to_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let method = req.method().to_string();
    let event_type = headers.get("aeg-event-type").cloned().unwrap_or_default();
    let behaviour = &shared.behaviour;
    let response = if method == "OPTIONS" {
        if behaviour.validate {
            let origin = headers
                .get("webhook-request-origin")
                .cloned()
                .unwrap_or_default();
            HttpResponse::Ok()
                .insert_header(("WebHook-Allowed-Origin", origin))
                .finish()
        } else {
            HttpResponse::Ok().finish()
        }
    } else if event_type == "SubscriptionValidation" {
        if behaviour.validate {
            let code = json[0]["data"]["validationCode"].clone();
            HttpResponse::Ok().json(json!({"validationResponse": code}))
        } else {
            HttpResponse::BadRequest().finish()
        }
    } else {
        let n = shared.notifications.fetch_add(1, Ordering::SeqCst);
        if n < behaviour.fail_first {
            HttpResponse::build(
                actix_web::http::StatusCode::from_u16(behaviour.fail_status).expect("status"),
            )
            .finish()
        } else {
            HttpResponse::Ok().finish()
        }
    };
    shared.received.lock().expect("lock").push(Received {
        method,
        target: req
            .uri()
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_default(),
        headers,
        body: json,
        status: response.status().as_u16(),
    });
    response
}
