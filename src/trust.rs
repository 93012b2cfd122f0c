//! What clients trust: the CA bundle (`--tls-ca-bundle-out`, `GET /_emulator/tls-ca-bundle`).
//!
//! `REQUESTS_CA_BUNDLE` and `SSL_CERT_FILE` do not add to a process's trusted roots, they replace
//! them: pointed at the emulator's certificate alone, every other HTTPS call of that process (pip,
//! a package registry, another API) fails with `CERTIFICATE_VERIFY_FAILED`. The bundle is the
//! emulator's certificate followed by the machine's trusted roots, so one file serves both.
//!
//! The roots come from the platform's trust store, read by `rustls-native-certs` (on Linux the
//! system bundle that `openssl-probe` finds, or `SSL_CERT_FILE` / `SSL_CERT_DIR` when set; the
//! keychain on macOS; the certificate store on Windows). That keeps roots an administrator added,
//! such as a TLS-inspecting proxy's, which a fixed list would miss. A system without any (a slim
//! container image without `ca-certificates`) gets Mozilla's list from `webpki-root-certs`.
//!
//! Certificates the emulator generated earlier are left out, recognised by their subject: a shell
//! that exported `SSL_CERT_FILE=<an earlier bundle>` makes `rustls-native-certs` read that file as
//! the system store, and the bundle would otherwise grow by one stale certificate per start.

use std::collections::HashSet;
use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rustls_pki_types::CertificateDer;

/// The common name of every certificate the emulator generates (and how it recognises them).
pub const GENERATED_CERT_NAME: &str = "acs-emulator development certificate";

/// Where the bundle's roots came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootsSource {
    /// The platform's trust store.
    System,
    /// Mozilla's list (`webpki-root-certs`), because the platform store had none.
    Mozilla,
}

/// Trusted roots for the bundle.
#[derive(Debug, Clone)]
pub struct Roots {
    /// The certificates, without duplicates and without earlier emulator certificates.
    pub certs: Vec<CertificateDer<'static>>,
    /// Where they came from.
    pub source: RootsSource,
}

impl Roots {
    /// A short description for the log: "146 roots from the system trust store".
    pub fn describe(&self) -> String {
        let from = match self.source {
            RootsSource::System => "the system trust store",
            RootsSource::Mozilla => "Mozilla's list (the system trust store is empty)",
        };
        format!("{} roots from {from}", self.certs.len())
    }
}

/// The machine's trusted roots, read once per process (several emulators in one test process
/// share them).
pub fn system_roots() -> &'static Roots {
    static ROOTS: OnceLock<Roots> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let loaded = rustls_native_certs::load_native_certs();
        for error in &loaded.errors {
            tracing::warn!(%error, "reading the system's trusted roots for the CA bundle");
        }
        let certs = without_generated(loaded.certs);
        if certs.is_empty() {
            Roots {
                certs: webpki_root_certs::TLS_SERVER_ROOT_CERTS.to_vec(),
                source: RootsSource::Mozilla,
            }
        } else {
            Roots {
                certs,
                source: RootsSource::System,
            }
        }
    })
}

/// `certs` without duplicates and without certificates the emulator generated.
fn without_generated(certs: Vec<CertificateDer<'static>>) -> Vec<CertificateDer<'static>> {
    let mut seen = HashSet::new();
    certs
        .into_iter()
        .filter(|cert| !is_generated(cert) && seen.insert(cert.as_ref().to_vec()))
        .collect()
}

/// Whether `cert` is one the emulator generated (its subject is [`GENERATED_CERT_NAME`]).
pub fn is_generated(cert: &CertificateDer<'_>) -> bool {
    let subject = generated_subject();
    !subject.is_empty()
        && webpki::anchor_from_trusted_cert(cert)
            .is_ok_and(|anchor| anchor.subject.as_ref() == subject)
}

/// The subject of a generated certificate, as webpki reports it (from a throwaway one).
fn generated_subject() -> &'static [u8] {
    static SUBJECT: OnceLock<Vec<u8>> = OnceLock::new();
    SUBJECT.get_or_init(|| {
        generate(vec!["localhost".into()])
            .ok()
            .and_then(|certified| {
                webpki::anchor_from_trusted_cert(certified.cert.der())
                    .ok()
                    .map(|anchor| anchor.subject.as_ref().to_vec())
            })
            .unwrap_or_default()
    })
}

/// A new self-signed certificate for `names`, with the subject that marks the emulator's own.
pub fn generate(names: Vec<String>) -> Result<rcgen::CertifiedKey<rcgen::KeyPair>, rcgen::Error> {
    let mut params = rcgen::CertificateParams::new(names)?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, GENERATED_CERT_NAME);
    let signing_key = rcgen::KeyPair::generate()?;
    let cert = params.self_signed(&signing_key)?;
    Ok(rcgen::CertifiedKey { cert, signing_key })
}

/// The bundle: a comment, the emulator's certificates (`own`), then `roots` (minus any of `own`).
pub fn bundle_pem(own: &[CertificateDer<'_>], roots: &Roots) -> String {
    let mut out = String::with_capacity(2048 * (own.len() + roots.certs.len()));
    out.push_str(
        "# acs-emulator CA bundle: this emulator's HTTPS certificate, then the trusted roots\n\
         # of the machine it runs on. Trust it with REQUESTS_CA_BUNDLE and SSL_CERT_FILE (Python),\n\
         # NODE_EXTRA_CA_CERTS (Node.js) or curl --cacert. Rewritten at every start.\n",
    );
    out.push_str("# acs-emulator\n");
    for cert in own {
        push_pem(&mut out, cert);
    }
    out.push_str(&format!("# {}\n", roots.describe()));
    for cert in &roots.certs {
        if !own.iter().any(|o| o.as_ref() == cert.as_ref()) {
            push_pem(&mut out, cert);
        }
    }
    out
}

fn push_pem(out: &mut String, cert: &CertificateDer<'_>) {
    let encoded = STANDARD.encode(cert.as_ref());
    out.push_str("-----BEGIN CERTIFICATE-----\n");
    // Base64 is ASCII, so 64-byte chunks are 64-character lines.
    for line in encoded.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls_pki_types::pem::PemObject;

    fn certs_of(pem: &str) -> Vec<Vec<u8>> {
        CertificateDer::pem_slice_iter(pem.as_bytes())
            .map(|c| c.expect("PEM").as_ref().to_vec())
            .collect()
    }

    #[test]
    fn generated_certificates_are_recognised_and_others_are_not() {
        let ours = generate(vec!["localhost".into()]).expect("cert");
        assert!(is_generated(ours.cert.der()));
        let foreign = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("cert");
        assert!(!is_generated(foreign.cert.der()));
        assert!(
            webpki_root_certs::TLS_SERVER_ROOT_CERTS
                .iter()
                .all(|root| !is_generated(root))
        );
    }

    #[test]
    fn the_bundle_is_the_own_certificate_then_the_roots_without_stale_or_repeated_ones() {
        let own = generate(vec!["localhost".into()]).expect("cert");
        let stale = generate(vec!["localhost".into()]).expect("cert");
        let public = &webpki_root_certs::TLS_SERVER_ROOT_CERTS[..3];
        let mut loaded = vec![stale.cert.der().clone()];
        loaded.extend(public.iter().cloned());
        loaded.push(public[0].clone());
        let roots = Roots {
            certs: without_generated(loaded),
            source: RootsSource::System,
        };
        let pem = bundle_pem(&[own.cert.der().clone()], &roots);
        assert!(pem.starts_with("# acs-emulator CA bundle"), "{pem}");
        let mut want = vec![own.cert.der().as_ref().to_vec()];
        want.extend(public.iter().map(|c| c.as_ref().to_vec()));
        assert_eq!(certs_of(&pem), want);
        // Line length as in every PEM file (OpenSSL reads up to 64 per line either way).
        assert!(
            pem.lines()
                .all(|line| line.len() <= 64 || line.starts_with('#'))
        );
    }

    #[test]
    fn the_system_roots_are_the_platform_bundle() {
        let roots = system_roots();
        assert!(!roots.certs.is_empty());
        // On Debian and Ubuntu (and CI), compare with the system bundle itself.
        let system = std::path::Path::new("/etc/ssl/certs/ca-certificates.crt");
        let overridden = ["SSL_CERT_FILE", "SSL_CERT_DIR"]
            .iter()
            .any(|v| std::env::var_os(v).is_some());
        if system.is_file() && !overridden {
            let pem = std::fs::read_to_string(system).expect("read");
            let mut want = certs_of(&pem);
            want.dedup();
            let got: HashSet<Vec<u8>> = roots.certs.iter().map(|c| c.as_ref().to_vec()).collect();
            assert_eq!(roots.source, RootsSource::System);
            assert!(want.iter().all(|c| got.contains(c)));
            assert_eq!(got.len(), want.iter().collect::<HashSet<_>>().len());
        }
    }
}
