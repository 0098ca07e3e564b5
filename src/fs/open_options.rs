//! `OpenOptions`: std's builder, whose `open` runs off the worker (FS1) and returns a weft
//! [`File`]; `std::os::unix::fs::OpenOptionsExt` works on it as on std's.

use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use super::File;
use super::offload::offload;

/// Options for opening a file, as [`std::fs::OpenOptions`] (with
/// [`OpenOptionsExt`]'s `mode` and `custom_flags`).
///
/// **Blocking:** `open` may wait (path lookup on a slow disk or a network file system, a FIFO
/// waiting for its other end, a device); in a coroutine it parks the coroutine while a
/// blocking-pool thread opens the file. The setters never block. `Send` and `Sync`.
#[derive(Clone, Debug)]
pub struct OpenOptions(std::fs::OpenOptions);

impl OpenOptions {
    /// Everything off, as [`std::fs::OpenOptions::new`].
    #[must_use]
    pub fn new() -> Self {
        OpenOptions(std::fs::OpenOptions::new())
    }

    /// Read access, as [`std::fs::OpenOptions::read`].
    pub fn read(&mut self, read: bool) -> &mut Self {
        self.0.read(read);
        self
    }

    /// Write access, as [`std::fs::OpenOptions::write`].
    pub fn write(&mut self, write: bool) -> &mut Self {
        self.0.write(write);
        self
    }

    /// Append mode, as [`std::fs::OpenOptions::append`].
    pub fn append(&mut self, append: bool) -> &mut Self {
        self.0.append(append);
        self
    }

    /// Truncate on open, as [`std::fs::OpenOptions::truncate`].
    pub fn truncate(&mut self, truncate: bool) -> &mut Self {
        self.0.truncate(truncate);
        self
    }

    /// Create if missing, as [`std::fs::OpenOptions::create`].
    pub fn create(&mut self, create: bool) -> &mut Self {
        self.0.create(create);
        self
    }

    /// Create, failing if it exists, as [`std::fs::OpenOptions::create_new`].
    pub fn create_new(&mut self, create_new: bool) -> &mut Self {
        self.0.create_new(create_new);
        self
    }

    /// Opens `path` with these options, as [`std::fs::OpenOptions::open`].
    pub fn open<P: AsRef<Path>>(&self, path: P) -> io::Result<File> {
        let path = path.as_ref();
        offload(|| self.0.open(path)).map(File::from)
    }
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions::new()
    }
}

impl OpenOptionsExt for OpenOptions {
    fn mode(&mut self, mode: u32) -> &mut Self {
        self.0.mode(mode);
        self
    }

    fn custom_flags(&mut self, flags: i32) -> &mut Self {
        self.0.custom_flags(flags);
        self
    }
}
