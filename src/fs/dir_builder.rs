//! `DirBuilder`: std's, with `create` off the worker (FS1); `DirBuilderExt::mode` works on it.

use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;

use super::offload::offload;

/// A builder for directories, as [`std::fs::DirBuilder`] (with [`DirBuilderExt`]'s `mode`).
///
/// **Blocking:** in a coroutine, `create` parks the coroutine while a blocking-pool thread
/// makes the directories. `Send` and `Sync`.
#[derive(Debug)]
pub struct DirBuilder(std::fs::DirBuilder);

impl DirBuilder {
    /// Mode 0o777, not recursive, as [`std::fs::DirBuilder::new`].
    #[must_use]
    pub fn new() -> DirBuilder {
        DirBuilder(std::fs::DirBuilder::new())
    }

    /// Create missing parents too, as [`std::fs::DirBuilder::recursive`].
    pub fn recursive(&mut self, recursive: bool) -> &mut Self {
        self.0.recursive(recursive);
        self
    }

    /// Creates the directory `path`, as [`std::fs::DirBuilder::create`].
    pub fn create<P: AsRef<Path>>(&self, path: P) -> io::Result<()> {
        let path = path.as_ref();
        offload(|| self.0.create(path))
    }
}

impl Default for DirBuilder {
    fn default() -> Self {
        DirBuilder::new()
    }
}

impl DirBuilderExt for DirBuilder {
    fn mode(&mut self, mode: u32) -> &mut Self {
        self.0.mode(mode);
        self
    }
}
