//! `imagelookup restore-store`: a backup of the embedded store (`serve --backup-dir`) made the
//! store of a data directory again, its revision moved on as etcd's `snapshot restore
//! --bump-revision` moves it, so that clients that saw later revisions list again.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::store::EmbeddedStore;

/// Arguments of `restore-store`.
#[derive(Debug, clap::Args)]
pub struct RestoreArgs {
    /// The backup to restore (`store-<time>.redb` in `serve`'s --backup-dir).
    #[arg(long, value_name = "FILE")]
    pub from: PathBuf,
    /// The data directory whose store (`<data-dir>/store`) the backup replaces.
    #[arg(long, env = "IMAGELOOKUP_DATA_DIR", default_value = ".data")]
    pub data_dir: PathBuf,
    /// How far the restored store's revision is moved past the backup's: more than the writes
    /// made after the backup (as Kubernetes restores etcd, 1,000,000,000 by default).
    #[arg(long, default_value_t = 1_000_000_000)]
    pub bump_revision: u64,
}

/// Restores, printing what was done; exit code 2 when the backup cannot be restored.
pub fn run(args: &RestoreArgs) -> ExitCode {
    if let Err(error) = crate::dirs::create_dir_all(&args.data_dir) {
        return super::fail_input(&format!(
            "cannot create {}: {error}",
            args.data_dir.display()
        ));
    }
    let to = args.data_dir.join("store");
    match EmbeddedStore::restore_file(&args.from, &to, args.bump_revision) {
        Ok((backup, restored)) => super::print_stdout(&format!(
            "restored {} from {} (revision {backup}, now {restored}): start imagelookup serve \
             with --data-dir {}\n",
            to.display(),
            args.from.display(),
            args.data_dir.display()
        )),
        Err(error) => {
            super::fail_input(&format!("cannot restore {}: {error}", args.from.display()))
        }
    }
}
