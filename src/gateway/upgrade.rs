//! Zero-downtime upgrade: the listening sockets pass from the running process to a new one.
//!
//! `portcullis serve --upgrade` listens on a private Unix socket and waits. SIGQUIT to the
//! running gateway makes it connect there and send every listening socket it has (one
//! `SCM_RIGHTS` message, with a line per socket naming its role and address); once the new
//! process says it holds them, the old one stops accepting, lets the requests in flight
//! finish, and exits. The sockets themselves never close, so no connection waiting to be
//! accepted is lost: whichever process accepts it answers it.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::time::Duration;

use sendfd::{RecvWithFd, SendWithFd};

/// The most sockets one handover carries (the kernel's limit per message is 253).
const MAX_SOCKETS: usize = 250;

/// How long the old process waits for the new one to take the sockets.
const ACK_WAIT: Duration = Duration::from_secs(10);

/// What a passed socket is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Gateway,
    Tls,
    Admin,
    Sample,
    Pdp,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::Gateway => "gateway",
            Role::Tls => "tls",
            Role::Admin => "admin",
            Role::Sample => "sample",
            Role::Pdp => "pdp",
        }
    }

    fn parse(name: &str) -> Option<Role> {
        [Role::Gateway, Role::Tls, Role::Admin, Role::Sample, Role::Pdp].into_iter().find(|r| r.name() == name)
    }
}

/// Why an upgrade handover failed.
#[derive(Debug, thiserror::Error)]
pub enum UpgradeError {
    #[error("cannot wait for the running gateway's sockets on {path}: {source}")]
    Listen { path: String, source: std::io::Error },
    #[error("receiving the listening sockets from the running gateway failed: {0}")]
    Receive(std::io::Error),
    #[error("the running gateway sent a handover this process cannot read: {0}")]
    Garbled(String),
    #[error("cannot hand the listening sockets to the new process at {path}: {source}")]
    Send { path: String, source: std::io::Error },
    #[error("too many listening sockets to hand over ({0}; at most {MAX_SOCKETS})")]
    TooMany(usize),
}

/// Sockets received from the running gateway, by role and address.
#[derive(Debug, Default)]
pub struct Inherited {
    sockets: Vec<(Role, SocketAddr, TcpListener)>,
}

impl Inherited {
    /// Takes every received socket for (`role`, `addr`).
    pub fn take(&mut self, role: Role, addr: SocketAddr) -> Vec<TcpListener> {
        let (taken, kept) =
            std::mem::take(&mut self.sockets).into_iter().partition(|(r, a, _)| *r == role && *a == addr);
        self.sockets = kept;
        taken.into_iter().map(|(_, _, l)| l).collect()
    }

    /// Sockets no listener of this process took (the config changed): closed.
    pub fn leftover(&self) -> Vec<String> {
        self.sockets.iter().map(|(r, a, _)| format!("{} {a}", r.name())).collect()
    }
}

/// Waits on `path` for the running gateway to send its sockets (after it gets SIGQUIT).
pub fn receive(path: &Path) -> Result<Inherited, UpgradeError> {
    let listen_error = |source| UpgradeError::Listen { path: path.display().to_string(), source };
    let _ = std::fs::remove_file(path);
    // Bound and listening under a name of its own first, then renamed: the path appears only
    // once a connect to it succeeds (between bind and listen, a SIGQUIT sent as soon as the
    // file exists would find it refusing and leave the old process serving).
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let staging = path.with_file_name(format!(".{name}.{}", std::process::id()));
    let _ = std::fs::remove_file(&staging);
    let listener = UnixListener::bind(&staging).map_err(listen_error)?;
    if let Err(source) = std::fs::rename(&staging, path) {
        let _ = std::fs::remove_file(&staging);
        return Err(listen_error(source));
    }
    let accepted = listener.accept().map_err(UpgradeError::Receive);
    let _ = std::fs::remove_file(path);
    let (stream, _) = accepted?;
    let mut text = vec![0u8; 64 * 1024];
    let mut fds: Vec<RawFd> = vec![-1; MAX_SOCKETS];
    let (n, count) = stream.recv_with_fd(&mut text, &mut fds).map_err(UpgradeError::Receive)?;
    // Own every received descriptor at once, so each is closed if it is not used.
    let received: Vec<TcpListener> = fds.iter().take(count).map(|&fd| unsafe_from_raw(fd)).collect();
    let text = String::from_utf8_lossy(text.get(..n).unwrap_or_default()).into_owned();
    let lines: Vec<&str> = text.lines().collect();
    if lines.len() != received.len() {
        return Err(UpgradeError::Garbled(format!("{} sockets for {} lines", received.len(), lines.len())));
    }
    let mut inherited = Inherited::default();
    for (line, socket) in lines.into_iter().zip(received) {
        let (role, addr) = line.split_once(' ').ok_or_else(|| UpgradeError::Garbled(line.into()))?;
        let role = Role::parse(role).ok_or_else(|| UpgradeError::Garbled(line.into()))?;
        let addr: SocketAddr = addr.parse().map_err(|_| UpgradeError::Garbled(line.into()))?;
        inherited.sockets.push((role, addr, socket));
    }
    // Tell the old process it can stop accepting.
    let mut stream = stream;
    let _ = stream.write_all(b"k");
    Ok(inherited)
}

/// A listener owning `fd`, a descriptor the kernel just passed to this process.
fn unsafe_from_raw(fd: RawFd) -> TcpListener {
    // SAFETY: `fd` was received in an SCM_RIGHTS message just now: it is open, and nothing
    // else in this process owns it.
    unsafe { TcpListener::from_raw_fd(fd) }
}

/// Sends `sockets` to the process waiting on `path`, and waits until it has them.
pub fn send(path: &Path, sockets: &[(Role, SocketAddr, &TcpListener)]) -> Result<(), UpgradeError> {
    if sockets.len() > MAX_SOCKETS {
        return Err(UpgradeError::TooMany(sockets.len()));
    }
    let send_error = |source| UpgradeError::Send { path: path.display().to_string(), source };
    let mut stream = UnixStream::connect(path).map_err(send_error)?;
    let text: String = sockets.iter().map(|(r, a, _)| format!("{} {a}\n", r.name())).collect();
    let fds: Vec<RawFd> = sockets.iter().map(|(_, _, l)| l.as_raw_fd()).collect();
    stream.send_with_fd(text.as_bytes(), &fds).map_err(send_error)?;
    stream.set_read_timeout(Some(ACK_WAIT)).map_err(send_error)?;
    let mut ack = [0u8; 1];
    stream.read_exact(&mut ack).map_err(send_error)?;
    Ok(())
}
