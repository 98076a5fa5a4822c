//! The coordinator's side of the workers.
//!
//! [`Fleet::spawn`] re-executes this binary once per plan as
//! `loadtest worker --plan <json>`, keeps each child's stdin for commands and
//! reads each child's stdout on a thread of its own, funnelling parsed events
//! into one channel. [`Fleet::spawn_threads`] runs the same workers on threads
//! of this process instead (for library users such as tests, whose executable
//! is not this binary); their events reach the same channel. The scenario drives the fleet with [`Fleet::recv`] (every
//! wait has a deadline) and a few helpers built on it: the census barrier, the
//! wait for every listener to be parked, and the final stop that collects
//! reports and reaps (or, late, kills) the children it started.

use crate::msg::{Command, Event, Plan, Status, WorkerReport};
use crate::worker::{self, ThreadWorker};
use anyhow::{bail, Context, Result};
use indicatif::ProgressBar;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command as Process, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

/// How long workers get to send their final reports.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);
/// Pause between census rounds while waiting for listeners to park.
const CENSUS_PAUSE: Duration = Duration::from_millis(20);

/// A point in time after which the run gives up.
#[derive(Clone, Copy, Debug)]
pub struct Deadline(pub Instant);

impl Deadline {
    pub fn expired(&self) -> bool {
        Instant::now() >= self.0
    }
    /// The earlier of this deadline and `d` from now.
    pub fn within(&self, d: Duration) -> Instant {
        self.0.min(Instant::now() + d)
    }
}

/// How the coordinator reaches one worker.
enum Link {
    Process {
        child: Child,
        stdin: Option<ChildStdin>,
    },
    Thread(Option<ThreadWorker>),
}

impl Link {
    /// Delivers `cmd`; `false` if the worker can no longer be reached.
    fn send(&mut self, cmd: &Command) -> bool {
        match self {
            Link::Process { stdin, .. } => {
                let Some(s) = stdin else { return false };
                let line = format!("{}\n", cmd.encode());
                let ok = s
                    .write_all(line.as_bytes())
                    .and_then(|()| s.flush())
                    .is_ok();
                if !ok {
                    *stdin = None;
                }
                ok
            }
            Link::Thread(Some(t)) => t.commands.send(cmd.clone()).is_ok() && t.waker.wake().is_ok(),
            Link::Thread(None) => false,
        }
    }

    /// Ends the worker: waits up to `grace` for it to exit, then kills a
    /// process (a thread has been told to stop by its closed channel).
    fn reap(&mut self, grace: Duration) {
        match self {
            Link::Process { child, stdin } => {
                *stdin = None;
                let deadline = Instant::now() + grace;
                loop {
                    match child.try_wait() {
                        Ok(Some(_)) => break,
                        Ok(None) if Instant::now() < deadline => {
                            std::thread::sleep(Duration::from_millis(20))
                        }
                        _ => {
                            let _ = child.kill();
                            let _ = child.wait();
                            break;
                        }
                    }
                }
            }
            Link::Thread(t) => {
                if let Some(t) = t.take() {
                    drop(t.commands);
                    let _ = t.waker.wake();
                    let _ = t.handle.join();
                }
            }
        }
    }
}

pub struct Fleet {
    links: Vec<Link>,
    rx: Receiver<(usize, Option<Event>)>,
    /// Latest periodic census per worker.
    pub status: Vec<Status>,
    /// Final reports, once sent.
    pub reports: Vec<Option<WorkerReport>>,
    /// Workers whose stdout closed.
    pub exited: Vec<bool>,
    /// Listener connections per worker.
    pub listeners: Vec<u32>,
    pub error_samples: Vec<String>,
    census_seq: u64,
    pub progress: ProgressBar,
}

impl Fleet {
    fn empty(plans: &[Plan], progress: ProgressBar) -> (Fleet, Sender<(usize, Option<Event>)>) {
        let (tx, rx) = mpsc::channel();
        let fleet = Fleet {
            links: Vec::new(),
            rx,
            status: vec![Status::default(); plans.len()],
            reports: vec![None; plans.len()],
            exited: vec![false; plans.len()],
            listeners: plans.iter().map(|p| p.listeners).collect(),
            error_samples: Vec::new(),
            census_seq: 0,
            progress,
        };
        (fleet, tx)
    }

    /// One worker process per plan (this binary, re-executed).
    pub fn spawn(plans: &[Plan], progress: ProgressBar) -> Result<Fleet> {
        let exe = std::env::current_exe().context("finding this executable to start workers")?;
        let (mut fleet, tx) = Fleet::empty(plans, progress);
        for (w, plan) in plans.iter().enumerate() {
            let json = serde_json::to_string(plan).context("encoding a worker plan")?;
            let mut child = Process::new(&exe)
                .args(["worker", "--plan", &json])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .context("starting a worker process")?;
            let stdout = child.stdout.take().context("worker stdout")?;
            let stdin = child.stdin.take();
            fleet.links.push(Link::Process { child, stdin });
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if let Some(ev) = Event::parse(&line) {
                        if tx.send((w, Some(ev))).is_err() {
                            return;
                        }
                    }
                }
                let _ = tx.send((w, None));
            });
        }
        Ok(fleet)
    }

    /// One worker thread per plan, inside this process.
    pub fn spawn_threads(plans: &[Plan], progress: ProgressBar) -> Result<Fleet> {
        let (mut fleet, tx) = Fleet::empty(plans, progress);
        for (w, plan) in plans.iter().enumerate() {
            let t = worker::spawn_thread(plan.clone(), w, tx.clone())?;
            fleet.links.push(Link::Thread(Some(t)));
        }
        Ok(fleet)
    }

    pub fn workers(&self) -> usize {
        self.links.len()
    }

    /// Sends `cmd` to every live worker.
    pub fn broadcast(&mut self, cmd: &Command) -> Result<()> {
        for (w, link) in self.links.iter_mut().enumerate() {
            if !link.send(cmd) && self.reports[w].is_none() {
                bail!("worker {w} is gone");
            }
        }
        Ok(())
    }

    /// The next event worth the scenario's attention, or `None` at `until`.
    /// Status updates, error samples, reports and exits are absorbed here.
    pub fn recv(&mut self, until: Instant) -> Result<Option<(usize, Event)>> {
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok((w, Some(Event::Status(s)))) => self.status[w] = s,
                Ok((_, Some(Event::Error(e)))) => {
                    if self.error_samples.len() < 50 {
                        self.progress.suspend(|| eprintln!("error sample: {e}"));
                        self.error_samples.push(e);
                    }
                }
                Ok((w, Some(Event::Report(r)))) => self.reports[w] = Some(*r),
                Ok((w, None)) => {
                    self.exited[w] = true;
                    if self.reports[w].is_none() {
                        bail!("worker {w} exited unexpectedly (see its stderr above)");
                    }
                }
                Ok((w, Some(ev))) => return Ok(Some((w, ev))),
                Err(RecvTimeoutError::Timeout) => return Ok(None),
                Err(RecvTimeoutError::Disconnected) => bail!("all workers are gone"),
            }
        }
    }

    /// Sum of the latest periodic censuses.
    pub fn totals(&self) -> Status {
        let mut t = Status::default();
        for s in &self.status {
            if t.parked_by_server.len() < s.parked_by_server.len() {
                t.parked_by_server.resize(s.parked_by_server.len(), 0);
            }
            for (sum, p) in t.parked_by_server.iter_mut().zip(&s.parked_by_server) {
                *sum += p;
            }
            t.open += s.open;
            t.parked += s.parked;
            t.wakes += s.wakes;
            t.errors += s.errors;
            t.requests += s.requests;
        }
        t
    }

    /// A barrier: every command sent before has been applied by every worker.
    /// Returns the census each worker took then. Other events met meanwhile go to `on_event`.
    pub fn census(
        &mut self,
        until: Instant,
        on_event: &mut dyn FnMut(usize, Event),
    ) -> Result<Option<Vec<Status>>> {
        self.census_seq += 1;
        let seq = self.census_seq;
        self.broadcast(&Command::Census(seq))?;
        let mut got: Vec<Option<Status>> = vec![None; self.workers()];
        while got.iter().any(Option::is_none) {
            match self.recv(until)? {
                Some((w, Event::Census(n, s))) if n == seq => {
                    self.status[w] = s.clone();
                    got[w] = Some(s);
                }
                Some((_, Event::Census(..))) => {}
                Some((w, ev)) => on_event(w, ev),
                None => return Ok(None),
            }
        }
        Ok(Some(got.into_iter().flatten().collect()))
    }

    /// Waits until every worker reports all its listeners parked (and
    /// `open_per_worker` connections open). `false` at `until`.
    pub fn wait_parked(
        &mut self,
        until: Instant,
        open_per_worker: &[u32],
        on_event: &mut dyn FnMut(usize, Event),
    ) -> Result<bool> {
        loop {
            let Some(census) = self.census(until, on_event)? else {
                return Ok(false);
            };
            let done = census.iter().enumerate().all(|(w, s)| {
                s.parked >= u64::from(self.listeners[w]) && s.open >= u64::from(open_per_worker[w])
            });
            if done {
                return Ok(true);
            }
            let t = self.totals();
            self.progress.set_message(format!(
                "connecting: open {} parked {} errors {}",
                t.open, t.parked, t.errors
            ));
            // Pass events through while pausing, so wake-ups are not held back.
            let pause_until = Instant::now() + CENSUS_PAUSE;
            if pause_until >= until {
                return Ok(false);
            }
            while let Some((w, ev)) = self.recv(pause_until)? {
                on_event(w, ev);
            }
        }
    }

    /// Asks every worker to stop, collects the reports, reaps the children
    /// (killing any that do not exit in time). Missing reports are an error.
    pub fn stop(mut self) -> Result<Vec<WorkerReport>> {
        let _ = self.broadcast(&Command::Stop);
        let until = Instant::now() + STOP_TIMEOUT;
        while self.reports.iter().any(Option::is_none) && Instant::now() < until {
            match self.recv(until) {
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
        // Closing stdin (or the command channel) also tells a worker to stop.
        for link in &mut self.links {
            link.reap(Duration::from_secs(5));
        }
        let missing = self.reports.iter().filter(|r| r.is_none()).count();
        if missing > 0 {
            bail!("{missing} worker(s) sent no final report");
        }
        Ok(std::mem::take(&mut self.reports)
            .into_iter()
            .flatten()
            .collect())
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        // On an error path: make sure no worker outlives the coordinator.
        for link in &mut self.links {
            link.reap(Duration::ZERO);
        }
    }
}
