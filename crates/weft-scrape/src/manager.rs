//! The scrape manager: one pool per job, one loop per target, reloads and target status.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::{Mutex, RwLock};
use serde::Serialize;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use weft_core::labels::Labels;

use crate::client::build_client;
use crate::config::{JobConfig, ScrapeConfigFile};
use crate::discovery::{static_groups, FileSdState};
use crate::metrics::{SelfMetrics, SelfMetricsSnapshot};
use crate::scrape::{LoopParts, PoolShared, ScrapeLoop, TargetStatus};
use crate::sink::ScrapeSink;
use crate::target::{targets_from_groups, Target, TargetGroup};
use crate::ScrapeError;

/// Settings that are not part of the Prometheus config.
#[derive(Clone, Debug)]
pub struct ManagerOptions {
    /// Tenant every scrape is written to.
    pub tenant: String,
    /// How often file SD checks its files for changes (modification time and size).
    pub file_sd_poll: Duration,
    /// Mixed into each target's scrape offset; give HA replicas different seeds so they do
    /// not scrape in lockstep.
    pub offset_seed: u64,
}

impl Default for ManagerOptions {
    fn default() -> Self {
        Self {
            tenant: weft_core::DEFAULT_TENANT.to_string(),
            file_sd_poll: Duration::from_secs(1),
            offset_seed: 0,
        }
    }
}

/// Runs the scrape loops for a config and follows reloads and file SD changes.
pub struct ScrapeManager<S: ScrapeSink> {
    inner: Arc<Inner<S>>,
}

impl<S: ScrapeSink> Clone for ScrapeManager<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

struct Inner<S> {
    sink: Arc<S>,
    opts: ManagerOptions,
    tenant: Arc<str>,
    metrics: Arc<SelfMetrics>,
    shutdown: watch::Receiver<bool>,
    pools: Mutex<BTreeMap<String, Pool>>,
    /// Every spawned task, so [`ScrapeManager::stopped`] can wait for them.
    tasks: Mutex<Vec<JoinHandle<()>>>,
    /// Loops stopped but still waiting to write end-of-run stale markers, by (job, hash of
    /// the target's public labels). Kept here rather than per pool so a job removed and
    /// re-added is covered too.
    pending_stale: Mutex<HashMap<(String, u64), Arc<AtomicBool>>>,
}

/// One job's state.
struct Pool {
    job: Arc<JobConfig>,
    shared: Arc<RwLock<Arc<PoolShared>>>,
    /// Bumped on every config change so results of an old file SD task are ignored.
    generation: u64,
    /// Groups per provider (`static`, `file_sd/<i>`).
    groups: BTreeMap<String, Vec<TargetGroup>>,
    loops: HashMap<u64, LoopEntry>,
    dropped: Vec<Labels>,
    sd_tasks: Vec<JoinHandle<()>>,
}

struct LoopEntry {
    target: Arc<Target>,
    status: Arc<Mutex<TargetStatus>>,
    removed: watch::Sender<bool>,
    cancel_stale: Arc<AtomicBool>,
}

/// Targets as `/api/v1/targets` shows them.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetsSnapshot {
    pub active_targets: Vec<ActiveTarget>,
    pub dropped_targets: Vec<DroppedTarget>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActiveTarget {
    pub discovered_labels: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    pub scrape_pool: String,
    pub scrape_url: String,
    pub global_url: String,
    pub last_error: String,
    /// RFC 3339; `0001-01-01T00:00:00Z` before the first scrape, as Prometheus shows it.
    pub last_scrape: String,
    /// Seconds.
    pub last_scrape_duration: f64,
    /// `up`, `down` or `unknown`.
    pub health: &'static str,
    pub scrape_interval: String,
    pub scrape_timeout: String,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DroppedTarget {
    pub discovered_labels: BTreeMap<String, String>,
    pub scrape_pool: String,
}

fn label_map(l: &Labels) -> BTreeMap<String, String> {
    l.iter()
        .map(|l| (l.name.clone(), l.value.clone()))
        .collect()
}

impl<S: ScrapeSink> ScrapeManager<S> {
    /// Validates `cfg` and starts scraping. Must be called inside a tokio runtime. Setting
    /// `shutdown` to true stops every loop without stale markers (a restart is not a
    /// disappearance); await [`ScrapeManager::stopped`] afterwards before closing the sink.
    /// Dropping the sender counts as shutdown too, so keep it alive while scraping.
    pub fn start(
        cfg: &ScrapeConfigFile,
        sink: Arc<S>,
        shutdown: watch::Receiver<bool>,
        opts: ManagerOptions,
    ) -> Result<Self, ScrapeError> {
        let mgr = Self {
            inner: Arc::new(Inner {
                sink,
                tenant: Arc::from(opts.tenant.as_str()),
                opts,
                metrics: Arc::new(SelfMetrics::default()),
                shutdown,
                pools: Mutex::new(BTreeMap::new()),
                tasks: Mutex::new(Vec::new()),
                pending_stale: Mutex::new(HashMap::new()),
            }),
        };
        mgr.apply_config(cfg)?;
        Ok(mgr)
    }

    /// Applies a new config: unchanged jobs are untouched; changed jobs keep the loops of
    /// targets that are still the same (they pick up the new settings on their next scrape);
    /// removed targets and jobs get stale markers; new ones start. On error nothing changes.
    pub fn apply_config(&self, cfg: &ScrapeConfigFile) -> Result<(), ScrapeError> {
        let jobs = cfg.jobs()?;
        // Build every client first, so a bad TLS file fails the reload as a whole.
        let mut prepared = Vec::with_capacity(jobs.len());
        for job in jobs {
            let client = build_client(&job)?;
            prepared.push((Arc::new(job), client));
        }
        let mut pools = self.inner.pools.lock();
        let wanted: Vec<&str> = prepared.iter().map(|(j, _)| j.job_name.as_str()).collect();
        let gone: Vec<String> = pools
            .keys()
            .filter(|k| !wanted.contains(&k.as_str()))
            .cloned()
            .collect();
        for name in gone {
            if let Some(mut pool) = pools.remove(&name) {
                self.inner.stop_pool(&mut pool);
            }
        }
        for (job, client) in prepared {
            let name = job.job_name.clone();
            let shared = Arc::new(PoolShared {
                job: job.clone(),
                client,
            });
            match pools.get_mut(&name) {
                Some(pool) if pool.job.same_as(&job) => {}
                Some(pool) => {
                    for t in pool.sd_tasks.drain(..) {
                        t.abort();
                    }
                    pool.generation += 1;
                    pool.job = job;
                    *pool.shared.write() = shared;
                    pool.groups.clear();
                    self.inner.start_discovery(pool);
                    self.inner.sync(pool);
                }
                None => {
                    let mut pool = Pool {
                        job,
                        shared: Arc::new(RwLock::new(shared)),
                        generation: 0,
                        groups: BTreeMap::new(),
                        loops: HashMap::new(),
                        dropped: Vec::new(),
                        sd_tasks: Vec::new(),
                    };
                    self.inner.start_discovery(&mut pool);
                    self.inner.sync(&mut pool);
                    pools.insert(name, pool);
                }
            }
        }
        Ok(())
    }

    /// Active and dropped targets of every pool, sorted by pool then URL.
    pub fn targets(&self) -> TargetsSnapshot {
        let pools = self.inner.pools.lock();
        let mut snap = TargetsSnapshot::default();
        for (name, pool) in pools.iter() {
            let mut active: Vec<ActiveTarget> = pool
                .loops
                .values()
                .map(|e| active_target(name, e))
                .collect();
            active.sort_by(|a, b| a.scrape_url.cmp(&b.scrape_url));
            snap.active_targets.extend(active);
            snap.dropped_targets
                .extend(pool.dropped.iter().map(|d| DroppedTarget {
                    discovered_labels: label_map(d),
                    scrape_pool: name.clone(),
                }));
        }
        snap
    }

    /// The subsystem's own counters.
    pub fn metrics(&self) -> SelfMetricsSnapshot {
        let (active, dropped) = {
            let pools = self.inner.pools.lock();
            pools.values().fold((0u64, 0u64), |(a, d), p| {
                (a + p.loops.len() as u64, d + p.dropped.len() as u64)
            })
        };
        self.inner.metrics.snapshot(active, dropped)
    }

    /// Waits for every loop and discovery task to finish; call after signalling shutdown.
    pub async fn stopped(&self) {
        {
            // Discovery tasks never end by themselves.
            let pools = self.inner.pools.lock();
            for p in pools.values() {
                for t in &p.sd_tasks {
                    t.abort();
                }
            }
        }
        let tasks: Vec<JoinHandle<()>> = std::mem::take(&mut *self.inner.tasks.lock());
        for t in tasks {
            let _ = t.await;
        }
    }
}

fn active_target(pool: &str, e: &LoopEntry) -> ActiveTarget {
    let st = e.status.lock().clone();
    let labels = e
        .target
        .public_labels()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let last_scrape = match st.last_scrape {
        Some(t) => humantime::format_rfc3339_millis(t).to_string(),
        None => "0001-01-01T00:00:00Z".to_string(),
    };
    ActiveTarget {
        discovered_labels: label_map(&e.target.discovered),
        labels,
        scrape_pool: pool.to_string(),
        scrape_url: e.target.url.clone(),
        global_url: e.target.url.clone(),
        last_error: st.last_error,
        last_scrape,
        last_scrape_duration: st.last_scrape_duration.as_secs_f64(),
        health: st.health.as_str(),
        scrape_interval: crate::config::PromDuration(e.target.interval.as_millis() as i64)
            .to_string(),
        scrape_timeout: crate::config::PromDuration(e.target.timeout.as_millis() as i64)
            .to_string(),
    }
}

impl<S: ScrapeSink> Inner<S> {
    /// Stops a removed job: discovery ends, every loop stops as removed (stale markers follow).
    fn stop_pool(&self, pool: &mut Pool) {
        for t in pool.sd_tasks.drain(..) {
            t.abort();
        }
        let loops: Vec<LoopEntry> = pool.loops.drain().map(|(_, e)| e).collect();
        self.stop_loops(&pool.job.job_name, loops);
    }

    /// Tells loops their target is gone and remembers them until their stale markers are out.
    fn stop_loops(&self, job: &str, loops: Vec<LoopEntry>) {
        let mut pending = self.pending_stale.lock();
        // A flag only the map still holds belongs to a loop that has finished.
        pending.retain(|_, f| Arc::strong_count(f) > 1);
        for e in loops {
            let _ = e.removed.send(true);
            let key = (job.to_string(), e.target.series_key());
            pending.insert(key, e.cancel_stale.clone());
        }
    }

    /// Installs static groups, reads file SD once synchronously (so a reload does not see an
    /// empty target set in between) and starts the file SD pollers.
    fn start_discovery(self: &Arc<Self>, pool: &mut Pool) {
        pool.groups
            .insert("static".to_string(), static_groups(&pool.job));
        for (i, sd) in pool.job.file_sd.iter().enumerate() {
            let key = format!("file_sd/{i}");
            let mut state = FileSdState::new(sd.clone());
            let first = state.refresh();
            self.report_file_errors(&pool.job.job_name, &first.errors);
            pool.groups
                .insert(key.clone(), first.changed.unwrap_or_default());
            let task = tokio::spawn(file_sd_task(
                Arc::downgrade(self),
                pool.job.job_name.clone(),
                pool.generation,
                key,
                state,
                self.opts.file_sd_poll,
            ));
            pool.sd_tasks.push(task);
        }
    }

    fn report_file_errors(&self, job: &str, errors: &[String]) {
        for e in errors {
            tracing::warn!(job, error = %e, "file SD: cannot read file; keeping its previous targets");
        }
        self.metrics.file_sd_errors(errors.len() as u64);
    }

    /// A file SD provider's groups changed.
    fn update_groups(
        self: &Arc<Self>,
        job: &str,
        generation: u64,
        key: &str,
        groups: Vec<TargetGroup>,
    ) {
        let mut pools = self.pools.lock();
        let Some(pool) = pools.get_mut(job) else {
            return;
        };
        if pool.generation != generation {
            return;
        }
        pool.groups.insert(key.to_string(), groups);
        self.sync(pool);
    }

    /// Recomputes a pool's targets and starts/stops loops to match.
    fn sync(self: &Arc<Self>, pool: &mut Pool) {
        let (targets, dropped, errors) =
            targets_from_groups(&pool.job, pool.groups.values().flatten());
        for e in &errors {
            tracing::warn!(job = %pool.job.job_name, error = %e, "creating target failed");
        }
        self.metrics.sync_failures(errors.len() as u64);
        pool.dropped = dropped;
        let mut old = std::mem::take(&mut pool.loops);
        let mut keep = HashMap::with_capacity(targets.len());
        let mut fresh = Vec::new();
        for t in targets {
            match old.remove(&t.hash) {
                Some(mut e) => {
                    // Same labels and URL, but the discovered labels (e.g. `__meta_*`) may
                    // differ; show the current ones.
                    e.target = Arc::new(t);
                    keep.insert(e.target.hash, e);
                }
                None => fresh.push(t),
            }
        }
        // Stop first, so a new loop taking over a stopped one's series can cancel its
        // end-of-run stale markers.
        self.stop_loops(&pool.job.job_name, old.into_values().collect());
        for t in fresh {
            let hash = t.hash;
            let e = self.spawn_loop(pool, t);
            keep.insert(hash, e);
        }
        pool.loops = keep;
        self.tasks.lock().retain(|t| !t.is_finished());
    }

    fn spawn_loop(self: &Arc<Self>, pool: &mut Pool, target: Target) -> LoopEntry {
        // A stopped loop whose series this one takes over (the same target come back, or
        // moved to another interval/path/scheme with the same public labels) must not write
        // end-of-run stale markers: they would land among this loop's samples.
        let key = (pool.job.job_name.clone(), target.series_key());
        if let Some(flag) = self.pending_stale.lock().remove(&key) {
            flag.store(true, Ordering::Release);
        }
        let target = Arc::new(target);
        let status = Arc::new(Mutex::new(TargetStatus::default()));
        let (removed_tx, removed_rx) = watch::channel(false);
        let cancel_stale = Arc::new(AtomicBool::new(false));
        let parts = LoopParts {
            target: target.clone(),
            shared: pool.shared.clone(),
            sink: self.sink.clone(),
            tenant: self.tenant.clone(),
            metrics: self.metrics.clone(),
            status: status.clone(),
            removed: removed_rx,
            shutdown: self.shutdown.clone(),
            cancel_stale: cancel_stale.clone(),
            offset_seed: self.opts.offset_seed,
        };
        let handle = tokio::spawn(ScrapeLoop::new(parts).run());
        self.tasks.lock().push(handle);
        LoopEntry {
            target,
            status,
            removed: removed_tx,
            cancel_stale,
        }
    }
}

/// Polls one file SD config and pushes changed groups to the manager.
async fn file_sd_task<S: ScrapeSink>(
    inner: Weak<Inner<S>>,
    job: String,
    generation: u64,
    key: String,
    mut state: FileSdState,
    poll: Duration,
) {
    let mut tick = tokio::time::interval(poll);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    tick.tick().await;
    loop {
        let shutdown = {
            let Some(inner) = inner.upgrade() else { return };
            let mut rx = inner.shutdown.clone();
            drop(inner);
            async move {
                let _ = rx.wait_for(|v| *v).await;
            }
        };
        tokio::select! {
            _ = shutdown => return,
            _ = tick.tick() => {}
        }
        // File reads block; keep them off the async workers.
        let refreshed = tokio::task::spawn_blocking(move || {
            let r = state.refresh();
            (state, r)
        })
        .await;
        let Ok((s, r)) = refreshed else { return };
        state = s;
        let Some(inner) = inner.upgrade() else { return };
        inner.report_file_errors(&job, &r.errors);
        if let Some(groups) = r.changed {
            inner.update_groups(&job, generation, &key, groups);
        }
    }
}
