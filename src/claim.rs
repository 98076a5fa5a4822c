//! One server per port and per data directory.
//!
//! `SO_REUSEPORT` lets every reactor bind the same port, and it would let a
//! second vigil bind it too and quietly take half the clients. So before
//! anything is created, the port is probed with a socket that does not set
//! `SO_REUSEPORT`: the kernel refuses it while any socket listens there. Then
//! the data directory is claimed with an exclusive lock on `vigil.lock`,
//! held for the life of the process (the kernel drops it however the process
//! ends), which records the holder's pid for the next one to name.

use anyhow::{bail, Context};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::net::SocketAddr;
use std::path::Path;

/// The lock file inside the data directory.
pub const LOCK_FILE: &str = "vigil.lock";

/// Fails, naming the holder where it can be found, when some socket already
/// listens on `addr`'s port. Port 0 (any free port) is never taken.
pub fn check_port_free(addr: SocketAddr) -> anyhow::Result<()> {
    use socket2::{Domain, Socket, Type};
    if addr.port() == 0 {
        return Ok(());
    }
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)
        .context("cannot create a socket")?;
    // SO_REUSEADDR lets the probe ignore connections lingering in
    // TIME_WAIT from an earlier run, but never a listening socket.
    socket
        .set_reuse_address(true)
        .context("cannot set SO_REUSEADDR")?;
    match socket.bind(&addr.into()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            let holder = port_holder(addr.port())
                .map(|h| format!(" by {h}"))
                .unwrap_or_default();
            bail!(
                "port {} is already in use{holder}: is another vigil running? (--port picks another)",
                addr.port()
            )
        }
        Err(e) => Err(e).with_context(|| format!("cannot listen on {addr}")),
    }
}

/// The claim on a data directory; dropping it releases the directory.
#[derive(Debug)]
pub struct DirLock {
    _file: File,
}

/// Creates the data directory if needed and locks it for this process.
pub fn lock_data_dir(dir: &Path) -> anyhow::Result<DirLock> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create data directory {}", dir.display()))?;
    let path = dir.join(LOCK_FILE);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            let by = if holder.is_empty() {
                String::new()
            } else {
                format!(" by vigil pid {holder}")
            };
            bail!(
                "data directory {} is already in use{by}: two servers must not share one (--data-dir picks another)",
                dir.display()
            )
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("cannot lock {}", path.display()))
        }
    }
    // Only the holder writes the file, so a reader sees a whole pid or none.
    file.set_len(0)
        .and_then(|_| file.rewind())
        .and_then(|_| writeln!(file, "{}", std::process::id()))
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(DirLock { _file: file })
}

/// "pid N (name)" of the process with a socket listening on `port`, read
/// from /proc; `None` where that cannot be told (another user's process,
/// no /proc).
fn port_holder(port: u16) -> Option<String> {
    let mut inodes = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            // sl local_address rem_address st ... inode (10th field)
            let (Some(local), Some(state), Some(inode)) = (f.get(1), f.get(3), f.get(9)) else {
                continue;
            };
            let listening = *state == "0A";
            let on_port = local
                .rsplit(':')
                .next()
                .and_then(|p| u16::from_str_radix(p, 16).ok())
                == Some(port);
            if listening && on_port {
                inodes.push(format!("socket:[{inode}]"));
            }
        }
    }
    if inodes.is_empty() {
        return None;
    }
    for proc_entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let name = proc_entry.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(proc_entry.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let Ok(target) = std::fs::read_link(fd.path()) else {
                continue;
            };
            if inodes.iter().any(|i| target.as_os_str() == i.as_str()) {
                let comm =
                    std::fs::read_to_string(proc_entry.path().join("comm")).unwrap_or_default();
                return Some(format!("pid {pid} ({})", comm.trim()));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_one_directory_is_refused_and_names_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let first = lock_data_dir(dir.path()).unwrap();
        let e = lock_data_dir(dir.path()).unwrap_err().to_string();
        assert!(e.contains("already in use"), "{e}");
        assert!(e.contains(&std::process::id().to_string()), "{e}");
        drop(first);
        lock_data_dir(dir.path()).unwrap();
    }

    #[test]
    fn a_listening_port_is_refused_with_its_holder() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let e = check_port_free(addr).unwrap_err().to_string();
        assert!(e.contains(&format!("port {}", addr.port())), "{e}");
        assert!(e.contains(&format!("pid {}", std::process::id())), "{e}");
        drop(l);
        check_port_free(addr).unwrap();
    }
}
