//! Atomic output: write a temporary file beside the target, fsync it, rename it over the
//! target, fsync the directory. A writer killed mid-way leaves its temporary behind; the next
//! write of the same target removes it (Linux, see [`remove_stale_temps`]).

use std::ffi::{OsStr, OsString};
use std::fs::{self, File, OpenOptions};
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::{IoError, display};

/// Distinguishes temporary files of one process writing several outputs at once.
static SEQUENCE: AtomicU64 = AtomicU64::new(0);

/// Removes the temporary file when dropped, unless it was renamed into place.
struct TempFile {
    path: PathBuf,
    armed: bool,
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if self.armed {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// The directory `path` is in (`.` for a bare file name).
fn dir_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Removes `.NAME.tmp-PID-N` files (exactly our pattern, for this target `name`) in `dir`
/// whose writer is gone: a process killed mid-write cannot clean up after itself. Linux only,
/// where `/proc/PID` tells whether a process runs; elsewhere a dead writer cannot be told from
/// a live one, so nothing is removed.
#[cfg(target_os = "linux")]
fn remove_stale_temps(dir: &Path, name: &OsStr) {
    use std::os::unix::fs::MetadataExt;
    let me = std::process::id();
    // `/proc` must be this PID namespace's (not another's, mounted), and temporaries of other
    // users are left alone (`hidepid` may hide their processes).
    let ours = fs::read_link("/proc/self").is_ok_and(|p| p.as_os_str() == me.to_string().as_str());
    let (true, Ok(uid), Some(name), Ok(entries)) =
        (ours, fs::metadata("/proc/self").map(|m| m.uid()), name.to_str(), fs::read_dir(dir))
    else {
        return;
    };
    let prefix = format!(".{name}.tmp-");
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some((pid, seq)) =
            file_name.to_str().and_then(|f| f.strip_prefix(&prefix)).and_then(|r| r.split_once('-'))
        else {
            continue;
        };
        let Some(pid) = pid.parse::<u32>().ok().filter(|_| digits(pid) && digits(seq)) else {
            continue;
        };
        let dead = pid != 0 && pid != me && !Path::new("/proc").join(pid.to_string()).exists();
        // symlink_metadata: a link is never followed, nor removed
        let mine = fs::symlink_metadata(entry.path()).is_ok_and(|m| m.is_file() && m.uid() == uid);
        if dead && mine {
            let _ = fs::remove_file(entry.path());
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn remove_stale_temps(_dir: &Path, _name: &OsStr) {}

/// Creates an empty `.NAME.tmp-PID-N` beside `path`, removed again when dropped unless disarmed.
fn temp_beside(path: &Path) -> Result<TempFile, IoError> {
    let io_err = |err: std::io::Error| IoError::Io { file: display(path), err };
    let Some(name) = path.file_name() else {
        return Err(io_err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file name")));
    };
    let dir = dir_of(path);
    remove_stale_temps(dir, name);
    loop {
        let mut tmp_name = OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(".tmp-{}-{}", std::process::id(), SEQUENCE.fetch_add(1, Ordering::Relaxed)));
        let tmp_path = dir.join(tmp_name);
        match OpenOptions::new().write(true).create_new(true).open(&tmp_path) {
            Ok(_) => {
                return Ok(TempFile { path: tmp_path, armed: true });
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(io_err(std::io::Error::new(
                    e.kind(),
                    format!("cannot create a temporary file in '{}': {e}", dir.display()),
                )));
            }
        }
    }
}

/// Writes `path` atomically for writers that open the file themselves (C libraries such as
/// HDF5): `f` writes the temporary file at the path it is given, which is renamed over `path`
/// once `f` succeeded. On any error (or a panic in `f`) the temporary file is removed and `path`
/// is left as it was.
pub(crate) fn write_atomic_path(
    path: &Path,
    f: impl FnOnce(&Path) -> Result<(), IoError>,
) -> Result<(), IoError> {
    let io_err = |err: std::io::Error| IoError::Io { file: display(path), err };
    let mut tmp = temp_beside(path)?;
    f(&tmp.path)?;
    // On disk before it replaces the target: a crash must not leave an empty or partial file.
    File::open(&tmp.path).and_then(|t| t.sync_all()).map_err(io_err)?;
    fs::rename(&tmp.path, path).map_err(io_err)?;
    tmp.armed = false;
    sync_dir(dir_of(path)).map_err(io_err)
}

/// Makes the rename durable. Some file systems cannot sync a directory (EINVAL): nothing to do.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    if !cfg!(unix) {
        return Ok(());
    }
    match File::open(dir).and_then(|d| d.sync_all()) {
        Err(e) if matches!(e.kind(), std::io::ErrorKind::InvalidInput | std::io::ErrorKind::Unsupported) => {
            Ok(())
        }
        r => r,
    }
}

/// Writes `path` atomically: `f` writes into a temporary file `.NAME.tmp-PID-N` in the same
/// directory, which is renamed over `path` once `f` succeeded and everything is flushed.
/// On any error (or a panic in `f`) the temporary file is removed and `path` is left as it was.
pub fn write_atomic(
    path: &Path,
    f: impl FnOnce(&mut BufWriter<File>) -> std::io::Result<()>,
) -> Result<(), IoError> {
    let io_err = |err: std::io::Error| IoError::Io { file: display(path), err };
    write_atomic_path(path, |tmp| {
        let file = OpenOptions::new().write(true).truncate(true).open(tmp).map_err(io_err)?;
        let mut w = BufWriter::new(file);
        f(&mut w).map_err(io_err)?;
        w.into_inner().map_err(|e| io_err(e.into_error()))?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn entries(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn success_writes_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out.bin");
        write_atomic(&out, |w| w.write_all(b"hello")).unwrap();
        assert_eq!(fs::read(&out).unwrap(), b"hello");
        // overwrite
        write_atomic(&out, |w| w.write_all(b"bye")).unwrap();
        assert_eq!(fs::read(&out).unwrap(), b"bye");
        assert_eq!(entries(dir.path()), vec!["out.bin"]);
    }

    #[test]
    fn failing_closure_leaves_no_output_and_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out.npy");
        let err = write_atomic(&out, |w| {
            w.write_all(&[7u8; 100_000])?;
            Err(std::io::Error::other("boom"))
        })
        .unwrap_err();
        assert_eq!(err.to_string(), format!("{}: boom", out.display()));
        assert!(!out.exists());
        assert!(entries(dir.path()).is_empty(), "{:?}", entries(dir.path()));
    }

    #[test]
    fn failing_closure_keeps_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("keep.csv");
        fs::write(&out, b"old").unwrap();
        write_atomic(&out, |w| {
            w.write_all(b"new, half written")?;
            Err(std::io::Error::other("disk on fire"))
        })
        .unwrap_err();
        assert_eq!(fs::read(&out).unwrap(), b"old");
        assert_eq!(entries(dir.path()), vec!["keep.csv"]);
    }

    #[test]
    fn panicking_closure_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("panic.npz");
        let r = std::panic::catch_unwind(|| {
            let _ = write_atomic(&out, |w| {
                w.write_all(b"x")?;
                panic!("closure panicked");
            });
        });
        assert!(r.is_err());
        assert!(entries(dir.path()).is_empty(), "{:?}", entries(dir.path()));
    }

    #[test]
    fn stale_temporaries_of_dead_writers_are_removed_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out.npy");
        fs::write(&out, b"old").unwrap();
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let me = std::process::id();
        let mut live = std::process::Command::new("sleep").arg("60").spawn().unwrap();
        let stale = [format!(".out.npy.tmp-{dead}-0"), format!(".out.npy.tmp-{dead}-17")];
        let kept = [
            format!(".out.npy.tmp-{me}-999999"), // live writers: this process, another one
            format!(".out.npy.tmp-{}-0", live.id()),
            format!(".other.npy.tmp-{dead}-0"), // another target
            format!(".out.npy.tmp-{dead}-x"),
            format!(".out.npy.tmp-+{dead}-0"),
            format!(".out.npy.tmp-{dead}"),
            format!("out.npy.tmp-{dead}-0"),
            format!(".out.npy.tmp-{dead}-0.bak"),
            "notes.txt".to_string(),
        ];
        for name in stale.iter().chain(&kept) {
            fs::write(dir.path().join(name), b"x").unwrap();
        }
        // a directory and a symlink with the stale pattern are never removed
        let stale_dir = format!(".out.npy.tmp-{dead}-1");
        fs::create_dir(dir.path().join(&stale_dir)).unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink("notes.txt", dir.path().join(format!(".out.npy.tmp-{dead}-2"))).unwrap();

        write_atomic(&out, |w| w.write_all(b"new")).unwrap();
        let now = entries(dir.path());
        live.kill().unwrap();
        live.wait().unwrap();
        assert_eq!(fs::read(&out).unwrap(), b"new");
        for name in &kept {
            assert!(now.contains(name), "{name} was removed: {now:?}");
        }
        assert!(now.contains(&stale_dir), "{now:?}");
        for name in &stale {
            assert_eq!(now.contains(name), !cfg!(target_os = "linux"), "{name}: {now:?}");
        }
        assert_eq!(fs::read(dir.path().join("notes.txt")).unwrap(), b"x");
    }

    #[test]
    fn write_atomic_path_cleans_up_too() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("c.h5");
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let stale = dir.path().join(format!(".c.h5.tmp-{dead}-3"));
        fs::write(&stale, b"x").unwrap();
        write_atomic_path(&out, |tmp| {
            fs::write(tmp, b"h5").map_err(|err| IoError::Io { file: display(tmp), err })
        })
        .unwrap();
        assert_eq!(fs::read(&out).unwrap(), b"h5");
        assert_eq!(stale.exists(), !cfg!(target_os = "linux"));
    }

    #[test]
    fn missing_directory_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("no/such/dir/out.npy");
        let err = write_atomic(&out, |w| w.write_all(b"x")).unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with(&out.display().to_string()), "{msg}");
        assert!(msg.contains("cannot create a temporary file"), "{msg}");
    }
}
