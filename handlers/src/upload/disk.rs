//! The uploads' blocking file-system work (run on the pool): the target directory checked,
//! a hidden temporary file made next to the target, and the finished file moved into place
//! without replacing what is there (unless overwriting is on).

use std::collections::hash_map::RandomState;
use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use reactor::Response;

use crate::path::ResolvedPath;
use crate::static_files::{io_error, locate};
use crate::FsRoot;

/// Longest part of the target's name kept in its temporary name (names may be 255 bytes;
/// the temporary one adds a prefix and a suffix).
const NAME_IN_TEMP: usize = 64;

/// A file being uploaded: where its bytes go now, and where they go once complete.
#[derive(Debug)]
pub struct Temp {
    /// The hidden temporary file, in the target's directory.
    pub temp: PathBuf,
    /// The name it gets when complete.
    pub target: PathBuf,
}

/// The directory `dir` under the root, provided it exists (symlinks out of the root are
/// refused unless followed). `missing` is the status when it does not exist or is a file.
pub fn directory(root: &FsRoot, dir: &ResolvedPath, missing: u16) -> Result<PathBuf, Response> {
    let no_dir = || Response::error_with(missing, "The target directory does not exist.");
    match locate(root, dir) {
        Ok((path, meta)) if meta.is_dir() => Ok(path),
        Ok(_) => Err(no_dir()),
        Err(r) if r.status == 404 => Err(no_dir()),
        Err(r) => Err(r),
    }
}

/// Opens a new temporary file for `name` in `dir` (an existing directory), after checking
/// that `name` can be written there: 409 when it is a directory, or an existing file and
/// `overwrite` is off.
pub fn create(dir: &Path, name: &str, overwrite: bool) -> Result<(File, Temp), Response> {
    let target = dir.join(name);
    match std::fs::symlink_metadata(&target) {
        Ok(m) if m.is_dir() => return Err(conflict("A directory has that name.")),
        Ok(_) if !overwrite => return Err(exists()),
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_error(&target, &e)),
    }
    let mut short = name.len().min(NAME_IN_TEMP);
    while !name.is_char_boundary(short) {
        short -= 1;
    }
    for _ in 0..8 {
        let temp = dir.join(format!(".{}.upload-{:016x}", &name[..short], random()));
        let opened = OpenOptions::new().write(true).create_new(true).open(&temp);
        match opened {
            Ok(file) => return Ok((file, Temp { temp, target })),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(io_error(&temp, &e)),
        }
    }
    log::error!("{}: no free temporary name", dir.display());
    Err(Response::error(500))
}

/// Moves a complete upload into place: atomically, and without replacing an existing file
/// unless `overwrite` (409 then). `Ok(true)` when a file was replaced.
pub fn commit(t: &Temp, overwrite: bool) -> Result<bool, Response> {
    let failed = |e: io::Error| match e.kind() {
        io::ErrorKind::AlreadyExists => exists(),
        _ if e.raw_os_error() == Some(libc::EISDIR) => conflict("A directory has that name."),
        _ => io_error(&t.target, &e),
    };
    if overwrite {
        let replaced = std::fs::symlink_metadata(&t.target).is_ok();
        std::fs::rename(&t.temp, &t.target).map_err(failed)?;
        return Ok(replaced);
    }
    match rename_noreplace(&t.temp, &t.target) {
        Ok(()) => Ok(false),
        // A file system without RENAME_NOREPLACE: a hard link refuses to replace too.
        Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS)) => {
            std::fs::hard_link(&t.temp, &t.target).map_err(failed)?;
            remove(&t.temp);
            Ok(false)
        }
        Err(e) => Err(failed(e)),
    }
}

/// Removes a file of ours, logging (only) a failure other than its being gone already.
pub fn remove(path: &Path) {
    if let Err(e) = std::fs::remove_file(path) {
        if e.kind() != io::ErrorKind::NotFound {
            log::error!("{}: cannot remove: {e}", path.display());
        }
    }
}

/// `renameat2(from, to, RENAME_NOREPLACE)`: fails with `AlreadyExists` when `to` exists.
fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    let c = |p: &Path| {
        CString::new(p.as_os_str().as_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in a path"))
    };
    let (from, to) = (c(from)?, c(to)?);
    // SAFETY: both are NUL-terminated strings that outlive the call; AT_FDCWD with
    // absolute paths (the root is canonical) reads no descriptor.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            from.as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// 64 unpredictable bits (std's per-process random hash keys, changed on each call).
fn random() -> u64 {
    let mut h = RandomState::new().build_hasher();
    h.write_u64(std::process::id().into());
    h.finish()
}

fn exists() -> Response {
    conflict("A file of that name exists already.")
}

fn conflict(detail: &str) -> Response {
    Response::error_with(409, detail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn scratch(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("upload-disk-{tag}-{}", random()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn commit_refuses_to_replace_unless_overwriting() {
        let dir = scratch("commit");
        let (mut f, t) = create(&dir, "a.txt", false).unwrap();
        assert!(t
            .temp
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with(".a.txt.upload-"));
        f.write_all(b"one").unwrap();
        assert!(!commit(&t, false).unwrap());
        assert_eq!(create(&dir, "a.txt", false).unwrap_err().status, 409);
        let (mut f, t2) = create(&dir, "a.txt", true).unwrap();
        f.write_all(b"two").unwrap();
        // Someone else's file appeared meanwhile: no overwrite, 409, the temp stays ours.
        let (_f, t3) = create(&dir, "b.txt", false).unwrap();
        std::fs::write(&t3.target, b"theirs").unwrap();
        assert_eq!(commit(&t3, false).unwrap_err().status, 409);
        assert_eq!(std::fs::read(&t3.target).unwrap(), b"theirs");
        remove(&t3.temp);
        assert!(commit(&t2, true).unwrap());
        assert_eq!(std::fs::read(dir.join("a.txt")).unwrap(), b"two");
        assert_eq!(
            create(&dir, "", false).unwrap_err().status,
            409,
            "the dir itself"
        );
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "no temporary file left: {names:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn long_names_get_short_temporary_names() {
        let dir = scratch("long");
        let name = "é".repeat(120); // 240 bytes
        let (_f, t) = create(&dir, &name, false).unwrap();
        assert!(t.temp.file_name().unwrap().len() < 100);
        remove(&t.temp);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
