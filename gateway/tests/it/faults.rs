//! Dependencies the drills may break: a Redis server of the test's own, on
//! a random port, that it stops and starts; and a TCP proxy in front of a
//! shared server (PostgreSQL) that it cuts and restores. Drills never stop
//! the machine's shared services, which other tests are using.

use std::net::TcpListener as StdListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `redis-server` on a random port, without persistence: stopping it
/// loses its state, as a crashed Redis without AOF would.
pub struct PrivateRedis {
    pub port: u16,
    child: Option<Child>,
    /// It listens on this Unix socket too.
    socket: std::path::PathBuf,
    /// Further `redis-server` arguments, such as `--requirepass`.
    extra: Vec<String>,
}

impl PrivateRedis {
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    pub async fn start_with(extra: &[&str]) -> Self {
        let port = free_port();
        let mut r = Self {
            port,
            child: None,
            socket: std::env::temp_dir().join(format!("turnout-redis-{port}.sock")),
            extra: extra.iter().map(|a| a.to_string()).collect(),
        };
        r.resume().await;
        r
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn unix_url(&self) -> String {
        format!("redis+unix://{}", self.socket.display())
    }

    /// Kills the server (SIGKILL): connections drop, nothing is saved.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port and waits until it answers.
    pub async fn resume(&mut self) {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--unixsocket",
                &self.socket.display().to_string(),
            ])
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed (the machine's Redis package)");
        self.child = Some(child);
        for _ in 0..200 {
            if TcpStream::connect(("127.0.0.1", self.port)).await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("the private redis-server did not start on {}", self.port);
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_file(&self.socket);
    }
}

/// A TCP proxy to `target` that can be cut: while cut, every open
/// connection is closed and new ones are refused (accepted and dropped).
pub struct CuttableProxy {
    pub port: u16,
    cut: Arc<AtomicBool>,
    cuts: watch::Sender<u64>,
}

impl CuttableProxy {
    pub async fn start(target: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = Arc::new(AtomicBool::new(false));
        let (cuts, _) = watch::channel(0u64);
        let target = target.to_string();
        {
            let (cut, cuts) = (Arc::clone(&cut), cuts.clone());
            tokio::spawn(async move {
                loop {
                    let Ok((mut client, _)) = listener.accept().await else {
                        return;
                    };
                    if cut.load(Ordering::Acquire) {
                        drop(client);
                        continue;
                    }
                    let target = target.clone();
                    let mut cut_signal = cuts.subscribe();
                    tokio::spawn(async move {
                        let Ok(mut server) = TcpStream::connect(&target).await else {
                            return;
                        };
                        tokio::select! {
                            _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                            _ = cut_signal.changed() => {}
                        }
                    });
                }
            });
        }
        Self { port, cut, cuts }
    }

    pub fn cut(&self) {
        self.cut.store(true, Ordering::Release);
        self.cuts.send_modify(|n| *n += 1);
    }

    pub fn restore(&self) {
        self.cut.store(false, Ordering::Release);
    }
}
