//! The demo's filesystem: dav-server's `LocalFs` with one file that cannot be removed, so a
//! `DELETE` of its folder is the README's headline case, answered by the embedded server
//! itself: the other members go, the pinned one stays, and the answer is a `207 Multi-Status`
//! naming it with `403 Forbidden` (dav-server reports each member it could not remove and
//! leaves the folder).
//!
//! Every other operation is `LocalFs`'s, unchanged; the pinned file can be read, written,
//! copied and moved like any other (a `MOVE` of its folder moves it too).

use std::path::Path;
use std::time::SystemTime;

use dav_server::davpath::DavPath;
use dav_server::fs::{
    DavDirEntry, DavFile, DavFileSystem, DavMetaData, DavProp, FsError, FsFuture, FsStream,
    OpenOptions, ReadDirMeta,
};
use dav_server::localfs::LocalFs;
use futures_util::FutureExt as _;
use http::StatusCode;

/// The file a `DELETE` cannot remove, relative to the demo folder.
pub(crate) const PINNED: &str = "docs/archive/legal-hold.txt";

/// `LocalFs` where [`PINNED`] cannot be removed (`403 Forbidden`).
#[derive(Clone)]
pub(crate) struct PinnedFs {
    inner: Box<LocalFs>,
}

impl std::fmt::Debug for PinnedFs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PinnedFs").field("pinned", &PINNED).finish()
    }
}

impl PinnedFs {
    /// Over the folder `root` (created by the caller).
    pub(crate) fn new(root: &Path) -> Box<PinnedFs> {
        Box::new(PinnedFs {
            inner: LocalFs::new(root, false, false, false),
        })
    }
}

fn pinned(path: &DavPath) -> bool {
    path.as_rel_ospath() == Path::new(PINNED)
}

impl DavFileSystem for PinnedFs {
    fn open<'a>(
        &'a self,
        path: &'a DavPath,
        options: OpenOptions,
    ) -> FsFuture<'a, Box<dyn DavFile>> {
        self.inner.open(path, options)
    }

    fn read_dir<'a>(
        &'a self,
        path: &'a DavPath,
        meta: ReadDirMeta,
    ) -> FsFuture<'a, FsStream<Box<dyn DavDirEntry>>> {
        self.inner.read_dir(path, meta)
    }

    fn metadata<'a>(&'a self, path: &'a DavPath) -> FsFuture<'a, Box<dyn DavMetaData>> {
        self.inner.metadata(path)
    }

    fn symlink_metadata<'a>(&'a self, path: &'a DavPath) -> FsFuture<'a, Box<dyn DavMetaData>> {
        self.inner.symlink_metadata(path)
    }

    fn create_dir<'a>(&'a self, path: &'a DavPath) -> FsFuture<'a, ()> {
        self.inner.create_dir(path)
    }

    fn remove_dir<'a>(&'a self, path: &'a DavPath) -> FsFuture<'a, ()> {
        self.inner.remove_dir(path)
    }

    fn remove_file<'a>(&'a self, path: &'a DavPath) -> FsFuture<'a, ()> {
        if pinned(path) {
            return async { Err(FsError::Forbidden) }.boxed();
        }
        self.inner.remove_file(path)
    }

    fn rename<'a>(&'a self, from: &'a DavPath, to: &'a DavPath) -> FsFuture<'a, ()> {
        self.inner.rename(from, to)
    }

    fn copy<'a>(&'a self, from: &'a DavPath, to: &'a DavPath) -> FsFuture<'a, ()> {
        self.inner.copy(from, to)
    }

    fn set_accessed<'a>(&'a self, path: &'a DavPath, tm: SystemTime) -> FsFuture<'a, ()> {
        self.inner.set_accessed(path, tm)
    }

    fn set_modified<'a>(&'a self, path: &'a DavPath, tm: SystemTime) -> FsFuture<'a, ()> {
        self.inner.set_modified(path, tm)
    }

    fn have_props<'a>(
        &'a self,
        path: &'a DavPath,
    ) -> std::pin::Pin<Box<dyn Future<Output = bool> + Send + 'a>> {
        self.inner.have_props(path)
    }

    fn patch_props<'a>(
        &'a self,
        path: &'a DavPath,
        patch: Vec<(bool, DavProp)>,
    ) -> FsFuture<'a, Vec<(StatusCode, DavProp)>> {
        self.inner.patch_props(path, patch)
    }

    fn get_props<'a>(&'a self, path: &'a DavPath, do_content: bool) -> FsFuture<'a, Vec<DavProp>> {
        self.inner.get_props(path, do_content)
    }

    fn get_prop<'a>(&'a self, path: &'a DavPath, prop: DavProp) -> FsFuture<'a, Vec<u8>> {
        self.inner.get_prop(path, prop)
    }

    fn get_quota(&'_ self) -> FsFuture<'_, (u64, Option<u64>)> {
        self.inner.get_quota()
    }
}
