//! The gateway's listening sockets: where a new process meets the running one to take them
//! over (`serve --upgrade`), and how they accept. The upgrade socket's folder must be one only
//! the gateway's user can write, or anyone could hand a new process sockets of their own.
//! Connections are handed over only once their first bytes have arrived (`TCP_DEFER_ACCEPT`,
//! nginx's `deferred`): an old process that stops on SIGQUIT drops connections it accepted
//! whose request has not arrived yet, and a deferred accept leaves it none of those.

use std::os::fd::{AsRawFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Where `serve` and `serve --upgrade` meet to hand over the listening sockets: `[gateway]
/// upgrade_sock`, or `portcullis-upgrade-<port>.sock` in [`runtime_dir`]. Whoever can write
/// that folder can put a socket there that a new process would take for the old one's, so
/// the default is never a shared folder such as `/tmp`.
pub fn upgrade_socket(g: &crate::config::Gateway) -> Result<PathBuf, String> {
    match &g.upgrade_sock {
        Some(path) => Ok(path.clone()),
        None => Ok(runtime_dir()?.join(format!("portcullis-upgrade-{}.sock", g.listen.port()))),
    }
}

/// A folder for the gateway's sockets that only its user can write: systemd's
/// `$RUNTIME_DIRECTORY` (`RuntimeDirectory=portcullis`), else `$XDG_RUNTIME_DIR/portcullis`,
/// else `portcullis-<uid>` in the temporary folder. It is created with mode 0700 when
/// missing; one that exists must be a real folder of this user that no one else can write.
pub fn runtime_dir() -> Result<PathBuf, String> {
    use std::os::unix::fs::MetadataExt;
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(dir) = var("RUNTIME_DIRECTORY") {
        return private_dir(&dir);
    }
    if let Some(dir) = var("XDG_RUNTIME_DIR") {
        return private_dir(&dir.join("portcullis"));
    }
    let uid = std::fs::metadata("/proc/self").map(|m| m.uid()).map_err(|e| format!("cannot tell this user: {e}"))?;
    private_dir(&std::env::temp_dir().join(format!("portcullis-{uid}")))
}

/// `dir`, created 0700 if missing, or refused (naming it and the fix) when it is a link, not
/// owned by this process's user, or writable by others.
pub fn private_dir(dir: &Path) -> Result<PathBuf, String> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(format!("cannot create {}: {e}; set [gateway] upgrade_sock", dir.display())),
    }
    let me = std::fs::metadata("/proc/self").map(|m| m.uid()).map_err(|e| format!("cannot tell this user: {e}"))?;
    let meta = std::fs::symlink_metadata(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    let problem = if !meta.is_dir() {
        Some("it is not a folder (or is a symbolic link)")
    } else if meta.uid() != me {
        Some("another user owns it")
    } else if meta.mode() & 0o022 != 0 {
        Some("others can write to it")
    } else {
        None
    };
    match problem {
        Some(p) => Err(format!(
            "{} cannot hold the upgrade socket: {p}; remove it, or set [gateway] upgrade_sock to a path in a folder \
             only this user can write",
            dir.display()
        )),
        None => Ok(dir.to_path_buf()),
    }
}

/// Seconds the kernel holds a connection that has sent nothing before handing it over anyway.
const DEFER_ACCEPT_SECS: libc::c_int = 5;

/// Sets `TCP_DEFER_ACCEPT` on this process's listening TCP sockets bound to one of `ports`,
/// waiting up to `within` for them to exist (pingora binds them when its services start);
/// returns how many it set. The option lives on the socket, so a process that takes the
/// sockets over in an upgrade keeps it.
pub fn defer_accept(ports: &[u16], within: Duration) -> usize {
    let deadline = Instant::now() + within;
    loop {
        let set = listening_fds(ports).into_iter().filter(|&fd| set_defer_accept(fd)).count();
        if set >= ports.len() || Instant::now() >= deadline {
            return set;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The file descriptors of this process that are listening TCP sockets on one of `ports`.
fn listening_fds(ports: &[u16]) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc/self/fd") else { return Vec::new() };
    let mut fds = Vec::new();
    for entry in entries.flatten() {
        let Some(fd) = entry.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else { continue };
        let is_socket = std::fs::read_link(entry.path()).is_ok_and(|l| l.to_string_lossy().starts_with("socket:"));
        if !is_socket {
            continue;
        }
        // SAFETY: the descriptor was open a moment ago and is only borrowed for the calls
        // below; were it closed and reused meanwhile, the checks read another socket's state
        // and set nothing unless that one listens on our port too.
        let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
        let listening = getsockopt_int(borrowed, libc::SOL_SOCKET, libc::SO_ACCEPTCONN) == Some(1);
        let tcp = getsockopt_int(borrowed, libc::SOL_SOCKET, libc::SO_PROTOCOL) == Some(libc::IPPROTO_TCP);
        if listening && tcp && local_port(borrowed).is_some_and(|p| ports.contains(&p)) {
            fds.push(fd);
        }
    }
    fds
}

fn set_defer_accept(fd: i32) -> bool {
    let value: libc::c_int = DEFER_ACCEPT_SECS;
    // SAFETY: `value` outlives the call and its size is passed with it.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_DEFER_ACCEPT,
            (&raw const value).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    rc == 0
}

fn getsockopt_int(fd: BorrowedFd<'_>, level: libc::c_int, name: libc::c_int) -> Option<libc::c_int> {
    let mut value: libc::c_int = 0;
    let mut len = size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `value` and `len` outlive the call and `len` is `value`'s size.
    let rc = unsafe { libc::getsockopt(fd.as_raw_fd(), level, name, (&raw mut value).cast(), &raw mut len) };
    (rc == 0).then_some(value)
}

fn local_port(fd: BorrowedFd<'_>) -> Option<u16> {
    // SAFETY: a zeroed sockaddr_storage is a valid value, and it outlives the call with its size.
    let mut addr: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: as above; the kernel writes at most `len` bytes.
    let rc = unsafe { libc::getsockname(fd.as_raw_fd(), (&raw mut addr).cast(), &raw mut len) };
    if rc != 0 {
        return None;
    }
    match libc::c_int::from(addr.ss_family) {
        // SAFETY: the family says which layout the kernel wrote.
        libc::AF_INET => Some(u16::from_be(unsafe { *(&raw const addr).cast::<libc::sockaddr_in>() }.sin_port)),
        libc::AF_INET6 => Some(u16::from_be(unsafe { *(&raw const addr).cast::<libc::sockaddr_in6>() }.sin6_port)),
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::{defer_accept, getsockopt_int, private_dir};
    use std::os::fd::AsFd;
    use std::time::Duration;

    #[test]
    fn the_upgrade_socket_folder_is_private_or_refused() {
        use std::os::unix::fs::PermissionsExt;
        let base = std::env::temp_dir().join(format!("portcullis-private-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(&base).unwrap();
        let fresh = base.join("fresh");
        assert_eq!(private_dir(&fresh).unwrap(), fresh);
        assert_eq!(std::fs::metadata(&fresh).unwrap().permissions().mode() & 0o777, 0o700);
        let shared = base.join("shared");
        std::fs::create_dir(&shared).unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
        let err = private_dir(&shared).unwrap_err();
        assert!(err.contains("others can write") && err.contains("upgrade_sock"), "{err}");
        let link = base.join("link");
        std::os::unix::fs::symlink(&fresh, &link).unwrap();
        assert!(private_dir(&link).unwrap_err().contains("symbolic link"));
        let _ = std::fs::remove_dir_all(&base);
    }

    #[test]
    fn listening_sockets_on_the_ports_given_accept_only_once_data_has_arrived() {
        let ours = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let other = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = ours.local_addr().unwrap().port();
        assert_eq!(defer_accept(&[port], Duration::from_secs(1)), 1);
        let deferred = |l: &std::net::TcpListener| getsockopt_int(l.as_fd(), libc::IPPROTO_TCP, libc::TCP_DEFER_ACCEPT);
        assert!(deferred(&ours).is_some_and(|v| v > 0), "{:?}", deferred(&ours));
        assert_eq!(deferred(&other), Some(0), "a socket on another port was changed");
    }
}
