//! TLS with rustls (the aws-lc-rs provider, the one reqwest uses too): server and client
//! configurations from PEM files or a PKCS#12 keystore (Marathon's `--ssl_keystore_path`), and
//! libprocess' `LIBPROCESS_SSL_*` variables, which configure the master, the agent and every
//! Mesos client (Marathon's included) as upstream's do.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("{0}")]
    Config(String),
}

/// A certificate chain and its private key.
pub struct Identity {
    pub certs: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

impl Clone for Identity {
    fn clone(&self) -> Self {
        Identity { certs: self.certs.clone(), key: self.key.clone_key() }
    }
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity").field("certs", &self.certs.len()).finish_non_exhaustive()
    }
}

impl Identity {
    /// A PEM certificate chain (leaf first) and a PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub fn from_pem_files(cert_file: &Path, key_file: &Path) -> Result<Identity, TlsError> {
        let certs = certificates(cert_file)?;
        let key = PrivateKeyDer::from_pem_file(key_file).map_err(|e| invalid(key_file, e))?;
        Ok(Identity { certs, key })
    }

    /// The private key and its certificate chain from a PKCS#12 keystore (what Java's
    /// `keytool` writes by default, and `openssl pkcs12 -export`).
    pub fn from_pkcs12_file(path: &Path, password: &str) -> Result<Identity, TlsError> {
        let data = std::fs::read(path).map_err(|source| TlsError::Read { path: path.to_path_buf(), source })?;
        let store = p12_keystore::KeyStore::from_pkcs12(&data, password, p12_keystore::Pkcs12ImportPolicy::Strict)
            .map_err(|e| invalid(path, e))?;
        let Some((_, chain)) = store.private_key_chain() else {
            return Err(invalid(path, "the keystore holds no private key with its certificate"));
        };
        let certs: Vec<_> = chain.certs().iter().map(|c| CertificateDer::from(c.as_der().to_vec())).collect();
        if certs.is_empty() {
            return Err(invalid(path, "the keystore's private key has no certificate"));
        }
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(chain.key().as_der().to_vec()));
        Ok(Identity { certs, key })
    }
}

fn invalid(path: &Path, e: impl std::fmt::Display) -> TlsError {
    TlsError::Invalid { path: path.to_path_buf(), message: e.to_string() }
}

/// Every certificate of a PEM file.
pub fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| invalid(path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(path, e))?;
    if certs.is_empty() {
        return Err(invalid(path, "no certificate in the file"));
    }
    Ok(certs)
}

/// The certificates of a PEM file as trust anchors.
pub fn roots(ca_file: &Path) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in certificates(ca_file)? {
        roots.add(cert).map_err(|e| invalid(ca_file, e))?;
    }
    Ok(roots)
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Whether a server asks its clients for certificates.
#[derive(Debug, Clone)]
pub enum ClientCerts {
    /// It does not ask.
    Ignored,
    /// A client may present one; if it does, it must be signed by these roots.
    VerifiedIfPresented(Arc<RootCertStore>),
    /// Every client must present one signed by these roots.
    Required(Arc<RootCertStore>),
}

/// A server's TLS configuration (HTTP/1.1).
pub fn server_config(identity: Identity, clients: ClientCerts) -> Result<Arc<ServerConfig>, TlsError> {
    let builder = ServerConfig::builder_with_provider(provider()).with_safe_default_protocol_versions()?;
    let builder = match clients {
        ClientCerts::Ignored => builder.with_no_client_auth(),
        ClientCerts::VerifiedIfPresented(roots) => builder.with_client_cert_verifier(
            WebPkiClientVerifier::builder_with_provider(roots, provider())
                .allow_unauthenticated()
                .build()
                .map_err(|e| TlsError::Config(e.to_string()))?,
        ),
        ClientCerts::Required(roots) => builder.with_client_cert_verifier(
            WebPkiClientVerifier::builder_with_provider(roots, provider())
                .build()
                .map_err(|e| TlsError::Config(e.to_string()))?,
        ),
    };
    let mut config = builder.with_single_cert(identity.certs, identity.key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A client's TLS configuration: servers verified against `roots` (`None`: not verified at
/// all), presenting `identity` when a server asks for a certificate.
pub fn client_config(roots: Option<RootCertStore>, identity: Option<Identity>) -> Result<Arc<ClientConfig>, TlsError> {
    let builder = ClientConfig::builder_with_provider(provider()).with_safe_default_protocol_versions()?;
    let builder = match roots {
        Some(roots) => builder.with_root_certificates(roots),
        None => builder.dangerous().with_custom_certificate_verifier(Arc::new(NoVerification(provider()))),
    };
    let mut config = match identity {
        Some(identity) => builder.with_client_auth_cert(identity.certs, identity.key)?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Accepts any server certificate (upstream libprocess' default without
/// `LIBPROCESS_SSL_VERIFY_CERT`); signatures are still checked.
#[derive(Debug)]
struct NoVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Upstream libprocess' SSL variables, read by the master, the agent and the Mesos clients
/// (Marathon's connection to the master included).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LibprocessSsl {
    /// `LIBPROCESS_SSL_ENABLED`: servers speak only TLS, clients connect with TLS.
    pub enabled: bool,
    /// `LIBPROCESS_SSL_CERT_FILE` (PEM): the server's certificate, and the client's when a
    /// server asks for one.
    pub cert_file: Option<PathBuf>,
    /// `LIBPROCESS_SSL_KEY_FILE` (PEM).
    pub key_file: Option<PathBuf>,
    /// `LIBPROCESS_SSL_CA_FILE` (PEM): what peers' certificates are verified against.
    pub ca_file: Option<PathBuf>,
    /// `LIBPROCESS_SSL_VERIFY_CERT`: clients verify servers; servers verify a client's
    /// certificate when it presents one.
    pub verify_cert: bool,
    /// `LIBPROCESS_SSL_REQUIRE_CERT`: servers require a client certificate (implies verifying).
    pub require_cert: bool,
}

impl LibprocessSsl {
    /// From this process' environment.
    pub fn from_env() -> Result<LibprocessSsl, TlsError> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// From variables looked up by `var`.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<LibprocessSsl, TlsError> {
        let flag = |name: &str| -> Result<bool, TlsError> {
            match var(name).as_deref().map(str::trim) {
                None | Some("") => Ok(false),
                Some("1" | "true") => Ok(true),
                Some("0" | "false") => Ok(false),
                Some(other) => Err(TlsError::Config(format!("{name}={other}: expected true, false, 1 or 0"))),
            }
        };
        let path = |name: &str| var(name).filter(|v| !v.trim().is_empty()).map(PathBuf::from);
        let ssl = LibprocessSsl {
            enabled: flag("LIBPROCESS_SSL_ENABLED")?,
            cert_file: path("LIBPROCESS_SSL_CERT_FILE"),
            key_file: path("LIBPROCESS_SSL_KEY_FILE"),
            ca_file: path("LIBPROCESS_SSL_CA_FILE"),
            verify_cert: flag("LIBPROCESS_SSL_VERIFY_CERT")?,
            require_cert: flag("LIBPROCESS_SSL_REQUIRE_CERT")?,
        };
        if ssl.enabled {
            for (name, _) in vars_not_supported().filter(|(name, _)| var(name).is_some()) {
                tracing::warn!("{name} is not supported and is ignored");
            }
            if ssl.ca_file.is_none() && (ssl.verify_cert || ssl.require_cert) {
                return Err(TlsError::Config(
                    "LIBPROCESS_SSL_VERIFY_CERT and LIBPROCESS_SSL_REQUIRE_CERT need LIBPROCESS_SSL_CA_FILE".into(),
                ));
            }
        }
        Ok(ssl)
    }

    /// `https` when enabled, else `http`.
    pub fn scheme(&self) -> &'static str {
        if self.enabled { "https" } else { "http" }
    }

    /// Whether clients verify servers: with `LIBPROCESS_SSL_VERIFY_CERT` or
    /// `LIBPROCESS_SSL_REQUIRE_CERT` as upstream, and also whenever a CA file is given
    /// (upstream then still accepts any certificate unless told to verify).
    pub fn verifies_servers(&self) -> bool {
        self.verify_cert || self.require_cert || self.ca_file.is_some()
    }

    fn identity(&self) -> Result<Option<Identity>, TlsError> {
        match (&self.cert_file, &self.key_file) {
            (Some(cert), Some(key)) => Identity::from_pem_files(cert, key).map(Some),
            (None, None) => Ok(None),
            _ => Err(TlsError::Config("LIBPROCESS_SSL_CERT_FILE and LIBPROCESS_SSL_KEY_FILE go together".to_string())),
        }
    }

    fn roots(&self) -> Result<Option<RootCertStore>, TlsError> {
        self.ca_file.as_deref().map(roots).transpose()
    }

    /// A server's configuration, `None` unless enabled.
    pub fn server_config(&self) -> Result<Option<Arc<ServerConfig>>, TlsError> {
        if !self.enabled {
            return Ok(None);
        }
        let Some(identity) = self.identity()? else {
            return Err(TlsError::Config(
                "LIBPROCESS_SSL_ENABLED needs LIBPROCESS_SSL_CERT_FILE and LIBPROCESS_SSL_KEY_FILE".to_string(),
            ));
        };
        let clients = match (self.roots()?, self.require_cert, self.verify_cert) {
            (Some(roots), true, _) => ClientCerts::Required(Arc::new(roots)),
            (Some(roots), false, true) => ClientCerts::VerifiedIfPresented(Arc::new(roots)),
            _ => ClientCerts::Ignored,
        };
        server_config(identity, clients).map(Some)
    }

    /// A client's configuration, `None` unless enabled.
    pub fn client_config(&self) -> Result<Option<Arc<ClientConfig>>, TlsError> {
        if !self.enabled {
            return Ok(None);
        }
        if !self.verifies_servers() {
            tracing::warn!(
                "LIBPROCESS_SSL_ENABLED without LIBPROCESS_SSL_CA_FILE: servers' certificates are not verified \
                 (upstream's default); set LIBPROCESS_SSL_CA_FILE to verify them"
            );
        }
        let roots = if self.verifies_servers() { self.roots()? } else { None };
        client_config(roots, self.identity()?).map(Some)
    }

    /// `builder` with this TLS configuration (unchanged unless enabled).
    pub fn reqwest(&self, builder: reqwest::ClientBuilder) -> Result<reqwest::ClientBuilder, TlsError> {
        Ok(match self.client_config()? {
            Some(config) => builder.tls_backend_preconfigured(ClientConfig::clone(&config)),
            None => builder,
        })
    }
}

/// Upstream variables this implementation does not support.
fn vars_not_supported() -> impl Iterator<Item = (&'static str, ())> {
    ["LIBPROCESS_SSL_CA_DIR", "LIBPROCESS_SSL_SUPPORT_DOWNGRADE", "LIBPROCESS_SSL_CIPHERS"].into_iter().map(|n| (n, ()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| v.to_string())
    }

    #[test]
    fn libprocess_variables_parse_as_upstream() {
        let ssl = LibprocessSsl::from_vars(vars(&[
            ("LIBPROCESS_SSL_ENABLED", "true"),
            ("LIBPROCESS_SSL_CA_FILE", "/ca.pem"),
            ("LIBPROCESS_SSL_REQUIRE_CERT", "1"),
        ]))
        .expect("valid");
        assert!(ssl.enabled && ssl.require_cert && !ssl.verify_cert);
        assert_eq!(ssl.scheme(), "https");
        assert!(LibprocessSsl::from_vars(vars(&[("LIBPROCESS_SSL_ENABLED", "yes")])).is_err());
        let off = LibprocessSsl::from_vars(vars(&[])).expect("valid");
        assert_eq!(off.scheme(), "http");
        assert!(off.server_config().expect("off").is_none());
        let no_ca = vars(&[("LIBPROCESS_SSL_ENABLED", "1"), ("LIBPROCESS_SSL_VERIFY_CERT", "1")]);
        assert!(LibprocessSsl::from_vars(no_ca).is_err());
    }
}
