//! TLS settings: the certificate chain, key and optional client CAs read
//! from PEM files into one rustls `ServerConfig` per port (ALPN `http/1.1`
//! on the HTTP port, `h2` on the gRPC port; TLS 1.2 and 1.3 only), and the
//! slot every reactor reads them from at accept, so a reload (SIGHUP)
//! reaches new handshakes while established sessions keep theirs.

use anyhow::Context;
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

/// Where the PEM files are (from `--tls-cert`, `--tls-key`, `--tls-client-ca`).
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub client_ca: Option<PathBuf>,
}

/// The two ports' configurations, built from one read of the files.
pub struct TlsConfigs {
    pub http: Arc<ServerConfig>,
    pub grpc: Arc<ServerConfig>,
}

/// The configurations in use; replaced whole by a reload.
pub struct TlsSlot {
    files: TlsFiles,
    current: RwLock<Arc<TlsConfigs>>,
}

impl TlsSlot {
    /// Reads the files; an error names the file and what is wrong.
    pub fn load(files: TlsFiles) -> anyhow::Result<TlsSlot> {
        let configs = build(&files)?;
        Ok(TlsSlot {
            files,
            current: RwLock::new(Arc::new(configs)),
        })
    }

    /// The configuration for a new connection on the HTTP or the gRPC port.
    pub fn config(&self, grpc: bool) -> Arc<ServerConfig> {
        let current = match self.current.read() {
            Ok(c) => c,
            // A reload never panics while holding the lock; if it had,
            // the configuration in it is still a whole one.
            Err(poisoned) => poisoned.into_inner(),
        };
        if grpc {
            current.grpc.clone()
        } else {
            current.http.clone()
        }
    }

    /// Reads the files again: new handshakes use the new pair from now on.
    /// A bad pair is refused and the old one goes on serving.
    pub fn reload(&self) -> anyhow::Result<()> {
        let configs = Arc::new(build(&self.files)?);
        match self.current.write() {
            Ok(mut c) => *c = configs,
            Err(poisoned) => *poisoned.into_inner() = configs,
        }
        Ok(())
    }
}

/// The ring provider (STYLE.md: simplest to build). rustls marks it
/// deprecated because it has no post-quantum key exchange; the aws-lc-rs
/// provider that has one needs cmake and a C toolchain.
#[allow(deprecated)]
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn build(files: &TlsFiles) -> anyhow::Result<TlsConfigs> {
    let chain = read_certs("--tls-cert", &files.cert)?;
    let key = PrivateKeyDer::from_pem_file(&files.key).with_context(|| {
        format!(
            "--tls-key {}: no readable PEM private key",
            files.key.display()
        )
    })?;
    let verifier = match &files.client_ca {
        None => None,
        Some(path) => {
            let mut roots = RootCertStore::empty();
            for cert in read_certs("--tls-client-ca", path)? {
                roots.add(cert).with_context(|| {
                    format!("--tls-client-ca {}: bad CA certificate", path.display())
                })?;
            }
            let v = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
                .build()
                .with_context(|| format!("--tls-client-ca {}", path.display()))?;
            Some(v)
        }
    };
    let one = |alpn: &[u8]| -> anyhow::Result<Arc<ServerConfig>> {
        let builder = ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .context("TLS 1.2 and 1.3")?;
        let builder = match &verifier {
            Some(v) => builder.with_client_cert_verifier(v.clone()),
            None => builder.with_no_client_auth(),
        };
        // Checks the key parses and matches the chain's first certificate.
        let mut config = builder
            .with_single_cert(chain.clone(), key.clone_key())
            .with_context(|| {
                format!(
                    "--tls-cert {} and --tls-key {} do not make a pair",
                    files.cert.display(),
                    files.key.display()
                )
            })?;
        config.alpn_protocols = vec![alpn.to_vec()];
        Ok(Arc::new(config))
    };
    Ok(TlsConfigs {
        http: one(b"http/1.1")?,
        grpc: one(b"h2")?,
    })
}

/// Every certificate in a PEM file (at least one).
fn read_certs(flag: &str, path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .with_context(|| format!("{flag} {}: cannot read it", path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{flag} {}: bad PEM", path.display()))?;
    if certs.is_empty() {
        anyhow::bail!("{flag} {}: no PEM certificate in it", path.display());
    }
    Ok(certs)
}
