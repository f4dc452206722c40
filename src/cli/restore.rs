//! `imagelookup restore-store`: a backup of the embedded store (`serve --backup-dir`) made the
//! store of a data directory again, its revision moved on as etcd's `snapshot restore
//! --bump-revision` moves it, so that clients that saw later revisions list again.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use jiff::Timestamp;

use super::backup_names;
use crate::store::{self, EmbeddedStore};

/// Arguments of `restore-store`.
#[derive(Debug, clap::Args)]
pub struct RestoreArgs {
    /// The backup to restore (`store-<time>.redb` in `serve`'s --backup-dir), or the
    /// directory itself for its newest backup.
    #[arg(long, value_name = "FILE|DIR")]
    pub from: PathBuf,
    /// The data directory whose store (`<data-dir>/store`) the backup replaces.
    #[arg(long, env = "IMAGELOOKUP_DATA_DIR", default_value = ".data")]
    pub data_dir: PathBuf,
    /// How far the restored store's revision is moved past the backup's (or the replaced
    /// store's, when higher): more than the writes made after the backup (as Kubernetes
    /// restores etcd, 1,000,000,000 by default).
    #[arg(long, default_value_t = 1_000_000_000)]
    pub bump_revision: u64,
}

/// Restores, printing what was done. The backup is read whole before the data directory is
/// changed: a backup that cannot be restored leaves it as it was. Exit code 2 when the input is
/// at fault (the backup, a flag, a `serve` still running), 1 when the disk failed.
pub fn run(args: &RestoreArgs) -> ExitCode {
    let from = match backup_to_restore(&args.from) {
        Ok(from) => from,
        Err(error) => return super::fail_input(&error),
    };
    let backup = match EmbeddedStore::check_backup(&from) {
        Ok(backup) => backup,
        Err(error) => return refused(&error),
    };
    if let Err(error) = crate::dirs::create_dir_all(&args.data_dir) {
        return super::fail_input(&format!(
            "cannot create {}: {error}",
            args.data_dir.display()
        ));
    }
    let to = args.data_dir.join("store");
    let kept = match keep_replaced(&to, Timestamp::now()) {
        Ok(kept) => kept,
        Err(error) => return super::fail_input(&error),
    };
    match EmbeddedStore::restore_checked(&backup, &to, args.bump_revision) {
        Ok((revision, restored)) => super::print_stdout(&format!(
            "restored {} from {} (revision {revision}, now {restored}){}: start imagelookup \
             serve with --data-dir {}\n",
            to.display(),
            from.display(),
            kept.map_or(String::new(), |kept| format!(
                "; the store it replaced is kept as {} (remove it once the restored one serves)",
                kept.display()
            )),
            args.data_dir.display()
        )),
        Err(error) => {
            // Only while the store is still the file kept: a failure after the rename (the
            // directory's sync) leaves the kept name as the replaced store's only one.
            if let Some(kept) = kept.filter(|kept| same_file(kept, &to)) {
                let _ = std::fs::remove_file(kept);
            }
            refused(&error)
        }
    }
}

/// Says why the backup was not restored (the message names the file and what to do), with
/// exit code 2 when the operator's input is at fault and 1 when the disk is.
fn refused(error: &store::RestoreError) -> ExitCode {
    if error.is_input() {
        return super::fail_input(error);
    }
    eprintln!("error: {error}");
    ExitCode::from(1)
}

/// Whether `a` and `b` name one file (one inode of one device).
fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let id = |path: &Path| {
        std::fs::metadata(path)
            .map(|meta| (meta.dev(), meta.ino()))
            .ok()
    };
    id(a).is_some() && id(a) == id(b)
}

/// Keeps the store at `to`, if there is one, under a second name beside it (a hard link, so
/// the restore's rename over `to` leaves it whole): the writes made since the backup are in it
/// alone, and a restore of the wrong backup must not lose them. Returns that name.
fn keep_replaced(to: &Path, now: Timestamp) -> Result<Option<PathBuf>, String> {
    if !to.exists() {
        return Ok(None);
    }
    let base = backup_names::replaced_name(now);
    for attempt in 1..=100 {
        let name = match attempt {
            1 => base.clone(),
            n => format!("{base}-{n}"),
        };
        let kept = to.with_file_name(name);
        match std::fs::hard_link(to, &kept) {
            Ok(()) => return Ok(Some(kept)),
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(error) => {
                return Err(format!(
                    "cannot keep the store a restore replaces as {}: {error}; move {} away \
                     first to restore without keeping it",
                    kept.display(),
                    to.display()
                ))
            }
        }
    }
    Err(format!(
        "{} has 100 stores kept from restores this second: remove some",
        to.display()
    ))
}

/// The backup `from` names: itself, or the newest backup in it when it is a directory (a
/// container image without a shell cannot list the directory to choose).
fn backup_to_restore(from: &Path) -> Result<PathBuf, String> {
    if !from.is_dir() {
        return Ok(from.to_path_buf());
    }
    let names = backup_names::names_in(from)
        .map_err(|error| format!("cannot read {}: {error}", from.display()))?;
    match backup_names::newest(&names) {
        Some(name) => Ok(from.join(name)),
        None => Err(format!(
            "{} holds no backup (store-<UTC time>.redb): name the backup file to restore, or the \
             directory serve --backup-dir writes",
            from.display()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_restores_its_newest_backup_and_a_file_itself() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "store-20261201T010000Z.redb",
            "store-20261201T030000Z.redb",
            "store-20261201T040000Z.partial",
        ] {
            std::fs::write(dir.path().join(name), b"").unwrap();
        }
        let newest = dir.path().join("store-20261201T030000Z.redb");
        assert_eq!(backup_to_restore(dir.path()), Ok(newest.clone()));
        assert_eq!(backup_to_restore(&newest), Ok(newest));
        let missing = dir.path().join("absent.redb");
        assert_eq!(backup_to_restore(&missing), Ok(missing.clone()));
    }

    #[test]
    fn a_restore_keeps_the_store_it_replaces_under_a_name_of_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let to = dir.path().join("store");
        let now: Timestamp = "2026-12-01T05:00:00Z".parse().unwrap();
        assert_eq!(keep_replaced(&to, now), Ok(None), "nothing to keep");
        std::fs::write(&to, b"live").unwrap();
        let first = keep_replaced(&to, now).unwrap().unwrap();
        assert_eq!(first, dir.path().join("store.replaced-20261201T050000Z"));
        let second = keep_replaced(&to, now).unwrap().unwrap();
        assert_eq!(second, dir.path().join("store.replaced-20261201T050000Z-2"));
        // A rename over the store, as the restore's, leaves what was kept whole.
        std::fs::write(dir.path().join("new"), b"restored").unwrap();
        std::fs::rename(dir.path().join("new"), &to).unwrap();
        assert_eq!(std::fs::read(&first).unwrap(), b"live");
        assert_eq!(std::fs::read(&to).unwrap(), b"restored");
    }

    #[test]
    fn a_kept_store_is_known_apart_from_a_store_renamed_over_it() {
        let dir = tempfile::tempdir().unwrap();
        let (to, kept) = (dir.path().join("store"), dir.path().join("kept"));
        std::fs::write(&to, b"live").unwrap();
        std::fs::hard_link(&to, &kept).unwrap();
        assert!(same_file(&kept, &to), "still the store: the link may go");
        std::fs::write(dir.path().join("new"), b"restored").unwrap();
        std::fs::rename(dir.path().join("new"), &to).unwrap();
        assert!(
            !same_file(&kept, &to),
            "renamed over: the kept name is the only one"
        );
        assert!(!same_file(&dir.path().join("absent"), &to));
    }

    #[test]
    fn a_directory_without_backups_is_refused_with_what_to_name() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("store-20261201T040000Z.partial"), b"").unwrap();
        let error = backup_to_restore(dir.path()).unwrap_err();
        assert!(error.contains("holds no backup"), "{error}");
        assert!(error.contains("name the backup file"), "{error}");
    }
}
