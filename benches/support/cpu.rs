//! CPU time actually spent by this process's threads, by thread name, from
//! `/proc/self/task/<tid>/schedstat` (nanoseconds on a CPU). Unlike wall time it does not grow
//! when other work on a shared machine takes the cores away.

/// Nanoseconds on a CPU so far of every live thread whose name starts with `prefix`.
pub fn thread_cpu_ns(prefix: &str) -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .flatten()
        .filter(|task| {
            std::fs::read_to_string(task.path().join("comm"))
                .is_ok_and(|comm| comm.starts_with(prefix))
        })
        .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
        .filter_map(|stat| stat.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// Nanoseconds on a CPU of the server's threads: its serving runtime (named `serving` by the
/// suite) and the background runtime `serve` starts for the API, the importer and the feeds.
pub fn server_cpu_ns(serving: &str) -> u64 {
    thread_cpu_ns(serving) + thread_cpu_ns(imagelookup::server::BACKGROUND_THREAD_NAME)
}
