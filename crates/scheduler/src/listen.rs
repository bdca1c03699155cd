//! What the REST API listens on (Marathon's flags): the HTTP port, the HTTPS port with its
//! PKCS#12 keystore, `--disable_http`, `--http_max_concurrent_requests` and the connection
//! limits every server of the cluster has (`httpd`).

use axum::http::StatusCode;
use axum::response::Response;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, Clone, clap::Args)]
pub struct ListenFlags {
    /// Port of the REST API over HTTPS (with `--ssl_keystore_path`); none by default.
    #[arg(long = "https_port", alias = "https-port", env = "MARATHON_HTTPS_PORT")]
    pub https_port: Option<u16>,
    /// Address the HTTPS port listens on.
    #[arg(long = "https_address", alias = "https-address", default_value = "0.0.0.0", env = "MARATHON_HTTPS_ADDRESS")]
    pub https_address: IpAddr,
    /// The PKCS#12 keystore (what Java's `keytool` writes) holding the HTTPS port's private key
    /// and certificate chain.
    #[arg(long = "ssl_keystore_path", alias = "ssl-keystore-path", env = "MARATHON_SSL_KEYSTORE_PATH")]
    pub ssl_keystore_path: Option<PathBuf>,
    /// The keystore's password.
    #[arg(long = "ssl_keystore_password", alias = "ssl-keystore-password", env = "MARATHON_SSL_KEYSTORE_PASSWORD")]
    pub ssl_keystore_password: Option<String>,
    /// Serve the REST API over HTTPS only (needs `--https_port`).
    #[arg(long = "disable_http", alias = "disable-http", env = "MARATHON_DISABLE_HTTP", num_args = 0, default_missing_value = "", default_value = "false", value_parser = httpd::compat::parse_toggle)]
    pub disable_http: bool,
    /// Requests handled at once at most; more are answered 503. A request counts until its
    /// handler answered, so an event stream (`/v2/events`) counts only while it opens, as
    /// upstream's servlet filter does.
    #[arg(
        long = "http_max_concurrent_requests",
        alias = "http-max-concurrent-requests",
        value_parser = clap::value_parser!(u32).range(1..),
        env = "MARATHON_HTTP_MAX_CONCURRENT_REQUESTS"
    )]
    pub http_max_concurrent_requests: Option<u32>,
    #[command(flatten)]
    pub limits: httpd::HttpLimitFlags,
    /// CORS: the origins (comma-separated, `*` for any) whose pages may call the REST API.
    #[arg(
        long = "access_control_allow_origin",
        alias = "access-control-allow-origin",
        env = "MARATHON_ACCESS_CONTROL_ALLOW_ORIGIN"
    )]
    pub access_control_allow_origin: Option<String>,
    /// Upstream's default: answers are gzipped for clients that accept it.
    #[arg(long = "http_compression", env = "MARATHON_HTTP_COMPRESSION", overrides_with = "disable_http_compression", num_args = 0, default_missing_value = "", default_value = "false", value_parser = httpd::compat::parse_toggle)]
    pub http_compression: bool,
    /// Never compress answers (`--disable_http_compression`; the last of the two counts).
    #[arg(long = "disable_http_compression", env = "MARATHON_DISABLE_HTTP_COMPRESSION", overrides_with = "http_compression", num_args = 0, default_missing_value = "", default_value = "false", value_parser = httpd::compat::parse_toggle)]
    pub disable_http_compression: bool,
}

impl Default for ListenFlags {
    fn default() -> Self {
        ListenFlags {
            https_port: None,
            https_address: IpAddr::from([0, 0, 0, 0]),
            ssl_keystore_path: None,
            ssl_keystore_password: None,
            disable_http: false,
            http_max_concurrent_requests: None,
            limits: httpd::HttpLimitFlags::default(),
            access_control_allow_origin: None,
            http_compression: false,
            disable_http_compression: false,
        }
    }
}

impl ListenFlags {
    /// Whether answers may be gzipped (upstream's `--[disable_]http_compression`, on by default).
    pub fn compression(&self) -> bool {
        !self.disable_http_compression
    }

    /// The HTTPS port's TLS configuration (`None` without `--https_port`), or why the flags
    /// do not make one.
    pub fn tls(&self) -> Result<Option<Arc<rustls::ServerConfig>>, String> {
        let Some(_) = self.https_port else {
            if self.disable_http {
                return Err("--disable_http needs --https_port".to_string());
            }
            if self.ssl_keystore_path.is_some() {
                tracing::warn!("--ssl_keystore_path without --https_port: the REST API is served over HTTP only");
            }
            return Ok(None);
        };
        let Some(path) = &self.ssl_keystore_path else {
            return Err("--https_port needs --ssl_keystore_path (a PKCS#12 keystore)".to_string());
        };
        let password = self.ssl_keystore_password.as_deref().unwrap_or_default();
        let identity = httpd::tls::Identity::from_pkcs12_file(path, password).map_err(|e| e.to_string())?;
        httpd::tls::server_config(identity, httpd::tls::ClientCerts::Ignored).map(Some).map_err(|e| e.to_string())
    }
}

impl ListenFlags {
    /// The scheme the nodes of this cluster serve their API with and advertise their address
    /// for (upstream: `https` with `--disable_http`, whose advertised port is the HTTPS one).
    pub fn advertised_scheme(&self) -> &'static str {
        if self.disable_http { "https" } else { "http" }
    }

    /// How a standby's proxy verifies the leader it reaches over HTTPS (`None` over HTTP): the
    /// certificates of this node's keystore (upstream's proxy trusts its keystore), and
    /// `ca_file` (`LIBPROCESS_SSL_CA_FILE`) if given, as trust anchors; the leader's certificate
    /// must name the host it advertises.
    pub fn leader_client_tls(
        &self,
        ca_file: Option<&std::path::Path>,
    ) -> Result<Option<Arc<rustls::ClientConfig>>, String> {
        if !self.disable_http {
            return Ok(None);
        }
        let mut roots = rustls::RootCertStore::empty();
        if let Some(path) = &self.ssl_keystore_path {
            let password = self.ssl_keystore_password.as_deref().unwrap_or_default();
            let identity = httpd::tls::Identity::from_pkcs12_file(path, password).map_err(|e| e.to_string())?;
            // A leaf a CA signed is no trust anchor; its CA (when the keystore holds it) is.
            let (added, _) = roots.add_parsable_certificates(identity.certs);
            tracing::debug!(added, "trust anchors for the leader from the keystore");
        }
        if let Some(ca_file) = ca_file {
            for cert in httpd::tls::certificates(ca_file).map_err(|e| e.to_string())? {
                roots.add(cert).map_err(|e| format!("{}: {e}", ca_file.display()))?;
            }
        }
        httpd::tls::client_config(Some(roots), None).map(Some).map_err(|e| e.to_string())
    }
}

/// `--http_max_concurrent_requests`: a request past the limit is answered 503 at once.
#[derive(Debug, Clone)]
pub(crate) struct ConcurrencyLimit {
    permits: Arc<tokio::sync::Semaphore>,
    max: u32,
}

impl ConcurrencyLimit {
    pub(crate) fn new(max: u32) -> Self {
        ConcurrencyLimit { permits: Arc::new(tokio::sync::Semaphore::new(max as usize)), max }
    }
}

/// The middleware: holds a permit while the handler runs (not while a streamed body is sent).
pub(crate) async fn limit_concurrency(
    axum::extract::State(limit): axum::extract::State<Option<ConcurrencyLimit>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let Some(limit) = limit else {
        return next.run(request).await;
    };
    let Ok(_permit) = limit.permits.try_acquire() else {
        let message = format!("Too many concurrent requests! Allowed: {}.", limit.max);
        return crate::api::error(StatusCode::SERVICE_UNAVAILABLE, &message);
    };
    next.run(request).await
}
