//! A panic on any server thread is fatal to the process.
//!
//! The threads share work through channels, and a panic drops its thread's
//! half of that work mid-way (a reactor's parked polls and pending answers,
//! the writer's open batch, a query being answered), so no other thread can
//! tell what was lost. A server that cannot trust its own state stops loudly
//! and lets its supervisor restart it; a restart reloads everything from
//! storage. So the panic hook [`Fatal::install`] sets up, for a panic on any
//! thread:
//!
//! 1. marks the process not ready (the readiness probe answers 500 from
//!    then on),
//! 2. logs the panic with its thread's name, and
//! 3. wakes the main thread out of its signal wait, which then drains as
//!    for SIGTERM (the writer commits what is queued; an acknowledged write
//!    was committed before it was acknowledged) and returns [`Panicked`], so
//!    the process exits non-zero.
//!
//! Invariant: the hook is installed before the first server thread starts,
//! so no thread can panic unseen.
//!
//! Tests prove this with `--inject-panic`: [`tripwire`] panics the chosen
//! thread when it handles the config [`TRIPWIRE_DATA_ID`].

use crate::metrics::Metrics;
use signal_hook::iterator::{Handle, Signals};
use std::panic::PanicHookInfo;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

/// The process-wide record of a panic, and who to wake for it.
pub struct Fatal {
    metrics: Arc<Metrics>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The first thread that panicked.
    thread: Option<String>,
    /// Closes the main thread's signal iterator, ending its wait.
    wake: Option<Handle>,
}

/// What `server::run` returns after a panic: the process must exit non-zero.
#[derive(Debug, PartialEq, Eq)]
pub struct Panicked {
    /// The name of the first thread that panicked.
    pub thread: String,
}

impl std::fmt::Display for Panicked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "thread '{}' panicked (logged above); stopped after draining, with every \
             acknowledged write committed; restart the server (a supervisor should)",
            self.thread
        )
    }
}

impl std::error::Error for Panicked {}

impl Fatal {
    /// Installs the process's panic hook; call before any server thread
    /// starts. `metrics` carries the readiness the probe reports.
    pub fn install(metrics: Arc<Metrics>) -> Arc<Fatal> {
        let fatal = Arc::new(Fatal {
            metrics,
            state: Mutex::new(State::default()),
        });
        let hook = fatal.clone();
        std::panic::set_hook(Box::new(move |info| hook.on_panic(info)));
        fatal
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // The hook never panics while holding the lock; if it ever did, the
        // record is still the best there is.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn on_panic(&self, info: &PanicHookInfo<'_>) {
        self.metrics.set_ready(false);
        let current = std::thread::current();
        let thread = current.name().unwrap_or("<unnamed>").to_owned();
        let line = describe(&thread, info);
        if log::log_enabled!(log::Level::Error) {
            log::error!("{line}");
        } else {
            eprintln!("{line}");
        }
        let mut state = self.state();
        state.thread.get_or_insert(thread);
        if let Some(wake) = &state.wake {
            wake.close();
        }
    }

    /// Lets a panic end the main thread's wait on `signals`: from now on
    /// (and at once, if a thread has panicked already) the iterator's
    /// `forever()` ends.
    pub fn wake_on_panic(&self, signals: &Signals) {
        let mut state = self.state();
        let wake = signals.handle();
        if state.thread.is_some() {
            wake.close();
        }
        state.wake = Some(wake);
    }

    /// The first panic, if any thread has panicked.
    pub fn panicked(&self) -> Option<Panicked> {
        self.state()
            .thread
            .clone()
            .map(|thread| Panicked { thread })
    }
}

/// The log line for a panic: thread, place, message, and a backtrace when
/// `RUST_BACKTRACE` asks for one.
fn describe(thread: &str, info: &PanicHookInfo<'_>) -> String {
    let message = info
        .payload()
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| info.payload().downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)");
    let place = info
        .location()
        .map_or_else(|| "an unknown place".to_owned(), ToString::to_string);
    let backtrace = std::backtrace::Backtrace::capture();
    let backtrace = match backtrace.status() {
        std::backtrace::BacktraceStatus::Captured => format!("\n{backtrace}"),
        _ => String::new(),
    };
    format!(
        "thread '{thread}' panicked at {place}: {message}; the server is not ready \
         and stops, exiting non-zero{backtrace}"
    )
}

/// Threads `--inject-panic` can make panic (tests only).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum PanicSite {
    /// A reactor, on a GET of the tripwire config.
    Reactor,
    /// The writer (either store), on a publish of the tripwire config.
    Writer,
}

/// The data id whose request trips an injected panic.
pub const TRIPWIRE_DATA_ID: &str = "vigil.injected.panic";

static ARMED: OnceLock<PanicSite> = OnceLock::new();

/// Arms [`tripwire`] for `site` (from `--inject-panic`), once per process.
pub fn arm(site: Option<PanicSite>) {
    if let Some(site) = site {
        let _ = ARMED.set(site);
    }
}

/// Panics when armed for `site` and the request is for [`TRIPWIRE_DATA_ID`].
pub fn tripwire(site: PanicSite, data_id: &str) {
    if ARMED.get() == Some(&site) && data_id == TRIPWIRE_DATA_ID {
        panic!("panic injected on purpose (--inject-panic {site:?}) by a request for {data_id}");
    }
}
