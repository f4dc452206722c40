//! Creating the directories `serve` writes into, with an error that names what is in the way.
//!
//! `std::fs::create_dir_all` answers a regular file where a directory should be with a bare
//! `File exists (os error 17)` or `Not a directory (os error 20)`, which name neither the file
//! nor the problem.

use std::io;
use std::path::{Path, PathBuf};

/// Creates `dir` and its missing parents; a file where one of them should be is named.
pub fn create_dir_all(dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir).map_err(|error| {
        let blocked = matches!(
            error.kind(),
            io::ErrorKind::AlreadyExists | io::ErrorKind::NotADirectory
        );
        match in_the_way(dir).filter(|_| blocked) {
            Some(file) => io::Error::new(
                error.kind(),
                format!(
                    "{} is a file, not a directory: move it away or choose another path",
                    file.display()
                ),
            ),
            None => error,
        }
    })
}

/// The nearest of `dir` and its ancestors that exists and is not a directory.
fn in_the_way(dir: &Path) -> Option<PathBuf> {
    dir.ancestors()
        .find(|path| path.exists())
        .filter(|path| !path.is_dir())
        .map(Path::to_path_buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_in_the_way_is_named_and_a_free_path_is_created() {
        let root = tempfile::tempdir().unwrap();
        let file = root.path().join("file");
        std::fs::write(&file, "").unwrap();
        let check = |dir: PathBuf| {
            let error = create_dir_all(&dir).unwrap_err().to_string();
            let expected = format!("{} is a file, not a directory", file.display());
            assert!(error.starts_with(&expected), "{}: {error}", dir.display());
        };
        check(file.clone());
        check(file.join("store"));
        check(file.join("a/b"));
        let free = root.path().join("a/b");
        create_dir_all(&free).unwrap();
        assert!(free.is_dir());
    }
}
