//! The real `grantd` binary, driven the way an operator would: admin
//! commands on a data directory, `serve` on a loopback port, SIGTERM to stop.
//! Memory and CPU figures come from `/proc/<pid>`.

use anyhow::{bail, Context};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Variables besides `GRANTD_*` that would change what is measured.
const RUNTIME_VARS: [&str; 3] = ["RUST_LOG", "RUST_BACKTRACE", "TOKIO_WORKER_THREADS"];

/// The variables `grantd` never inherits from the harness: every `GRANTD_*`
/// one (the harness sets those it needs; a fixed list would miss the next
/// one added) and the runtime's.
fn inherited_vars_to_clear() -> Vec<std::ffi::OsString> {
    std::env::vars_os()
        .map(|(name, _)| name)
        .filter(|name| name.to_string_lossy().starts_with("GRANTD_"))
        .chain(RUNTIME_VARS.iter().map(Into::into))
        .collect()
}

/// How to run grantd: binary, data directory, keyring and catalog.
#[derive(Debug, Clone)]
pub struct Grantd {
    pub binary: PathBuf,
    pub data_dir: PathBuf,
    pub encryption_key: String,
    pub providers_file: PathBuf,
    /// `RUST_LOG` for `serve`; `None` keeps grantd's default filter.
    pub rust_log: Option<String>,
}

/// A project as `grantd project create --json` prints it.
#[derive(Debug, Clone)]
pub struct Project {
    pub name: String,
    pub api_key: String,
}

impl Grantd {
    /// The grantd binary next to this executable: both come from the same
    /// `cargo build --release -p grantd -p grantd-bench`.
    pub fn locate_binary(explicit: Option<&Path>) -> anyhow::Result<PathBuf> {
        let path = match explicit {
            Some(path) => path.to_path_buf(),
            None => std::env::current_exe()
                .context("finding this executable")?
                .parent()
                .context("this executable has no directory")?
                .join("grantd"),
        };
        if !path.is_file() {
            bail!(
                "no grantd binary at {}; build both with `cargo build --release -p grantd -p grantd-bench` \
                 and run target/release/grantd-bench (or pass --grantd PATH)",
                path.display()
            );
        }
        Ok(path)
    }

    /// `grantd keygen`: a fresh keyring spec for GRANTD_ENCRYPTION_KEY.
    pub fn keygen(binary: &Path) -> anyhow::Result<String> {
        let output = Command::new(binary)
            .arg("keygen")
            .output()
            .with_context(|| format!("running {} keygen", binary.display()))?;
        if !output.status.success() {
            bail!(
                "grantd keygen failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(String::from_utf8(output.stdout)
            .context("grantd keygen printed non-UTF-8")?
            .trim()
            .to_owned())
    }

    /// `grantd version` as printed by `--version`.
    pub fn version(&self) -> String {
        Command::new(&self.binary)
            .arg("--version")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .map(|s| s.trim().to_owned())
            .unwrap_or_else(|| "unknown".into())
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.binary);
        for var in inherited_vars_to_clear() {
            command.env_remove(var);
        }
        command
            .env("GRANTD_ENCRYPTION_KEY", &self.encryption_key)
            .env("GRANTD_PROVIDERS_FILE", &self.providers_file)
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(args);
        command
    }

    /// `grantd project create NAME --json`.
    pub fn create_project(&self, name: &str) -> anyhow::Result<Project> {
        std::fs::create_dir_all(&self.data_dir)
            .with_context(|| format!("creating {}", self.data_dir.display()))?;
        let output = self
            .command(&["project", "create", name, "--json"])
            .output()
            .context("running grantd project create")?;
        if !output.status.success() {
            bail!(
                "grantd project create {name} failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let created: Value = serde_json::from_slice(&output.stdout)
            .context("grantd project create printed something other than JSON")?;
        let api_key = created["apiKey"]
            .as_str()
            .context("grantd project create printed no apiKey")?
            .to_owned();
        Ok(Project {
            name: name.to_owned(),
            api_key,
        })
    }

    /// `grantd serve` on a free loopback port with `extra` flags, stderr to
    /// `log`; returns once /healthz answers 200, with the time that took.
    pub async fn serve(&self, extra: &[String], log: &Path) -> anyhow::Result<Server> {
        let port = free_port()?;
        let listen = format!("127.0.0.1:{port}");
        let mut args = vec!["serve", "--listen", listen.as_str()];
        args.extend(extra.iter().map(String::as_str));
        let log_file =
            std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let mut command = self.command(&args);
        if let Some(filter) = &self.rust_log {
            command.env("RUST_LOG", filter);
        }
        command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file);
        let spawned_at = Instant::now();
        let child = command.spawn().context("spawning grantd serve")?;
        let mut server = Server {
            pid: child.id(),
            child,
            base: format!("http://{listen}"),
            startup: Duration::ZERO,
            log: log.to_path_buf(),
        };
        // A fresh connection per probe: the first 200 is what an orchestrator sees.
        let probe = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .timeout(Duration::from_secs(2))
            .build()
            .context("building the health probe client")?;
        let url = format!("{}/healthz", server.base);
        let deadline = spawned_at + Duration::from_secs(120);
        loop {
            if let Ok(response) = probe.get(&url).send().await {
                if response.status().is_success() {
                    server.startup = spawned_at.elapsed();
                    return Ok(server);
                }
            }
            if let Some(status) = server.child.try_wait().context("polling grantd")? {
                bail!(
                    "grantd serve exited early ({status}): {}",
                    server.log_tail()
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "grantd did not answer /healthz within 120 s: {}",
                    server.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}

/// A free port on 127.0.0.1, found by binding port 0 and letting go.
pub fn free_port() -> anyhow::Result<u16> {
    let listener =
        std::net::TcpListener::bind("127.0.0.1:0").context("finding a free loopback port")?;
    Ok(listener.local_addr()?.port())
}

/// Resident memory of a process, from /proc/<pid>/status.
#[derive(Debug, Clone, Copy, Default)]
pub struct Memory {
    /// VmRSS, bytes.
    pub rss: u64,
    /// VmHWM (peak RSS), bytes.
    pub peak: u64,
}

pub fn memory(pid: u32) -> anyhow::Result<Memory> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let field = |name: &str| -> anyhow::Result<u64> {
        let line = status
            .lines()
            .find(|l| l.starts_with(name))
            .with_context(|| format!("{path} has no {name}"))?;
        let kb: u64 = line
            .split_whitespace()
            .nth(1)
            .and_then(|v| v.parse().ok())
            .with_context(|| format!("{path}: unreadable {line}"))?;
        Ok(kb * 1024)
    };
    Ok(Memory {
        rss: field("VmRSS:")?,
        peak: field("VmHWM:")?,
    })
}

/// User plus system CPU time a process has used so far.
pub fn cpu_time(pid: u32) -> anyhow::Result<Duration> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    // The command name may hold spaces; the fields after its closing paren do not.
    let after = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .with_context(|| format!("{path}: unexpected format"))?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of stat; `after` starts at field 3.
    let ticks = |i: usize| -> anyhow::Result<u64> {
        fields
            .get(i)
            .and_then(|v| v.parse().ok())
            .with_context(|| format!("{path}: field {} unreadable", i + 3))
    };
    let total = ticks(11)? + ticks(12)?;
    Ok(Duration::from_secs_f64(total as f64 / clock_ticks() as f64))
}

/// Context switches (voluntary and not) of all of a process's live threads:
/// a request that hops between threads pays for each hop in the kernel.
pub fn context_switches(pid: u32) -> anyhow::Result<u64> {
    let dir = format!("/proc/{pid}/task");
    let mut total = 0;
    for task in std::fs::read_dir(&dir).with_context(|| format!("listing {dir}"))? {
        let path = task
            .with_context(|| format!("listing {dir}"))?
            .path()
            .join("status");
        // A thread may exit between listing and reading.
        let Ok(status) = std::fs::read_to_string(&path) else {
            continue;
        };
        total += status
            .lines()
            .filter(|l| {
                l.starts_with("voluntary_ctxt_switches")
                    || l.starts_with("nonvoluntary_ctxt_switches")
            })
            .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            .sum::<u64>();
    }
    Ok(total)
}

/// CPU time all processes of the machine were busy (including steal), from
/// the first line of /proc/stat: what is left after grantd and this process
/// is other load on the machine.
pub fn machine_busy() -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string("/proc/stat").context("reading /proc/stat")?;
    let line = stat
        .lines()
        .next()
        .filter(|l| l.starts_with("cpu "))
        .context("/proc/stat has no cpu line")?;
    let ticks: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    // user nice system idle iowait irq softirq steal: all but idle and iowait.
    let busy: u64 = [0, 1, 2, 5, 6, 7]
        .iter()
        .filter_map(|&i| ticks.get(i))
        .sum();
    Ok(Duration::from_secs_f64(busy as f64 / clock_ticks() as f64))
}

/// The 1-minute load average, as a hint of other work on the machine.
pub fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// `getconf CLK_TCK`, which is 100 on every Linux this runs on in practice.
fn clock_ticks() -> u64 {
    static TICKS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100)
    })
}

/// A running `grantd serve`, killed if dropped while still running.
pub struct Server {
    child: Child,
    pub pid: u32,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    /// From spawn to the first 200 on /healthz.
    pub startup: Duration,
    log: PathBuf,
}

impl Server {
    pub fn memory(&self) -> anyhow::Result<Memory> {
        memory(self.pid)
    }

    pub fn cpu_time(&self) -> anyhow::Result<Duration> {
        cpu_time(self.pid)
    }

    /// The end of the server's log, for error messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// SIGTERM and wait for a clean exit (grantd drains in-flight requests).
    pub async fn stop(mut self) -> anyhow::Result<()> {
        let signalled = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()
            .context("running kill -TERM")?;
        if !signalled.success() {
            bail!("kill -TERM {} failed", self.pid);
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().context("waiting for grantd")? {
                if !status.success() {
                    bail!("grantd exited with {status}: {}", self.log_tail());
                }
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("grantd did not stop within 30 s of SIGTERM");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Which CPUs the processes of a scenario run on. The proxy phase gives
/// grantd a CPU of its own, apart from the load client and the upstream,
/// so that its throughput figure says whether grantd keeps up with them,
/// not how three programs share two cores.
#[derive(Debug, Clone)]
pub struct Pinning {
    /// CPUs of the bench process (load client and in-process upstream).
    pub bench: String,
    /// CPUs of grantd.
    pub grantd: String,
}

impl Pinning {
    /// The last CPU for grantd, the others for the bench; `None` on a
    /// machine with one CPU or without `taskset`.
    pub fn split() -> Option<Pinning> {
        let cpus = std::thread::available_parallelism().ok()?.get();
        if cpus < 2 || Command::new("taskset").arg("-V").output().is_err() {
            return None;
        }
        Some(Pinning {
            bench: format!("0-{}", cpus - 2),
            grantd: (cpus - 1).to_string(),
        })
    }

    /// Pins every thread of `pid` (threads started later inherit it).
    pub fn apply(cpus: &str, pid: u32) -> anyhow::Result<()> {
        let status = Command::new("taskset")
            .args(["-a", "-p", "-c", cpus, &pid.to_string()])
            .stdout(std::process::Stdio::null())
            .status()
            .context("running taskset")?;
        if !status.success() {
            bail!("taskset -a -p -c {cpus} {pid} failed");
        }
        Ok(())
    }

    /// Every CPU of the machine, to undo [`Pinning::apply`].
    pub fn all() -> String {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        format!("0-{}", cpus - 1)
    }
}
