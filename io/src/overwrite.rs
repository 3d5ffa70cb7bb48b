//! Refusing to write over an input: `compress a.npy -o a.npy` would replace its own input.

use std::fs;
use std::path::Path;

use super::{IoError, display, split_spec};

/// Whether `a` and `b` name one existing file: the same canonical path, or (unix) the same
/// device and inode, which also catches hard links. `false` when either does not exist.
pub fn same_file(a: &Path, b: &Path) -> bool {
    let (Ok(ma), Ok(mb)) = (fs::metadata(a), fs::metadata(b)) else {
        return false;
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if (ma.dev(), ma.ino()) == (mb.dev(), mb.ino()) {
            return true;
        }
    }
    #[cfg(not(unix))]
    let _ = (ma, mb);
    matches!((fs::canonicalize(a), fs::canonicalize(b)), (Ok(x), Ok(y)) if x == y)
}

/// The file part of an input spec `FILE` or `FILE:INNER` (see [`split_spec`]).
pub fn spec_file(spec: &str) -> &Path {
    Path::new(split_spec(spec).0)
}

/// Refuses `output` when it is the same file as one of `inputs` (check every output before
/// writing it; inputs given as specs go through [`spec_file`] first).
pub fn refuse_overwriting_inputs(output: &Path, inputs: &[&Path]) -> Result<(), IoError> {
    match inputs.iter().find(|i| same_file(output, i)) {
        Some(input) => Err(IoError::OutputIsInput { file: display(output), input: display(input) }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_path_link_and_spec_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.npy");
        let b = dir.path().join("b.npy");
        fs::write(&a, b"input").unwrap();
        fs::write(&b, b"input").unwrap();
        let err = refuse_overwriting_inputs(&a, &[&b, &a]).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("{}: the output is the input file; refusing to overwrite it", a.display())
        );
        // same content, other file: fine; a file that does not exist yet: fine
        refuse_overwriting_inputs(&b, &[&a]).unwrap();
        refuse_overwriting_inputs(&dir.path().join("new.npy"), &[&a]).unwrap();
        // another spelling of the same path
        let dotted = dir.path().join(".").join("a.npy");
        assert!(refuse_overwriting_inputs(&dotted, &[&a]).is_err());
        // FILE:INNER
        assert_eq!(spec_file("run.npz:data"), Path::new("run.npz"));
        assert_eq!(spec_file("ev.root:tree:Muon_Px"), Path::new("ev.root"));
        let npz = dir.path().join("run.npz");
        fs::write(&npz, b"zip").unwrap();
        let spec = format!("{}:data", npz.display());
        assert!(refuse_overwriting_inputs(&npz, &[spec_file(&spec)]).is_err());
        #[cfg(unix)]
        {
            let hard = dir.path().join("hard.npy");
            fs::hard_link(&a, &hard).unwrap();
            let msg = refuse_overwriting_inputs(&hard, &[&a]).unwrap_err().to_string();
            assert!(msg.contains("hard.npy") && msg.contains("a.npy"), "{msg}");
            let sym = dir.path().join("sym.npy");
            std::os::unix::fs::symlink(&a, &sym).unwrap();
            assert!(refuse_overwriting_inputs(&sym, &[&a]).is_err());
            assert!(refuse_overwriting_inputs(&a, &[&sym]).is_err());
        }
        assert_eq!(fs::read(&a).unwrap(), b"input");
    }
}
