//! Start-up and shutdown: open the store, load the cache, bind one
//! `SO_REUSEPORT` listener per reactor, start the writer, the reader and the
//! reactors, then wait for SIGTERM/SIGINT and drain.
//!
//! Order matters: the panic hook is installed before any thread starts
//! (see `fatal`), the cache is loaded before any port opens, and the
//! "listening" line is printed only once every reactor can serve.
//!
//! A panic on any thread ends the wait as a signal would: the same drain
//! runs, and `run` returns [`Panicked`], so the process exits non-zero.

use crate::fatal::{Fatal, Panicked};
use crate::metrics::Metrics;
use crate::msg::{Published, ReactorLink, ToReactor};
use crate::reactor::{bind_listener, Reactor};
use crate::settings::Settings;
use crate::store::Backend;
use anyhow::Context;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;

/// Console queries that may wait for the reader thread before 503.
const QUERY_QUEUE: usize = 1024;

/// Runs the server until a termination signal has been handled, or until
/// the drain after a panic on any thread (then the error is [`Panicked`]).
pub fn run(settings: Settings) -> anyhow::Result<()> {
    let settings = Arc::new(settings);
    let threads = settings.threads();
    let metrics = Arc::new(Metrics::new(threads));
    let fatal = Fatal::install(metrics.clone());
    crate::fatal::arm(settings.inject_panic);
    let addr = SocketAddr::new(settings.bind, settings.port);
    // Refused before anything is created: a second server on this port or
    // this data directory exits here, leaving no new files behind. (A
    // cluster node keeps nothing in a data directory.)
    crate::claim::check_port_free(addr)?;
    let grpc_addr = settings.grpc_addr()?;
    // Bad certificate files stop the start here, before anything is created.
    let tls = match (&settings.tls_cert, &settings.tls_key) {
        (Some(cert), Some(key)) => {
            Some(Arc::new(crate::tls::TlsSlot::load(crate::tls::TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
                client_ca: settings.tls_client_ca.clone(),
            })?))
        }
        _ => None,
    };
    if let Some(a) = grpc_addr.filter(|a| a.port() != 0) {
        crate::claim::check_port_free(a)?;
    }
    let _dir_lock = match settings.store {
        None => Some(crate::claim::lock_data_dir(&settings.data_dir)?),
        Some(_) => None,
    };
    let mut store = Backend::open(settings.store.as_deref(), &settings.data_dir, settings.sync)?;
    let location = store.describe();
    let entries = store.load_all()?;
    log::info!("loaded {} keys from {location}", entries.len());
    let auth = if settings.auth {
        store.ensure_admin(
            &settings.auth_admin_user,
            settings.auth_admin_password.as_deref(),
        )?;
        let keys = store.auth_keys(settings.auth_token_ttl_secs)?;
        Some((Arc::new(keys), Arc::new(store.auth_state()?)))
    } else {
        None
    };
    let reader = store.reader(auth.as_ref().map(|(k, _)| (**k).clone()))?;

    let first = bind_listener(addr).with_context(|| format!("cannot listen on {addr}"))?;
    let bound = first.local_addr()?;
    store.set_advertise(settings.advertise(bound));
    let mut listeners = vec![first];
    for _ in 1..threads {
        listeners.push(bind_listener(bound).with_context(|| format!("cannot listen on {bound}"))?);
    }
    // The gRPC door: one more SO_REUSEPORT listener per reactor.
    let mut grpc_listeners: Vec<Option<std::net::TcpListener>> = Vec::new();
    let mut grpc_bound = None;
    if let Some(a) = grpc_addr {
        let first = bind_listener(a).with_context(|| format!("cannot listen on {a} (gRPC)"))?;
        let b = first.local_addr()?;
        grpc_listeners.push(Some(first));
        for _ in 1..threads {
            let l = bind_listener(b).with_context(|| format!("cannot listen on {b} (gRPC)"))?;
            grpc_listeners.push(Some(l));
        }
        grpc_bound = Some(b);
    }
    grpc_listeners.resize_with(threads, || None);

    let max_conns = settings.max_connections();
    let (write_tx, write_rx) = crossbeam_channel::bounded(settings.write_queue.max(1));
    let (query_tx, query_rx) = crossbeam_channel::bounded(QUERY_QUEUE);
    let mut links = Vec::with_capacity(threads);
    let mut reactors = Vec::with_capacity(threads);
    for (id, (listener, grpc_listener)) in listeners.into_iter().zip(grpc_listeners).enumerate() {
        let (tx, rx) = crossbeam_channel::unbounded();
        let (reactor, waker) = Reactor::new(
            id,
            listener,
            grpc_listener,
            &entries,
            rx,
            write_tx.clone(),
            query_tx.clone(),
            settings.clone(),
            max_conns,
            metrics.clone(),
        )?;
        links.push(ReactorLink {
            tx,
            notify: Arc::new(move || {
                if let Err(e) = waker.wake() {
                    log::error!("cannot wake reactor {id}: {e}");
                }
            }),
        });
        reactors.push(reactor);
    }
    // From here on only reactors hold query senders, and only reactors and
    // the reader (which forwards checked imports) hold write senders: when
    // the reactors have exited the reader sees its channel close, and when
    // it has exited too, the writer sees its own close.
    let reader = reader.with_writer(write_tx.clone());
    drop(write_tx);
    drop(query_tx);
    drop(entries);

    // Change sequence numbers are watch-stream event ids: in a cluster the
    // shared log's numbers, alone the clock's (see Backend::loaded_seq).
    let published = Arc::new(Published::default());
    published.set(store.loaded_seq());
    // In a cluster, the other members answer listener queries as one more peer.
    let peer_auth = auth.as_ref().map(|(keys, _)| crate::cluster::PeerAuth {
        keys: (**keys).clone(),
        user: settings.auth_admin_user.clone(),
    });
    let mut peers = links.clone();
    peers.extend(crate::cluster::start(
        store.roster(),
        links.clone(),
        peer_auth,
    )?);
    for reactor in &mut reactors {
        reactor.set_peers(peers.clone());
        reactor.set_published(published.clone());
        if let Some(slot) = &tls {
            reactor.set_tls(slot.clone());
        }
        if let Some((keys, state)) = &auth {
            reactor.set_auth(keys.clone(), state.clone());
        }
    }
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGHUP,
    ])?;
    // A store that cannot go on stops the node as a signal would, and the
    // reason is returned from here.
    let stop = signals.handle();
    fatal.wake_on_panic(&signals);
    let writer_links = links.clone();
    let writer_metrics = metrics.clone();
    let retention = settings.history_retention_days;
    let writer = std::thread::Builder::new()
        .name("vigil-writer".into())
        .spawn(move || {
            let ended =
                store.run_writer(write_rx, writer_links, writer_metrics, published, retention);
            if ended.is_err() {
                stop.close();
            }
            ended
        })?;
    let reader_links = links.clone();
    let reader = std::thread::Builder::new()
        .name("vigil-reader".into())
        .spawn(move || reader.run(query_rx, reader_links))?;
    let mut handles = Vec::with_capacity(threads);
    for (id, reactor) in reactors.into_iter().enumerate() {
        handles.push(
            std::thread::Builder::new()
                .name(format!("vigil-reactor-{id}"))
                .spawn(move || reactor.run())?,
        );
    }

    // The gRPC line first: once the "listening" line is out, both are.
    match grpc_bound {
        Some(b) => println!("vigil gRPC listening on {b}"),
        None => log::info!("gRPC door off (--grpc-port 0)"),
    }
    println!("vigil listening on {bound}");
    if tls.is_some() {
        log::info!("TLS on the HTTP and gRPC ports (SIGHUP reloads the certificate and key)");
    }
    std::io::stdout().flush()?;
    log::info!("{threads} reactors, up to {max_conns} connections, data in {location}");

    // Ends on a signal, or without one when a thread panicked (the hook
    // has logged it and marked the process not ready) or the store cannot
    // go on (the writer returns why).
    // SIGHUP reloads the TLS files and waits on.
    let ended = signals.forever().find(|&sig| {
        if sig != signal_hook::consts::SIGHUP {
            return true;
        }
        match &tls {
            Some(slot) => match slot.reload() {
                Ok(()) => log::info!("SIGHUP: TLS certificate and key reloaded"),
                Err(e) => {
                    log::error!("SIGHUP: TLS reload refused, the old pair keeps serving: {e:#}")
                }
            },
            None => log::info!("SIGHUP: no TLS files to reload"),
        }
        false
    });
    match ended {
        Some(sig) => log::info!("signal {sig}: draining"),
        None if fatal.panicked().is_some() => log::error!("a thread panicked: draining"),
        None => log::error!("the store cannot go on: draining"),
    }
    metrics.set_ready(false);
    for link in &links {
        link.send(ToReactor::Shutdown);
    }
    let mut joined = Ok(());
    for h in handles {
        joined = joined.and(join(h));
    }
    drop(links);
    joined = joined.and(join(reader));
    let ended = join(writer);
    // The hook saw every panic, the first one first, even on threads
    // nobody joins (the PostgreSQL listener, the members thread).
    if let Some(panicked) = fatal.panicked() {
        return Err(panicked.into());
    }
    joined?;
    ended?.map_err(anyhow::Error::new)?;
    log::info!("stopped cleanly");
    Ok(())
}

/// Waits for a server thread to end.
fn join<T>(handle: std::thread::JoinHandle<T>) -> Result<T, Panicked> {
    let thread = handle.thread().name().unwrap_or("<unnamed>").to_owned();
    handle.join().map_err(|_| Panicked { thread })
}
