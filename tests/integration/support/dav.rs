//! A real in-process WebDAV server: dav-server 0.11 (`DavHandler`) over a temp dir
//! (`LocalFs`, wrapped) with the in-memory lock system (`MemLs`), served by hyper-util auto
//! (HTTP/1.1 + h2c) on 127.0.0.1:0. Stops on drop; the temp dir goes with it.
//!
//! [`RefusingFs`] delegates to `LocalFs` but refuses chosen operations on chosen paths, so
//! requests that touch several resources give real `207 Multi-Status` answers with per-member
//! failures. It also keeps dead properties in memory (`LocalFs` has none), so PROPPATCH and
//! PROPFIND of dead properties behave like a full server.
//!
//! What dav-server 0.11 answers (each shown by a test in `fixtures_selftest.rs`):
//!
//! - DELETE /dir/ whose member /dir/locked.txt refuses removal: `207`, ONE entry:
//!   `<D:href>/dir/locked.txt</D:href><D:status>HTTP/1.1 403 Forbidden</D:status>`; the other
//!   members are deleted, the collection itself stays and gets no entry (no 424).
//! - COPY /src/ -> /dst/ whose member refuses copy: `207`, one entry for the member's SOURCE
//!   href with `403`; the rest is copied; no entry for the collection.
//! - MOVE of a collection is one `rename()`: a refusal gives a plain `403`, never a 207. A
//!   MOVE (or COPY) with `Overwrite: T` onto an existing collection with a member that refuses
//!   removal gives `207` with that destination member's `403` (the move does not happen).
//! - A DELETE/MOVE under a lock without the token: plain `423 Locked`, not a 207.
//! - PROPPATCH setting a protected live property (`DAV:getetag`) plus a dead property: `207`,
//!   one `D:response` with two propstats: `403 Forbidden` (getetag) and
//!   `424 Failed Dependency` (the dead property, not applied).
//! - PROPPATCH of a dead property refused by `refuse_patch_prop`: `403` for it, `424` for the
//!   other properties of the same request (nothing applied).
//! - PROPFIND asking for unknown properties: NO 404 propstat. dav-server 0.11
//!   (`PropWriter::write_props`) silently drops every requested property whose status is not
//!   200, and appends every dead property of the resource even when not asked for (so a
//!   requested dead property appears twice). Propstat 404s must come from canned bodies.
//! - PROPFIND `Depth: infinity`: `501` with `Content-Type: application/xml` and
//!   `<D:error xmlns:D="DAV:"><D:propfind-finite-depth/></D:error>` (an XML error body, not
//!   a multistatus). PROPFIND without `Depth` on a collection lists only the members.
//!
//! Hrefs in dav-server's answers are absolute paths (`/dir/locked.txt`), percent-encoded.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use dav_server::DavHandler;
use dav_server::davpath::DavPath;
use dav_server::fs::{
    DavDirEntry, DavFile, DavFileSystem, DavMetaData, DavProp, FsError, FsFuture, FsStream,
    OpenOptions, ReadDirMeta,
};
use dav_server::localfs::LocalFs;
use dav_server::memls::MemLs;
use futures_util::FutureExt;
use http::StatusCode;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};

use super::{AbortOnDrop, bind_local, spawn_accept_loop};

/// A filesystem operation that can be refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    /// `remove_file` / `remove_dir` (DELETE, and overwriting a destination).
    Remove,
    /// `copy` of a file, when the path is the source or the destination.
    Copy,
    /// `rename`, when the path is the source or the destination (MOVE).
    Rename,
    /// `create_dir` (MKCOL, and COPY creating destination collections).
    Mkcol,
    /// `open` for writing (PUT).
    Write,
}

#[derive(Debug, Default)]
struct Rules {
    refusals: Vec<(Op, String, FsError)>,
    /// (path, property local name)
    patch_refusals: Vec<(String, String)>,
}

impl Rules {
    fn check(&self, op: Op, paths: &[&DavPath]) -> Result<(), FsError> {
        for (rop, rpath, err) in &self.refusals {
            if *rop == op && paths.iter().any(|p| key(p) == *rpath) {
                return Err(*err);
            }
        }
        Ok(())
    }
}

/// `/a/b` form: leading slash, no trailing slash (root stays `/`).
fn norm(p: &str) -> String {
    let t = p.trim_end_matches('/');
    if t.starts_with('/') {
        t.to_owned()
    } else {
        format!("/{t}")
    }
}

fn key(p: &DavPath) -> String {
    norm(&String::from_utf8_lossy(p.as_bytes()))
}

/// `LocalFs` plus refusals plus in-memory dead properties.
#[derive(Clone)]
pub(crate) struct RefusingFs {
    inner: LocalFs,
    rules: Arc<Rules>,
    /// dead properties by normalized path
    props: Arc<Mutex<HashMap<String, Vec<DavProp>>>>,
}

fn same_prop(a: &DavProp, b: &DavProp) -> bool {
    a.name == b.name && a.namespace == b.namespace
}

fn refuse<'a, T: Send + 'a>(e: FsError) -> FsFuture<'a, T> {
    Box::pin(std::future::ready(Err(e)))
}

impl DavFileSystem for RefusingFs {
    fn open<'a>(
        &'a self,
        path: &'a DavPath,
        options: OpenOptions,
    ) -> FsFuture<'a, Box<dyn DavFile>> {
        if (options.write || options.append || options.create || options.create_new)
            && let Err(e) = self.rules.check(Op::Write, &[path])
        {
            return refuse(e);
        }
        DavFileSystem::open(&self.inner, path, options)
    }

    fn read_dir<'a>(
        &'a self,
        path: &'a DavPath,
        meta: ReadDirMeta,
    ) -> FsFuture<'a, FsStream<Box<dyn DavDirEntry>>> {
        DavFileSystem::read_dir(&self.inner, path, meta)
    }

    fn metadata<'a>(&'a self, path: &'a DavPath) -> FsFuture<'a, Box<dyn DavMetaData>> {
        DavFileSystem::metadata(&self.inner, path)
    }

    fn symlink_metadata<'a>(&'a self, path: &'a DavPath) -> FsFuture<'a, Box<dyn DavMetaData>> {
        DavFileSystem::symlink_metadata(&self.inner, path)
    }

    fn create_dir<'a>(&'a self, path: &'a DavPath) -> FsFuture<'a, ()> {
        if let Err(e) = self.rules.check(Op::Mkcol, &[path]) {
            return refuse(e);
        }
        DavFileSystem::create_dir(&self.inner, path)
    }

    fn remove_dir<'a>(&'a self, path: &'a DavPath) -> FsFuture<'a, ()> {
        if let Err(e) = self.rules.check(Op::Remove, &[path]) {
            return refuse(e);
        }
        let props = self.props.clone();
        let k = key(path);
        DavFileSystem::remove_dir(&self.inner, path)
            .map(move |r| {
                if r.is_ok() {
                    props.lock().expect("props").remove(&k);
                }
                r
            })
            .boxed()
    }

    fn remove_file<'a>(&'a self, path: &'a DavPath) -> FsFuture<'a, ()> {
        if let Err(e) = self.rules.check(Op::Remove, &[path]) {
            return refuse(e);
        }
        let props = self.props.clone();
        let k = key(path);
        DavFileSystem::remove_file(&self.inner, path)
            .map(move |r| {
                if r.is_ok() {
                    props.lock().expect("props").remove(&k);
                }
                r
            })
            .boxed()
    }

    fn rename<'a>(&'a self, from: &'a DavPath, to: &'a DavPath) -> FsFuture<'a, ()> {
        if let Err(e) = self.rules.check(Op::Rename, &[from, to]) {
            return refuse(e);
        }
        let props = self.props.clone();
        let (src, dst) = (key(from), key(to));
        DavFileSystem::rename(&self.inner, from, to)
            .map(move |r| {
                if r.is_ok() {
                    let mut map = props.lock().expect("props");
                    let moved: Vec<String> = map
                        .keys()
                        .filter(|k| **k == src || k.starts_with(&format!("{src}/")))
                        .cloned()
                        .collect();
                    for k in moved {
                        if let Some(v) = map.remove(&k) {
                            map.insert(format!("{dst}{}", &k[src.len()..]), v);
                        }
                    }
                }
                r
            })
            .boxed()
    }

    fn copy<'a>(&'a self, from: &'a DavPath, to: &'a DavPath) -> FsFuture<'a, ()> {
        if let Err(e) = self.rules.check(Op::Copy, &[from, to]) {
            return refuse(e);
        }
        let props = self.props.clone();
        let (src, dst) = (key(from), key(to));
        DavFileSystem::copy(&self.inner, from, to)
            .map(move |r| {
                if r.is_ok() {
                    let mut map = props.lock().expect("props");
                    if let Some(v) = map.get(&src).cloned() {
                        map.insert(dst, v);
                    }
                }
                r
            })
            .boxed()
    }

    fn set_accessed<'a>(&'a self, path: &'a DavPath, tm: SystemTime) -> FsFuture<'a, ()> {
        DavFileSystem::set_accessed(&self.inner, path, tm)
    }

    fn set_modified<'a>(&'a self, path: &'a DavPath, tm: SystemTime) -> FsFuture<'a, ()> {
        DavFileSystem::set_modified(&self.inner, path, tm)
    }

    fn have_props<'a>(
        &'a self,
        _path: &'a DavPath,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send + 'a>> {
        Box::pin(std::future::ready(true))
    }

    fn patch_props<'a>(
        &'a self,
        path: &'a DavPath,
        patch: Vec<(bool, DavProp)>,
    ) -> FsFuture<'a, Vec<(StatusCode, DavProp)>> {
        let k = key(path);
        let refused = |p: &DavProp| {
            self.rules
                .patch_refusals
                .iter()
                .any(|(rp, name)| *rp == k && *name == p.name)
        };
        let bare = |p: &DavProp| DavProp {
            xml: None,
            ..p.clone()
        };
        let out = if patch.iter().any(|(_, p)| refused(p)) {
            // all or nothing, as RFC 4918 §9.2 requires
            patch
                .iter()
                .map(|(_, p)| {
                    let status = if refused(p) {
                        StatusCode::FORBIDDEN
                    } else {
                        StatusCode::FAILED_DEPENDENCY
                    };
                    (status, bare(p))
                })
                .collect()
        } else {
            let mut map = self.props.lock().expect("props");
            let list = map.entry(k).or_default();
            patch
                .iter()
                .map(|(set, p)| {
                    list.retain(|q| !same_prop(q, p));
                    if *set {
                        list.push(p.clone());
                    }
                    (StatusCode::OK, bare(p))
                })
                .collect()
        };
        Box::pin(std::future::ready(Ok(out)))
    }

    fn get_props<'a>(&'a self, path: &'a DavPath, do_content: bool) -> FsFuture<'a, Vec<DavProp>> {
        let map = self.props.lock().expect("props");
        let list = map.get(&key(path)).cloned().unwrap_or_default();
        let list = list
            .into_iter()
            .map(|p| {
                if do_content {
                    p
                } else {
                    DavProp { xml: None, ..p }
                }
            })
            .collect();
        Box::pin(std::future::ready(Ok(list)))
    }

    fn get_prop<'a>(&'a self, path: &'a DavPath, prop: DavProp) -> FsFuture<'a, Vec<u8>> {
        let map = self.props.lock().expect("props");
        let found = map
            .get(&key(path))
            .and_then(|l| l.iter().find(|q| same_prop(q, &prop)))
            .and_then(|q| q.xml.clone())
            .ok_or(FsError::NotFound);
        Box::pin(std::future::ready(found))
    }

    fn get_quota(&'_ self) -> FsFuture<'_, (u64, Option<u64>)> {
        DavFileSystem::get_quota(&self.inner)
    }
}

/// Configures a [`DavServer`] before it starts.
#[derive(Debug, Default)]
pub(crate) struct DavServerBuilder {
    rules: Rules,
    prefix: Option<String>,
}

impl DavServerBuilder {
    /// Refuses `op` on `path` (URL path as the client writes it, decoded, e.g.
    /// `/dir/locked.txt`; trailing slash ignored) with `err` (its status: Forbidden 403,
    /// InsufficientStorage 507, GeneralFailure 500, NotFound 404, ...).
    pub(crate) fn refuse_with(mut self, op: Op, path: &str, err: FsError) -> Self {
        self.rules.refusals.push((op, norm(path), err));
        self
    }

    /// DELETE of `path` (directly or as a member) fails with 403.
    pub(crate) fn refuse_remove(self, path: &str) -> Self {
        self.refuse_with(Op::Remove, path, FsError::Forbidden)
    }

    /// COPY of the file `path` (as source or destination) fails with 403.
    pub(crate) fn refuse_copy(self, path: &str) -> Self {
        self.refuse_with(Op::Copy, path, FsError::Forbidden)
    }

    /// MOVE from or to `path` fails with 403.
    pub(crate) fn refuse_rename(self, path: &str) -> Self {
        self.refuse_with(Op::Rename, path, FsError::Forbidden)
    }

    /// MKCOL of `path` fails with 403.
    pub(crate) fn refuse_mkcol(self, path: &str) -> Self {
        self.refuse_with(Op::Mkcol, path, FsError::Forbidden)
    }

    /// PUT to `path` fails with 403.
    pub(crate) fn refuse_write(self, path: &str) -> Self {
        self.refuse_with(Op::Write, path, FsError::Forbidden)
    }

    /// PROPPATCH of the dead property with local name `prop` (any namespace) on `path` gets
    /// 403; the other properties of that PROPPATCH get 424 and nothing is applied.
    pub(crate) fn refuse_patch_prop(mut self, path: &str, prop: &str) -> Self {
        self.rules
            .patch_refusals
            .push((norm(path), prop.to_owned()));
        self
    }

    /// Serve under a URL prefix (e.g. `/dav`): requests outside it get 404.
    pub(crate) fn strip_prefix(mut self, prefix: &str) -> Self {
        self.prefix = Some(prefix.to_owned());
        self
    }

    pub(crate) async fn start(self) -> DavServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let fs = RefusingFs {
            inner: *LocalFs::new(dir.path(), false, false, false),
            rules: Arc::new(self.rules),
            props: Arc::default(),
        };
        let mut config = DavHandler::builder()
            .filesystem(Box::new(fs))
            .locksystem(MemLs::new());
        if let Some(p) = self.prefix {
            config = config.strip_prefix(p);
        }
        let handler = config.build_handler();
        let listener = bind_local().await;
        let addr = listener.local_addr().expect("local addr");
        let task = spawn_accept_loop(listener, Arc::new(AtomicUsize::new(0)), move |stream| {
            let handler = handler.clone();
            async move {
                let svc = service_fn(move |req| {
                    let handler = handler.clone();
                    async move { Ok::<_, std::convert::Infallible>(handler.handle(req).await) }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            }
        });
        DavServer {
            addr,
            dir,
            _task: task,
        }
    }
}

/// A running WebDAV server over a temp dir. Stops on drop.
pub(crate) struct DavServer {
    addr: SocketAddr,
    dir: tempfile::TempDir,
    _task: AbortOnDrop,
}

impl fmt::Debug for DavServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DavServer")
            .field("addr", &self.addr)
            .field("root", &self.dir.path())
            .finish()
    }
}

impl DavServer {
    /// A server with no refusals.
    pub(crate) async fn start() -> DavServer {
        DavServer::builder().start().await
    }

    pub(crate) fn builder() -> DavServerBuilder {
        DavServerBuilder::default()
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`
    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The served directory.
    pub(crate) fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Local path of URL path `rel` (`/dir/a.txt`).
    pub(crate) fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel.trim_start_matches('/'))
    }

    /// Creates a file (and its parent directories) directly on disk.
    pub(crate) fn write(&self, rel: &str, content: impl AsRef<[u8]>) {
        let p = self.path(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("create parent dirs");
        }
        std::fs::write(&p, content).expect("write file");
    }

    /// Creates a directory (and parents) directly on disk.
    pub(crate) fn mkdir(&self, rel: &str) {
        std::fs::create_dir_all(self.path(rel)).expect("create dir");
    }

    pub(crate) fn exists(&self, rel: &str) -> bool {
        self.path(rel).exists()
    }
}
