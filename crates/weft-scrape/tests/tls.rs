//! TLS scrapes against in-test HTTPS servers with a throwaway CA.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use common::RecordingSink;
use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;
use weft_scrape::{ManagerOptions, ScrapeConfigFile, ScrapeManager};

struct Ca {
    cert: Certificate,
    key: KeyPair,
}

struct Leaf {
    cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
    cert_pem: String,
    key_pem: String,
}

fn ca() -> Ca {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, "weft test ca");
    let cert = params.self_signed(&key).unwrap();
    Ca { cert, key }
}

fn leaf(ca: &Ca, names: &[&str], usage: ExtendedKeyUsagePurpose) -> Leaf {
    let key = KeyPair::generate().unwrap();
    let mut params =
        CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    params.extended_key_usages = vec![usage];
    let cert = params.signed_by(&key, &ca.cert, &ca.key).unwrap();
    Leaf {
        cert: cert.der().clone(),
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    }
}

/// A minimal HTTPS server answering every request with one text sample.
async fn https_server(server: Leaf, client_ca: Option<&Ca>) -> SocketAddr {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = match client_ca {
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            roots.add(ca.cert.der().clone()).unwrap();
            let v = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .unwrap();
            builder.with_client_cert_verifier(v)
        }
        None => builder.with_no_client_auth(),
    };
    let cfg = builder
        .with_single_cert(vec![server.cert], server.key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut buf = vec![0u8; 8192];
                let mut n = 0;
                while !buf[..n].windows(4).any(|w| w == b"\r\n\r\n") && n < buf.len() {
                    match tls.read(&mut buf[n..]).await {
                        Ok(0) | Err(_) => return,
                        Ok(k) => n += k,
                    }
                }
                let body = "tls_ok 1\n";
                let resp = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(resp.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    addr
}

fn write(dir: &Path, name: &str, content: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, content).unwrap();
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_settings_are_honoured() {
    let ca = ca();
    let dir = tempfile::tempdir().unwrap();
    let ca_file = write(dir.path(), "ca.pem", &ca.cert.pem());
    let client = leaf(&ca, &["client"], ExtendedKeyUsagePurpose::ClientAuth);
    let cert_file = write(dir.path(), "client.pem", &client.cert_pem);
    let key_file = write(dir.path(), "client.key", &client.key_pem);

    let by_ip = https_server(
        leaf(&ca, &["127.0.0.1"], ExtendedKeyUsagePurpose::ServerAuth),
        None,
    )
    .await;
    let by_name = https_server(
        leaf(&ca, &["weft.test"], ExtendedKeyUsagePurpose::ServerAuth),
        None,
    )
    .await;
    let mtls = https_server(
        leaf(&ca, &["127.0.0.1"], ExtendedKeyUsagePurpose::ServerAuth),
        Some(&ca),
    )
    .await;

    let ca = ca_file.display();
    let job = |name: &str, addr: SocketAddr, tls: &str| {
        format!("  - {{job_name: {name}, scheme: https, scrape_interval: 200ms, static_configs: [{{targets: ['{addr}']}}]{tls}}}\n")
    };
    let yaml = [
        "scrape_configs:\n".to_string(),
        job("ca", by_ip, &format!(", tls_config: {{ca_file: '{ca}'}}")),
        job("public_roots_only", by_ip, ""),
        job(
            "insecure",
            by_name,
            ", tls_config: {insecure_skip_verify: true}",
        ),
        job(
            "server_name",
            by_name,
            &format!(", tls_config: {{ca_file: '{ca}', server_name: weft.test}}"),
        ),
        job(
            "wrong_name",
            by_name,
            &format!(", tls_config: {{ca_file: '{ca}'}}"),
        ),
        job(
            "client_cert",
            mtls,
            &format!(
                ", tls_config: {{ca_file: '{ca}', cert_file: '{}', key_file: '{}'}}",
                cert_file.display(),
                key_file.display()
            ),
        ),
        job(
            "no_client_cert",
            mtls,
            &format!(", tls_config: {{ca_file: '{ca}'}}"),
        ),
    ]
    .concat();
    let cfg = ScrapeConfigFile::from_yaml(&yaml).unwrap();
    let sink = Arc::new(RecordingSink::default());
    let (tx, rx) = watch::channel(false);
    let mgr = ScrapeManager::start(&cfg, sink.clone(), rx, ManagerOptions::default()).unwrap();

    let expect = [
        ("ca", 1.0),
        ("public_roots_only", 0.0),
        ("insecure", 1.0),
        ("server_name", 1.0),
        ("wrong_name", 0.0),
        ("client_cert", 1.0),
        ("no_client_cert", 0.0),
    ];
    for (job, want) in expect {
        let i = sink
            .wait_batch(0, job, |b| {
                b.get(&[("__name__", "up"), ("job", job)]).is_some()
            })
            .await;
        let b = sink.batch(i);
        let up = b.get(&[("__name__", "up"), ("job", job)]).unwrap().1;
        let err = mgr
            .targets()
            .active_targets
            .into_iter()
            .find(|t| t.scrape_pool == job)
            .map(|t| t.last_error)
            .unwrap_or_default();
        assert_eq!(up, want, "job {job}: {err}");
        if want == 1.0 {
            assert!(b.get(&[("__name__", "tls_ok"), ("job", job)]).is_some());
        }
    }
    tx.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(5), mgr.stopped())
        .await
        .unwrap();
}

#[test]
fn unreadable_tls_files_fail_the_config_load() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let cfg = ScrapeConfigFile::from_yaml(
            "scrape_configs:\n  - {job_name: j, tls_config: {ca_file: /nonexistent/ca.pem}}\n",
        )
        .unwrap();
        let (_tx, rx) = watch::channel(false);
        let err = ScrapeManager::start(
            &cfg,
            Arc::new(RecordingSink::default()),
            rx,
            ManagerOptions::default(),
        )
        .err()
        .expect("missing CA file is an error");
        let msg = err.to_string();
        assert!(
            msg.contains("job \"j\"") && msg.contains("ca_file"),
            "{msg}"
        );
    });
}
