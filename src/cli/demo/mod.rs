//! `davaudit demo`: the proxy in front of an embedded WebDAV server (the dav-server crate over
//! a temporary folder), with a few files in it, and the curl commands to try. Ctrl-C stops
//! both and removes the folder.
//!
//! The headline case is real: one file is pinned (`pinned`), so a `DELETE` of its folder
//! leaves it behind and the embedded server answers `207 Multi-Status` with that member's
//! `403` inside: davaudit logs the WARN line and the live view shows the record.

mod pinned;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::Context as _;
use dav_server::DavHandler;
use dav_server::memls::MemLs;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

use crate::config::{Config, Log, LogFormat};
use crate::{app, shutdown, telemetry};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Proxy address (falls back to a free port when taken).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Admin address for /metrics (falls back to a free port when taken).
    #[arg(long, default_value = "127.0.0.1:9207")]
    pub admin: SocketAddr,
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let _log = telemetry::logging::init(&Log {
        format: LogFormat::Text,
        level: "info".to_owned(),
        access: false,
    })?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(demo(args))
}

async fn demo(args: Args) -> anyhow::Result<ExitCode> {
    let folder = tempfile::Builder::new()
        .prefix("davaudit-demo-")
        .tempdir()
        .context("cannot create the demo folder")?;
    seed(folder.path())?;
    let dav = DavHandler::builder()
        .filesystem(pinned::PinnedFs::new(folder.path()))
        .locksystem(MemLs::new())
        .build_handler();
    let dav_listener = TcpListener::bind("127.0.0.1:0")
        .await
        .context("cannot bind the demo WebDAV server")?;
    let dav_addr = dav_listener.local_addr()?;
    tokio::spawn(serve_dav(dav_listener, dav));

    let listen = free_or_any(args.listen).await;
    let admin = free_or_any(args.admin).await;
    let upstream = format!("http://{dav_addr}").parse()?;
    let running = app::run(Config::demo(listen, admin, upstream), shutdown::signal()).await?;
    let proxy = format!("http://{}", running.proxy_addr());
    let metrics = format!("http://{}/metrics", running.admin_addr());
    let live = format!("http://{}", running.admin_addr());
    println!(
        r#"
davaudit demo
  WebDAV server (dav-server over {folder}): http://{dav_addr}/
  davaudit proxy in front of it:            {proxy}/
  metrics:                                  {metrics}
  live view of recent partial failures:     {live}/

Try, in another terminal:

  # the headline case: DELETE a folder whose member {pinned} cannot be removed.
  # The server deletes the rest and answers 207 Multi-Status with that member's 403 inside:
  # a load balancer sees a success; davaudit logs a WARN "multistatus partial failure" (here)
  # and the live view ({live}/) shows the record.
  curl -s -X DELETE {proxy}/docs/archive/

  # a PROPFIND answered with 207: audited, outcome clean
  curl -s -X PROPFIND -H 'Depth: 1' -H 'Content-Type: application/xml' \
    --data '<propfind xmlns="DAV:"><prop><displayname/><getetag/><quota-used-bytes/></prop></propfind>' \
    {proxy}/docs/

  # a PROPPATCH that partly fails: a protected property (403) makes the rest fail too (424)
  curl -s -X PROPPATCH -H 'Content-Type: application/xml' \
    --data '<propertyupdate xmlns="DAV:" xmlns:z="urn:example"><set><prop><z:color>blue</z:color><getcontentlength>1</getcontentlength></prop></set></propertyupdate>' \
    {proxy}/docs/report.txt

  # the partial failure, counted (the log above shows it too)
  curl -s {metrics} | grep -E '^davaudit_multistatus'

Ctrl-C stops the demo and removes the folder.
"#,
        folder = folder.path().display(),
        pinned = pinned::PINNED,
    );
    running.wait().await;
    Ok(ExitCode::SUCCESS)
}

fn seed(root: &std::path::Path) -> anyhow::Result<()> {
    let docs = root.join("docs");
    std::fs::create_dir_all(docs.join("archive"))?;
    std::fs::write(docs.join("report.txt"), "quarterly report\n")?;
    std::fs::write(docs.join("notes.txt"), "meeting notes\n")?;
    std::fs::write(docs.join("archive/2025.txt"), "last year\n")?;
    std::fs::write(root.join(pinned::PINNED), "kept: under legal hold\n")?;
    Ok(())
}

async fn serve_dav(listener: TcpListener, dav: DavHandler) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let dav = dav.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let dav = dav.clone();
                async move { Ok::<_, Infallible>(dav.handle(request).await) }
            });
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// The requested address when it is free, else the same host on a port the OS picks.
async fn free_or_any(addr: SocketAddr) -> SocketAddr {
    match TcpListener::bind(addr).await {
        Ok(_) => addr,
        Err(_) => SocketAddr::new(addr.ip(), 0),
    }
}
