//! Throwaway certificate authorities, made at test time with rcgen, and
//! the PEM files a server or client reads.

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use std::path::{Path, PathBuf};

/// A CA and the files of the certificates it issued, in one directory.
pub struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
    /// The CA certificate (PEM): what a peer trusts.
    pub cert: PathBuf,
    dir: PathBuf,
    name: String,
}

impl Ca {
    /// A new CA named `name`, its files under `dir`.
    pub fn new(dir: &Path, name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, format!("vigil test CA {name}"));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().expect("CA key");
        let issuer = CertifiedIssuer::self_signed(params, key).expect("CA certificate");
        let cert = dir.join(format!("{name}-ca.pem"));
        std::fs::write(&cert, issuer.pem()).expect("writing the CA");
        Ca {
            issuer,
            cert,
            dir: dir.to_path_buf(),
            name: name.to_owned(),
        }
    }

    /// A certificate for `names` (DNS names or IP addresses) signed by this
    /// CA: `(certificate chain PEM, key PEM)` as files named after `file`.
    pub fn issue(&self, file: &str, names: &[&str]) -> (PathBuf, PathBuf) {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names).expect("leaf params");
        params
            .distinguished_name
            .push(DnType::CommonName, format!("{file} ({})", self.name));
        let key = KeyPair::generate().expect("leaf key");
        let cert = params.signed_by(&key, &self.issuer).expect("signing");
        let cert_path = self.dir.join(format!("{file}.pem"));
        let key_path = self.dir.join(format!("{file}.key"));
        // The full chain: the leaf, then the CA.
        std::fs::write(&cert_path, cert.pem() + &self.issuer.pem()).expect("writing a cert");
        std::fs::write(&key_path, key.serialize_pem()).expect("writing a key");
        (cert_path, key_path)
    }

    /// A server certificate for 127.0.0.1 and localhost, and the base64
    /// SHA-256 of its public key (what Chromium's
    /// `--ignore-certificate-errors-spki-list` pins).
    pub fn server_pinned(&self, file: &str) -> (PathBuf, PathBuf, String) {
        use base64::Engine;
        use rcgen::PublicKeyData;
        use sha2::Digest;
        let (cert, key) = self.server(file);
        let pem = std::fs::read_to_string(&key).expect("key");
        let pair = KeyPair::from_pem(&pem).expect("key PEM");
        let spki = sha2::Sha256::digest(pair.subject_public_key_info());
        let pin = base64::engine::general_purpose::STANDARD.encode(spki);
        (cert, key, pin)
    }

    /// A server certificate for 127.0.0.1 and localhost.
    pub fn server(&self, file: &str) -> (PathBuf, PathBuf) {
        self.issue(file, &["127.0.0.1", "localhost"])
    }
}
