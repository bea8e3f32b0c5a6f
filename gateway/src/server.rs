//! The HTTP/1.1 listener, thread per core.
//!
//! Each worker is an OS thread running its own single-threaded tokio
//! runtime with its own listening socket (`SO_REUSEPORT`, so the kernel
//! spreads connections across workers) and its own upstream connection
//! pool. A request is read, checked, proxied and answered on one thread,
//! with no cross-thread wake-ups: on this path that halved the CPU the
//! kernel spends per request compared with tokio's work-stealing runtime.
//! What workers share (keys, limiter, usage) is lock-free or sharded.
//!
//! On shutdown each worker stops accepting and lets its in-flight requests
//! finish within the grace period.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::edge::Gateway;

pub struct Settings {
    pub header_read_timeout: Duration,
    pub grace: Duration,
}

/// Binds `workers` sockets on `addr` (the first picks the port when `addr`
/// has port 0) and returns them with the address they share.
pub fn bind(
    addr: SocketAddr,
    workers: usize,
) -> std::io::Result<(Vec<std::net::TcpListener>, SocketAddr)> {
    let mut listeners = Vec::with_capacity(workers);
    let mut bound = addr;
    for _ in 0..workers.max(1) {
        let socket = Socket::new(
            Domain::for_address(bound),
            Type::STREAM,
            Some(Protocol::TCP),
        )?;
        socket.set_reuse_address(true)?;
        socket.set_reuse_port(true)?;
        socket.set_nonblocking(true)?;
        socket.bind(&bound.into())?;
        socket.listen(4096)?;
        let listener: std::net::TcpListener = socket.into();
        bound = listener.local_addr()?;
        listeners.push(listener);
    }
    Ok((listeners, bound))
}

/// Starts one worker thread per listener; `gateway` makes each worker's
/// gateway on its own thread (so its upstream pool lives there).
pub fn spawn_workers(
    listeners: Vec<std::net::TcpListener>,
    gateway: impl Fn() -> Gateway + Send + Sync + 'static,
    settings: Settings,
    shutdown: watch::Receiver<bool>,
) -> std::io::Result<Vec<std::thread::JoinHandle<()>>> {
    let gateway = Arc::new(gateway);
    let settings = Arc::new(settings);
    listeners
        .into_iter()
        .enumerate()
        .map(|(i, listener)| {
            let (gateway, settings, shutdown) = (
                Arc::clone(&gateway),
                Arc::clone(&settings),
                shutdown.clone(),
            );
            std::thread::Builder::new()
                .name(format!("turnout-worker-{i}"))
                .spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("worker runtime");
                    runtime.block_on(async move {
                        let listener =
                            TcpListener::from_std(listener).expect("listener into tokio");
                        serve(listener, Arc::new(gateway()), &settings, shutdown).await;
                    });
                })
        })
        .collect()
}

async fn serve(
    listener: TcpListener,
    gateway: Arc<Gateway>,
    settings: &Settings,
    mut shutdown: watch::Receiver<bool>,
) {
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(settings.header_read_timeout)
        .keep_alive(true);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(pair) => pair,
                    Err(err) => {
                        // Out of file descriptors, typically: back off
                        // briefly rather than spin.
                        tracing::warn!(error = %err, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let gateway = Arc::clone(&gateway);
                let service = service_fn(move |req| {
                    let gateway = Arc::clone(&gateway);
                    async move { Ok::<_, Infallible>(gateway.handle(req, peer).await) }
                });
                let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
                tokio::spawn(async move {
                    if let Err(err) = connection.await {
                        tracing::debug!(error = %err, "connection ended with an error");
                    }
                });
            }
            _ = shutdown.changed() => break,
        }
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(settings.grace) => tracing::warn!("shutdown grace period over; closing remaining connections"),
    }
}
